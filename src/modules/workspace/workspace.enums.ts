import { registerEnumType } from 'type-graphql';

export enum Plan {
  PLUS = 'PLUS',
  PRO = 'PRO',
  ENTERPRISE = 'ENTERPRISE',
}

export enum MemberRole {
  OWNER = 'OWNER',
  ADMIN = 'ADMIN',
  BILLING_MANAGER = 'BILLING_MANAGER',
  MEMBER = 'MEMBER',
}

export enum ModelTier {
  FRONTIER = 'FRONTIER',
  BALANCED = 'BALANCED',
  COST_EFFECTIVE = 'COST_EFFECTIVE',
}

registerEnumType(Plan, { name: 'Plan' });
registerEnumType(MemberRole, { name: 'MemberRole' });
registerEnumType(ModelTier, { name: 'ModelTier' });
