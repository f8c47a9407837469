import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Compares presented credentials with one configured secret without leaking, through timing, how
 * much of it matched or its length. The secret is digested once, not on every request.
 */
export class SecretMatcher {
  private readonly expected: Buffer;

  constructor(secret: string) {
    this.expected = digest(secret);
  }

  matches(given: string): boolean {
    return timingSafeEqual(digest(given), this.expected);
  }
}
