import { AgeOrderedMap } from '../../../cache/age-ordered-map';
import type { KeySource } from '../usage.enums';

/** A finished non-streaming answer, as it went to the caller. */
export interface KeptAnswer {
  /** sha256 of the request body: only a retry of the same call gets the answer again */
  bodyHash: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  keySource: KeySource;
  /** the usage record's id, once it is written */
  recordId?: string;
}

interface Slot {
  answer: KeptAnswer;
  expiresAt: number;
}

/**
 * Answers kept in memory (never on disk: they are the caller's data) for a short while, so that an
 * SDK retrying a call whose answer it missed (its own timeout, a dropped connection) gets that
 * answer rather than a refusal or a second billed call. Bounded by total bytes: under load the
 * oldest go first, and an answer larger than the whole budget is not kept at all.
 */
export class RecentAnswers {
  /** the oldest are first to expire and first to be evicted */
  private readonly slots = new AgeOrderedMap<string, Slot>();
  private bytes = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxBytes: number,
  ) {}

  get(key: string, now = Date.now()): KeptAnswer | undefined {
    this.expire(now);
    return this.slots.get(key)?.answer;
  }

  put(key: string, answer: KeptAnswer, now = Date.now()): void {
    this.expire(now);
    this.remove(key);
    const size = sizeOf(answer);
    if (size > this.maxBytes) return;
    for (let oldest = this.slots.oldest(); oldest && this.bytes + size > this.maxBytes; oldest = this.slots.oldest()) this.remove(oldest[0]);
    this.slots.set(key, { answer, expiresAt: now + this.ttlMs });
    this.bytes += size;
  }

  get size(): number {
    return this.slots.size;
  }

  private expire(now: number): void {
    for (let oldest = this.slots.oldest(); oldest && oldest[1].expiresAt <= now; oldest = this.slots.oldest()) this.remove(oldest[0]);
  }

  private remove(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    this.slots.delete(key);
    this.bytes -= sizeOf(slot.answer);
  }
}

/** The body, plus a rough allowance for the key, headers and bookkeeping. */
function sizeOf(answer: KeptAnswer): number {
  return answer.body.length + 512;
}
