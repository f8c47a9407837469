import { addAmounts } from '../billing/amount-range';
import { KeySource } from '../usage/usage.enums';

/** One call or one rollup group, as far as the budget is concerned. */
export interface SpendParts {
  keySource: KeySource;
  billedMicros: number;
  /** known raw cost; unknown (flagged) costs count 0 until settled */
  rawCostMicros: number;
}

/**
 * What the workspace pays for AI: the platform's charges, the BYOK margin, and the raw cost of
 * BYOK calls that it pays OpenRouter on its own key (the platform's own raw cost of platform-key
 * calls is already inside their charge).
 */
export function spendOf(parts: SpendParts): number {
  return parts.keySource === KeySource.BYOK ? addAmounts(parts.billedMicros, parts.rawCostMicros) : parts.billedMicros;
}

export function totalSpend(groups: readonly SpendParts[]): number {
  return groups.reduce((total, group) => addAmounts(total, spendOf(group)), 0);
}

/** YYYY-MM of a time, UTC. */
export function utcMonth(at: Date): string {
  return at.toISOString().slice(0, 7);
}

/** The thresholds (percent of the limit) that `spent` has reached. */
export function reachedThresholds(limitMicros: number, thresholds: readonly number[], spentMicros: number): number[] {
  // Integer arithmetic: spent × 100 ≥ limit × threshold, in BigInt since both may be near 2^53.
  return thresholds.filter((threshold) => BigInt(spentMicros) * 100n >= BigInt(limitMicros) * BigInt(threshold));
}
