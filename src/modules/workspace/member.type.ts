import { Field, ID, ObjectType } from 'type-graphql';
import { roleCanManageBilling } from '../../auth/ability.factory';
import type { MemberEntity } from './member.entity';
import { MemberRole } from '../../auth/member-role';

@ObjectType('Member')
export class MemberType {
  @Field(() => ID)
  workspaceId: string;

  @Field(() => ID)
  userId: string;

  @Field(() => MemberRole)
  role: MemberRole;

  @Field()
  canManageBilling: boolean;

  static from(entity: Pick<MemberEntity, 'workspaceId' | 'userId' | 'role'>): MemberType {
    return Object.assign(new MemberType(), {
      workspaceId: entity.workspaceId,
      userId: entity.userId,
      role: entity.role,
      canManageBilling: roleCanManageBilling(entity.role),
    });
  }
}
