/**
 * A call's raw cost from OpenRouter's figures (SPEC.md, "Inference gateway"): `cost`, plus
 * `upstream_inference_cost` when `is_byok`, since OpenRouter then ran the call on the customer's
 * own provider keys and `cost` is only its fee. The upstream cost of a call that is not BYOK is
 * already inside `cost` and is never added a second time.
 *
 * null (raw cost unknown: the record is flagged) when `cost` is missing, or when a BYOK call
 * reports no upstream cost.
 */
export function rawCostMicrosOf(costMicros: number | null | undefined, isByok: boolean | null | undefined, upstreamInferenceCostMicros: number | null | undefined): number | null {
  if (costMicros === null || costMicros === undefined) return null;
  if (isByok !== true) return costMicros;
  if (upstreamInferenceCostMicros === null || upstreamInferenceCostMicros === undefined) return null;
  return costMicros + upstreamInferenceCostMicros;
}
