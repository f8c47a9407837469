import { registerEnumType } from 'type-graphql';

export enum AuditAction {
  KEY_SAVED = 'KEY_SAVED',
  KEY_REPLACED = 'KEY_REPLACED',
  KEY_REMOVED = 'KEY_REMOVED',
  KEY_REMOVED_PLAN_CHANGE = 'KEY_REMOVED_PLAN_CHANGE',
}

registerEnumType(AuditAction, { name: 'AuditAction' });
