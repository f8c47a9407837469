import { createMethodMiddlewareDecorator } from 'type-graphql';
import type { Action, SubjectType } from '../auth/ability.factory';
import type { GraphQLContext } from './context';

/**
 * Declares an operation's permission; the check runs before the resolver body, in one place.
 * `workspaceOf` names the workspace the operation touches, taken from its arguments.
 */
export function Allow(action: Action, type: SubjectType, workspaceOf?: (args: Record<string, unknown>) => unknown) {
  return createMethodMiddlewareDecorator<GraphQLContext>(async ({ context, args }, next) => {
    const workspaceId = workspaceOf?.(args);
    await context.auth.authorize(action, type, typeof workspaceId === 'string' ? workspaceId : undefined);
    return next();
  });
}

/** The common case: the workspace is the `workspaceId` argument. */
export const byWorkspaceIdArg = (args: Record<string, unknown>) => args.workspaceId;
