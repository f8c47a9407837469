import fc from 'fast-check';
import { backoffMs } from '../src/modules/webhook/webhook-dispatcher';

const HOUR_MS = 3600_000;
/** WEBHOOK_RETRY_BASE_MS as config accepts it. */
const base = fc.integer({ min: 1, max: HOUR_MS });
const attempts = fc.integer({ min: 1, max: 10_000 });
/** An attempt and a base for which attempt + 2 is still below the hour's cap. */
const belowTheCap = fc.integer({ min: 1, max: 20 }).chain((attempt) => fc.tuple(fc.constant(attempt), fc.integer({ min: 1, max: Math.floor(HOUR_MS / 2 ** (attempt + 1)) })));

/** The delay before jitter: base × 2^(attempt − 1), capped at an hour. */
function centre(baseMs: number, attempt: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), HOUR_MS);
}

describe('webhook retry backoff', () => {
  it('stays within ±50 % of base × 2^(attempt − 1), capped at an hour: never below 30 min nor above 90 min once capped', () => {
    fc.assert(
      fc.property(base, attempts, (baseMs, attempt) => {
        const delay = backoffMs(baseMs, attempt);
        const expected = centre(baseMs, attempt);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(expected / 2);
        expect(delay).toBeLessThanOrEqual((expected * 3) / 2);
        expect(delay).toBeLessThanOrEqual(1.5 * HOUR_MS);
      }),
      { numRuns: 5_000 },
    );
  });

  it('grows: below the cap, any delay two attempts later is longer than any delay now', () => {
    fc.assert(
      fc.property(belowTheCap, ([attempt, baseMs]) => {
        expect(backoffMs(baseMs, attempt + 2)).toBeGreaterThan(backoffMs(baseMs, attempt));
      }),
      { numRuns: 5_000 },
    );
  });

  it('grows on average with each attempt until the cap, then holds at an hour', () => {
    const mean = (baseMs: number, attempt: number) => {
      let sum = 0;
      for (let sample = 0; sample < 2_000; sample++) sum += backoffMs(baseMs, attempt);
      return sum / 2_000;
    };
    // 5 s base: 5, 10, 20 … 2,560 s, then an hour from the 11th attempt on
    const means = Array.from({ length: 14 }, (_unused, index) => mean(5_000, index + 1));
    for (let attempt = 1; attempt <= 10; attempt++) {
      expect(means[attempt - 1]).toBeGreaterThan(centre(5_000, attempt) * 0.95);
      expect(means[attempt - 1]).toBeLessThan(centre(5_000, attempt) * 1.05);
      if (attempt > 1) expect(means[attempt - 1]).toBeGreaterThan(means[attempt - 2]);
    }
    for (const capped of means.slice(10)) expect(Math.abs(capped - HOUR_MS)).toBeLessThan(HOUR_MS * 0.05);
  });

  it('is jittered: delays of the same attempt differ, so failing deliveries do not retry in step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: HOUR_MS }), attempts, (baseMs, attempt) => {
        const delays = new Set(Array.from({ length: 50 }, () => backoffMs(baseMs, attempt)));
        expect(delays.size).toBeGreaterThan(1);
      }),
      { numRuns: 500 },
    );
  });
});
