import { KeySource } from '../usage/usage.enums';

/**
 * The money rules (SPEC.md, "Billing") as pure functions of integers. BigInt is used where a
 * product can pass 2^53 (tokens × price per million); results are micro-USD below 2^53.
 */

export interface PricePerMillion {
  inputMicrosPerMillionTokens: number;
  outputMicrosPerMillionTokens: number;
}

export class BillingRangeError extends Error {
  constructor(what: string) {
    super(`${what} is out of range`);
    this.name = 'BillingRangeError';
  }
}

const MILLION = 1_000_000n;
const HALF_MILLION = 500_000n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function nonNegativeSafeInteger(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new BillingRangeError(what);
  return BigInt(value);
}

/** round_half_up((in × inputPricePerM + out × outputPricePerM) / 1e6), exactly. */
export function tierPriceMicros(inputTokens: number, outputTokens: number, price: PricePerMillion): number {
  const numerator =
    nonNegativeSafeInteger(inputTokens, 'inputTokens') * nonNegativeSafeInteger(price.inputMicrosPerMillionTokens, 'input price') +
    nonNegativeSafeInteger(outputTokens, 'outputTokens') * nonNegativeSafeInteger(price.outputMicrosPerMillionTokens, 'output price');
  const micros = (numerator + HALF_MILLION) / MILLION;
  if (micros > MAX_SAFE) throw new BillingRangeError('tier price');
  return Number(micros);
}

/**
 * Platform-key calls pay the tier price. Calls on the workspace's key pay the platform's margin,
 * max(0, tierPrice − rawCost); with the raw cost unknown, nothing until an admin settles it.
 */
export function billedMicros(keySource: KeySource, tierPrice: number, rawCostMicros: number | null): number {
  nonNegativeSafeInteger(tierPrice, 'tier price');
  // Checked whatever the key source: a platform call's raw cost does not change its bill, but it
  // is stored and summed for platform admins, so an impossible value must not slip through.
  if (rawCostMicros !== null) nonNegativeSafeInteger(rawCostMicros, 'raw cost');
  if (keySource === KeySource.PLATFORM) return tierPrice;
  if (rawCostMicros === null) return 0;
  return Math.max(0, tierPrice - rawCostMicros);
}
