import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { AppError, notFound } from '../../../errors/app-error';
import { ErrorCode } from '../../../errors/error-code';
import type { GatewayMetrics } from '../../../metrics/gateway.metrics';
import type { CallIntent } from './journal-lines';
import type { JournalReplay } from './journal-replay';
import type { KeptAnswer } from './recent-answers';
import { recordCall } from './recording-failure';
import { CallClaim, RequestClaims } from './request-claims';
import { RequestIdLookup } from './request-id-lookup';
import type { JournalEntry, UsageJournal } from './usage-journal';
import type { InferenceCall, UsageRecorderService } from '../usage-recorder.service';

/** Beyond this, a record that has not reached the database goes to the spool instead. */
const RECORD_TIMEOUT_MS = 5_000;
/**
 * How long a gateway call's record waits for others to share its transaction. The caller has its
 * answer and the journal holds the call, so nothing waits on it but reads of the workspace's
 * usage on this worker (the recorder's `settled`); at a few hundred calls a second it saves most
 * calls a transaction's five round trips to the database.
 */
const RECORD_LINGER_MS = 10;
const REPLAY_INTERVAL_MS = 2_000;

function requestIdUsed(requestId: string, recordId: string | undefined): AppError {
  const record = recordId === undefined ? 'a recorded call' : `usage record ${recordId}`;
  return new AppError(ErrorCode.REQUEST_ID_USED, `X-Request-Id ${requestId} was already used for ${record}; a new call needs a new X-Request-Id.`, {
    details: recordId === undefined ? {} : { recordId },
  });
}

function requestInProgress(requestId: string): AppError {
  return new AppError(
    ErrorCode.REQUEST_IN_PROGRESS,
    `X-Request-Id ${requestId} is in progress on this worker and a streamed call cannot be answered twice; a new call needs a new X-Request-Id.`,
  );
}

/** A call as the ledger's claim sees it. */
export interface ClaimRequest {
  workspaceId: string;
  requestId: string;
  /** the caller gave the X-Request-Id: it may have been used, and a retry may come */
  given: boolean;
  bodyHash: string;
  streaming: boolean;
}

/** The row the call is made for (its workspace), which the claim looks up beside the request id. */
export interface ClaimSubject<T> {
  /** named in the 404 when there is none */
  what: string;
  load(): Promise<T | null>;
  /** while the database is unreachable: a cached copy that may stand in, if any */
  cachedDuringOutage(): T | undefined;
}

export type Admission<T> = { kind: 'kept'; answer: KeptAnswer } | { kind: 'admitted'; subject: T; claim: CallClaim };

export interface UsageLedgerOptions {
  dataSource: DataSource;
  recorder: UsageRecorderService;
  journal: UsageJournal;
  replay: JournalReplay;
  log: Logger;
  /** GATEWAY_DATABASE_OUTAGE=serve: how long journaled ids are checked while the database is away; 0 under `refuse` */
  outageWindowMs: number;
}

/**
 * Every call sent upstream on the record exactly once: claim (a request id serves one call, a
 * retry gets its answer), journal (the intent before the upstream, the outcome after), record
 * (into the database after the answer) and replay (what the database could not take, later).
 */
export class UsageLedger {
  private readonly claims: RequestClaims;
  private readonly recordedIds: RequestIdLookup;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: UsageLedgerOptions) {
    this.claims = new RequestClaims(options.outageWindowMs);
    this.recordedIds = new RequestIdLookup(options.dataSource);
  }

  /** Journal syncs are timed from now on, and the spooled and kept-aside files counted when scraped. */
  reportTo(metrics: GatewayMetrics): void {
    this.options.journal.reportTo(metrics);
  }

  /**
   * Whether the call may go on: a retry of a call this worker answered lately, or is answering
   * now, gets that answer; an id already on the record is refused. Otherwise the subject is
   * returned with the id claimed until the claim's `end`, so a concurrent duplicate never reaches
   * OpenRouter. The claim is made with the last check, no await between them: a twin that passed
   * its own check meanwhile would otherwise go upstream too.
   */
  async admit<T>(call: ClaimRequest, subject: ClaimSubject<T>, log: () => Logger): Promise<Admission<T>> {
    const key = RequestClaims.keyOf(call.workspaceId, call.requestId);
    for (;;) {
      const kept = call.given ? this.claims.kept(key) : undefined;
      if (kept) {
        if (kept.bodyHash !== call.bodyHash) throw requestIdUsed(call.requestId, kept.recordId);
        return { kind: 'kept', answer: kept };
      }
      const running = this.claims.running(key);
      if (running) {
        if (call.streaming || running.streaming || running.bodyHash !== call.bodyHash) throw requestInProgress(call.requestId);
        await running.done;
        continue;
      }
      // Both lookups at once, the subject usually from this worker's copy. An id the gateway
      // generated just now cannot have been used, so it is not looked up at all.
      const [row, usedBy] = await Promise.all([subject.load(), call.given ? this.recordedIds.recordIdOf(call.workspaceId, call.requestId) : null]).catch(
        (error: Error): [T | null, string | null] => {
          const cached = subject.cachedDuringOutage();
          if (cached) {
            // Serving through the outage: an id this worker journaled is used; the replay keeps aside
            // any other duplicate it meets once the database is back.
            if (call.given && this.claims.journaledRecently(key)) throw requestIdUsed(call.requestId, undefined);
            return [cached, null];
          }
          // Without these answers the call is not made: a used request id would be spent upstream twice.
          log().warn({ reason: error.message }, 'database unavailable: gateway call refused before OpenRouter');
          throw new AppError(ErrorCode.DATABASE_UNAVAILABLE, 'The usage database cannot be reached, so no call was made and nothing was billed. Retry shortly.', { retryable: true });
        },
      );
      // Another request with this id may have been claimed meanwhile: it is met at the top.
      if (this.claims.running(key) || (call.given && this.claims.kept(key))) continue;
      if (!row) throw notFound(subject.what);
      if (usedBy) throw requestIdUsed(call.requestId, usedBy);
      return { kind: 'admitted', subject: row, claim: this.claims.begin(key, call.bodyHash, call.streaming) };
    }
  }

  /** On the record from here on: a crash while OpenRouter works leaves an INTERRUPTED record. */
  intend(claim: CallClaim, intent: CallIntent): JournalEntry {
    this.claims.noteJournaled(claim.key);
    return this.options.journal.intend(intent);
  }

  /** The call ended without an answer to bill (refused upstream, unreachable): its intent is voided. */
  nothingToRecord(entry: JournalEntry): void {
    this.options.journal.settleAfter(this.options.journal.conclude(entry, undefined), entry, true);
  }

  /**
   * The completion goes to the journal beside the intent, synced in the next group commit; the
   * caller need not wait for it. `record` then puts the call into the database.
   */
  conclude(entry: JournalEntry, call: InferenceCall): Promise<void> {
    return this.options.journal.conclude(entry, call);
  }

  /**
   * Into the database; when it cannot take the call now (or within 5 s), the journal replays it.
   * A refusal is kept aside for an operator: the call was answered, so it is never dropped.
   * Returns the record's id, when it was written within the time allowed.
   */
  async record(entry: JournalEntry, call: InferenceCall, concluded: Promise<void>, log: () => Logger): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout('timeout'), RECORD_TIMEOUT_MS);
    });
    let reachedDatabase = false;
    let recordId: string | undefined;
    try {
      const written = await Promise.race([recordCall(this.options.recorder, call, RECORD_LINGER_MS), timeout]);
      reachedDatabase = written !== 'timeout';
      if (written !== 'timeout') recordId = written.id;
    } catch (error) {
      if (!(await this.options.replay.shouldReplay(error))) {
        log().error({ code: (error as { code?: unknown }).code }, 'answered call refused by the recorder');
        reachedDatabase = await this.options.journal.keepAside(call, error as Error).then(
          () => true,
          () => false,
        );
      }
    } finally {
      clearTimeout(timer);
    }
    this.options.journal.settleAfter(concluded, entry, reachedDatabase);
    return recordId;
  }

  /** Journal rotation and the replay, every REPLAY_INTERVAL_MS, start now. */
  start(): void {
    this.options.journal.start();
    // A failed round is retried on the next tick; it must never become an unhandled rejection.
    const tick = () => void this.options.replay.replay().catch((error: Error) => this.options.log.error({ reason: error.message }, 'spool replay failed; retried on the next tick'));
    this.timer = setInterval(tick, REPLAY_INTERVAL_MS);
    this.timer.unref();
    tick();
  }

  /** One replay round now (a round already running is joined). */
  replay(): Promise<void> {
    return this.options.replay.replay();
  }

  /** After the server has finished its requests: every call journaled by then has settled. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.options.journal.stop();
    await this.options.replay.idle();
  }
}
