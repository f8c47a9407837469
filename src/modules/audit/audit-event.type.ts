import { Field, ID, ObjectType } from 'type-graphql';
import { PageInfo } from '../../graphql/pagination';
import { MemberRole } from '../../auth/member-role';
import { AuditAction } from './audit-action.enum';
import type { AuditEventEntity } from './audit-event.entity';

@ObjectType('AuditEvent')
export class AuditEventType {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  workspaceId: string;

  @Field(() => AuditAction)
  action: AuditAction;

  @Field(() => ID, { nullable: true })
  actorUserId: string | null;

  @Field(() => String, { nullable: true })
  maskedHint: string | null;

  @Field(() => ID, { nullable: true, description: 'the member a member change is about' })
  targetUserId: string | null;

  @Field(() => MemberRole, { nullable: true, description: "a member change's role before it; null when the member was added" })
  fromRole: MemberRole | null;

  @Field(() => MemberRole, { nullable: true, description: "a member change's role after it; null when the member was removed" })
  toRole: MemberRole | null;

  @Field(() => String, { nullable: true, description: 'why, in words (e.g. the plan change that removed the key)' })
  detail: string | null;

  @Field()
  at: Date;

  static from(entity: AuditEventEntity): AuditEventType {
    return Object.assign(new AuditEventType(), {
      id: entity.id,
      workspaceId: entity.workspaceId,
      action: entity.action,
      actorUserId: entity.actorUserId,
      maskedHint: entity.maskedHint,
      targetUserId: entity.targetUserId,
      fromRole: entity.fromRole,
      toRole: entity.toRole,
      detail: entity.detail,
      at: entity.at,
    });
  }
}

@ObjectType('AuditEventConnection')
export class AuditEventConnection {
  @Field(() => [AuditEventType])
  nodes: AuditEventType[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}
