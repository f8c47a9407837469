import type { RequestContext } from '../request-context';
import type { AppServices } from '../services';

/** Built once per request: the request context plus the services resolvers delegate to. */
export interface GraphQLContext extends RequestContext {
  services: AppServices;
}
