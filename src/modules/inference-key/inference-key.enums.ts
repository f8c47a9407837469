import { registerEnumType } from 'type-graphql';

export enum KeyStatus {
  UNVERIFIED = 'UNVERIFIED',
  ACTIVE = 'ACTIVE',
  INVALID = 'INVALID',
  OUT_OF_CREDITS = 'OUT_OF_CREDITS',
  LIMIT_EXCEEDED = 'LIMIT_EXCEEDED',
  /** the stored blob does not decrypt; a replace clears it */
  KEY_UNAVAILABLE = 'KEY_UNAVAILABLE',
  /** the key works but less than 20 % of its OpenRouter limit remains; only a re-check or a replace changes it */
  LOW_CREDIT = 'LOW_CREDIT',
}

export enum ByokFallback {
  NONE = 'NONE',
  PLATFORM = 'PLATFORM',
}

registerEnumType(KeyStatus, { name: 'KeyStatus' });
registerEnumType(ByokFallback, { name: 'ByokFallback' });
