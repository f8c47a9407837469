import { registerEnumType } from 'type-graphql';

/** A member's role in a workspace: what the ability factory grants is decided from it. */
export enum MemberRole {
  OWNER = 'OWNER',
  ADMIN = 'ADMIN',
  BILLING_MANAGER = 'BILLING_MANAGER',
  MEMBER = 'MEMBER',
}

registerEnumType(MemberRole, { name: 'MemberRole' });
