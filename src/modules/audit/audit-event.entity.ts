import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { timestampColumn } from '../../db/columns';
import { MemberRole } from '../../auth/member-role';
import { AuditAction } from './audit-action.enum';

@Entity('audit_event')
@Index('idx_audit_event_workspace_at', ['workspaceId', 'at', 'id'])
export class AuditEventEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ type: 'varchar', length: 32 })
  action: AuditAction;

  @Column({ name: 'actor_user_id', type: 'varchar', length: 191, nullable: true })
  actorUserId: string | null;

  /** the masked hint of the key involved; never the key */
  @Column({ name: 'masked_hint', type: 'varchar', length: 16, nullable: true })
  maskedHint: string | null;

  /** the member a member change is about */
  @Column({ name: 'target_user_id', type: 'varchar', length: 191, nullable: true })
  targetUserId: string | null;

  /** a member change's role before (null: added) and after (null: removed) */
  @Column({ name: 'from_role', type: 'varchar', length: 20, nullable: true })
  fromRole: MemberRole | null;

  @Column({ name: 'to_role', type: 'varchar', length: 20, nullable: true })
  toRole: MemberRole | null;

  /** why, in words: e.g. the plan change that removed the key */
  @Column({ type: 'varchar', length: 255, nullable: true })
  detail: string | null;

  @Column(timestampColumn())
  at: Date;
}
