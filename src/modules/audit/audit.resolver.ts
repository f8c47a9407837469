import { Args, Ctx, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { AuditEventConnection } from './audit-event.type';
import { AuditEventsArgs } from './audit-events.args';

@Resolver()
export class AuditResolver {
  @Query(() => AuditEventConnection)
  @Allow('read', 'AuditLog', byWorkspaceIdArg)
  auditEvents(@Args() { workspaceId, first, after }: AuditEventsArgs, @Ctx() ctx: GraphQLContext): Promise<AuditEventConnection> {
    return ctx.services.audit.list(workspaceId, first, after);
  }
}
