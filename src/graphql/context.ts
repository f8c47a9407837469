import type { Logger } from 'pino';
import type { AuthContext } from '../auth/auth-context';
import type { RequestContext } from '../request-context';

/** Built once per request; the services resolvers delegate to are their constructors'. */
export type GraphQLContext = RequestContext;

/**
 * The context of one GraphQL request. Its logger is made on first use, through a getter on the
 * prototype: Apollo copies the context's own properties, which would make it on every request.
 */
export class RequestGraphQLContext implements GraphQLContext {
  constructor(
    readonly requestId: string,
    private readonly logOf: () => Logger,
    readonly auth: AuthContext,
    readonly loaders: RequestContext['loaders'],
  ) {}

  get log(): Logger {
    return this.logOf();
  }
}
