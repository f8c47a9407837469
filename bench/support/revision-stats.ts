/** The bound: the new revision may use at most this much more CPU per request than the old. */
export const MAX_CPU_INCREASE_PERCENT = 5;

/** The middle value (mean of the two middle ones for an even count): robust to one disturbed round. */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** How much larger `next` is than `base`, in percent of `base` (negative when smaller). */
export function percentDifference(base: number, next: number): number {
  if (!(base > 0)) throw new Error(`percent difference needs a positive base (got ${base})`);
  return ((next - base) / base) * 100;
}

export type RevisionVerdict = 'within' | 'over';

/** `within` when the new revision's CPU per request is at most `limitPercent` above the old one's. */
export function cpuVerdict(oldMicros: number, newMicros: number, limitPercent = MAX_CPU_INCREASE_PERCENT): RevisionVerdict {
  return percentDifference(oldMicros, newMicros) <= limitPercent ? 'within' : 'over';
}

/** CPU µs per request from CPU seconds used over a number of requests. */
export function cpuMicrosPerRequest(cpuSeconds: number, requests: number): number {
  if (!(requests > 0)) throw new Error('no requests were measured');
  return (cpuSeconds * 1_000_000) / requests;
}

/**
 * The median of each round's own difference (new against the old run just before it): the two
 * runs of one round share the machine's load at that moment, so this is less exposed to drift
 * between rounds than the difference of the two medians.
 */
export function pairedMedianDifference(oldValues: number[], newValues: number[]): number {
  if (oldValues.length !== newValues.length) throw new Error(`unpaired rounds: ${oldValues.length} old, ${newValues.length} new`);
  return median(oldValues.map((oldValue, round) => percentDifference(oldValue, newValues[round])));
}
