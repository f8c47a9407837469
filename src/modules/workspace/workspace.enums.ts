import { registerEnumType } from 'type-graphql';

export enum Plan {
  PLUS = 'PLUS',
  PRO = 'PRO',
  ENTERPRISE = 'ENTERPRISE',
}

export enum ModelTier {
  FRONTIER = 'FRONTIER',
  BALANCED = 'BALANCED',
  COST_EFFECTIVE = 'COST_EFFECTIVE',
}

registerEnumType(Plan, { name: 'Plan' });
registerEnumType(ModelTier, { name: 'ModelTier' });
