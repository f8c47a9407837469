import { KeyStatus } from './inference-key.enums';

/** Below this share of its limit a key's remaining credit is low (SPEC.md, "key health"). */
export const LOW_CREDIT_PERCENT = 20;

/**
 * The status of a key OpenRouter accepts, from its limit and what remains of it: LOW_CREDIT below
 * 20 % of the limit, in integer micro-USD (remaining × 100 < limit × 20, no rounding). A key with
 * no limit, or whose remaining credit is unknown, is ACTIVE.
 */
export function statusForCredit(limitMicros: number | null, limitRemainingMicros: number | null): KeyStatus.ACTIVE | KeyStatus.LOW_CREDIT {
  if (limitMicros === null || limitRemainingMicros === null || limitMicros <= 0) return KeyStatus.ACTIVE;
  return BigInt(limitRemainingMicros) * 100n < BigInt(limitMicros) * BigInt(LOW_CREDIT_PERCENT) ? KeyStatus.LOW_CREDIT : KeyStatus.ACTIVE;
}
