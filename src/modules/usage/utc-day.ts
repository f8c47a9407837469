const DAY_MS = 86_400_000;

/** The UTC day of an instant, as YYYY-MM-DD. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export function startOfUtcDay(at: Date): Date {
  return new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);
}

/** The first instant of the next UTC day unless `at` already starts a day. */
export function ceilUtcDay(at: Date): Date {
  const start = startOfUtcDay(at);
  return start.getTime() === at.getTime() ? start : new Date(start.getTime() + DAY_MS);
}

/**
 * Splits [from, to) into whole UTC days, which rollups answer, and the partial days at either
 * end, which only the records can answer.
 */
export interface SplitRange {
  /** [fromDay, toDay) as YYYY-MM-DD, or undefined when the range holds no whole day */
  wholeDays?: { fromDay: string; toDay: string };
  /** half-open instant ranges not covered by whole days */
  partial: Array<{ from: Date; to: Date }>;
}

export function splitByWholeDays(from: Date, to: Date): SplitRange {
  const firstWhole = ceilUtcDay(from);
  const endWhole = startOfUtcDay(to);
  if (firstWhole.getTime() >= endWhole.getTime()) return { partial: from < to ? [{ from, to }] : [] };
  const partial: SplitRange['partial'] = [];
  if (from < firstWhole) partial.push({ from, to: firstWhole });
  if (endWhole < to) partial.push({ from: endWhole, to });
  return { wholeDays: { fromDay: utcDay(firstWhole), toDay: utcDay(endWhole) }, partial };
}

/** `(col >= :from0 AND col < :to0) OR …` over the partial ranges, with its parameters. */
export function partialRangesCondition(partial: SplitRange['partial'], column: string): { sql: string; parameters: Record<string, Date> } {
  const sql = partial.map((_, i) => `(${column} >= :from${i} AND ${column} < :to${i})`).join(' OR ');
  const parameters = Object.fromEntries(partial.flatMap((range, i) => [[`from${i}`, range.from], [`to${i}`, range.to]]));
  return { sql: `(${sql})`, parameters };
}
