import type { Logger } from 'pino';
import type { AuthContext } from './auth/auth-context';
import type { RequestLoaders } from './modules/workspace/workspace.loaders';

/** What every service method receives first: who is calling, this request's loaders and logger. */
export interface RequestContext {
  requestId: string;
  auth: AuthContext;
  loaders: RequestLoaders;
  log: Logger;
}
