import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares two secrets without leaking, through timing, how much of them matched or their length. */
export function constantTimeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
