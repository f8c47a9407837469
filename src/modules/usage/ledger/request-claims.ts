import { AgeOrderedMap } from '../../../cache/age-ordered-map';
import { KeptAnswer, RecentAnswers } from './recent-answers';

/** Request ids remembered for the outage check: at 1,000 calls a second, the last 3 minutes or so. */
const MAX_JOURNALED_IDS = 200_000;
/** A retry of a finished non-streaming call within this long gets its answer again (SPEC.md, "The usage ledger"). */
const KEPT_ANSWER_MS = 60_000;
/** Memory for kept answers: at ~2 KB an answer, the last 60 s of ~8,000 calls. */
const KEPT_ANSWER_BYTES = 16 * 1024 * 1024;

/** A call between its claim and its end, which a retry of it waits for. */
export interface RunningCall {
  bodyHash: string;
  streaming: boolean;
  /** resolves once the answer is kept for retries, or the call is over */
  done: Promise<void>;
}

/** A claimed (workspace, request id): what the call says of itself as it goes. */
export interface CallClaim {
  readonly key: string;
  /** the answer, kept for retries of the call (non-streaming calls with an X-Request-Id only) */
  keep(answer: KeptAnswer): void;
  /** the call is over: its id is free for the checks against the database again */
  end(): void;
}

/**
 * This worker's memory of request ids, keyed by (workspace, request id): the calls it serves now,
 * the answers it gave lately, and the ids it journaled lately (the ones it checks while the
 * database is away).
 */
export class RequestClaims {
  private readonly inFlight = new Map<string, RunningCall>();
  private readonly recentAnswers = new RecentAnswers(KEPT_ANSWER_MS, KEPT_ANSWER_BYTES);
  /** when each id was journaled */
  private readonly journaled = new AgeOrderedMap<string, number>();

  /** `outageWindowMs`: how long a journaled id is remembered (the cache's stale window under GATEWAY_DATABASE_OUTAGE=serve) */
  constructor(private readonly outageWindowMs: number) {}

  static keyOf(workspaceId: string, requestId: string): string {
    return `${workspaceId}\u0000${requestId}`;
  }

  kept(key: string): KeptAnswer | undefined {
    return this.recentAnswers.get(key);
  }

  running(key: string): RunningCall | undefined {
    return this.inFlight.get(key);
  }

  begin(key: string, bodyHash: string, streaming: boolean): CallClaim {
    let release!: () => void;
    this.inFlight.set(key, { bodyHash, streaming, done: new Promise<void>((resolveDone) => (release = resolveDone)) });
    return {
      key,
      keep: (answer) => {
        this.recentAnswers.put(key, answer);
        release();
      },
      end: () => {
        this.inFlight.delete(key);
        release();
      },
    };
  }

  noteJournaled(key: string): void {
    const now = Date.now();
    this.journaled.set(key, now);
    for (let oldest = this.journaled.oldest(); oldest && (this.journaled.size > MAX_JOURNALED_IDS || now - oldest[1] > this.outageWindowMs); oldest = this.journaled.oldest()) {
      this.journaled.delete(oldest[0]);
    }
  }

  journaledRecently(key: string): boolean {
    const at = this.journaled.get(key);
    return at !== undefined && Date.now() - at <= this.outageWindowMs;
  }
}
