import { Args, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import { AuditEventConnection } from './audit-event.type';
import { AuditEventsArgs } from './audit-events.args';
import type { AuditService } from './audit.service';

@Resolver()
export class AuditResolver {
  constructor(private readonly audit: AuditService) {}

  @Query(() => AuditEventConnection)
  @Allow('read', 'AuditLog', byWorkspaceIdArg)
  auditEvents(@Args() { workspaceId, first, after }: AuditEventsArgs): Promise<AuditEventConnection> {
    return this.audit.list(workspaceId, first, after);
  }
}
