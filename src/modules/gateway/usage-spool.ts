import { randomBytes } from 'node:crypto';
import { close, closeSync, fdatasyncSync, fsync, fsyncSync, open, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { isTransientDatabaseError } from '../../db/transaction-runner';
import { AppError } from '../../graphql/app-error';
import { GatewayMetrics, NO_GATEWAY_METRICS } from '../../metrics/gateway.metrics';
import type { InferenceCall, UsageRecorderService } from '../usage/usage-recorder.service';

const JOURNAL_PREFIX = 'usage-journal-';
const SPOOL_PREFIX = 'usage-spool-';
const REPLAYING_PREFIX = 'usage-spool-replaying-';
/** Calls the database answered but would not take (not a refusal: a failure), kept for an operator. */
const UNRECORDABLE_PREFIX = 'usage-unrecordable-';
const REPLAY_INTERVAL_MS = 2_000;
/** A journal segment takes the calls of about this long before the next one replaces it. */
const SEGMENT_MS = 1_000;
/**
 * A journal segment not written for this long, whose process may still be alive, was left by a
 * process that stopped before its records settled. A live process settles a segment within the
 * recording timeout (5 s) of its last call.
 */
const ABANDONED_AFTER_MS = 30_000;

const openAsync = promisify(open);
const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);

type SpooledCall = Omit<InferenceCall, 'occurredAt'> & { occurredAt: string };

interface Segment {
  path: string;
  fd: number;
  openedAt: number;
  /** calls journaled here */
  entries: number;
  /** no more calls go in; the file is closed once the calls in it have settled */
  closed: boolean;
  /** calls journaled here whose record has not settled yet */
  unsettled: number;
  /** some call here did not reach the database: the segment becomes a spool file */
  needsReplay: boolean;
}

/** Where a journaled call is, so that its outcome can be settled. */
export interface JournalEntry {
  readonly segment: Segment;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * The part of a journal, spool or claimed file's name that it was journaled under, which starts
 * with the time its segment opened: sorting by it replays calls in the order they were made.
 */
function originOf(name: string): string {
  if (name.startsWith(REPLAYING_PREFIX)) return name.slice(REPLAYING_PREFIX.length).split('-').slice(2).join('-');
  if (name.startsWith(JOURNAL_PREFIX)) return name.slice(JOURNAL_PREFIX.length);
  return name.slice(SPOOL_PREFIX.length);
}

function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * The gateway's write-ahead journal of completed calls, so that none is ever lost. Each completed
 * call is appended to a segment file in DATA_DIR and fsync'd before the client is answered; it is
 * recorded in the database right after. A segment whose calls all reached the database is deleted;
 * one with a call the database could not take (unreachable, or slower than 5 s) becomes a spool
 * file, replayed in order and idempotently (the record is keyed by its request id) once the
 * database answers again. At start-up the same happens to what a stopped or crashed process left.
 */
export class UsageSpool {
  private readonly instance = `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`;
  private current?: Segment;
  private sequence = 0;
  private timer?: NodeJS.Timeout;
  private rotation?: NodeJS.Timeout;
  private rotating?: Promise<void>;
  private replaying?: Promise<void>;
  private metrics: GatewayMetrics = NO_GATEWAY_METRICS;

  /** `databaseAnswers` tells a database that is away from one that failed this one call. */
  constructor(
    private readonly dir: string,
    private readonly recorder: UsageRecorderService,
    private readonly log: Logger,
    private readonly databaseAnswers: () => Promise<boolean>,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Journal syncs are timed from now on, and the spooled and kept-aside files counted when scraped. */
  reportTo(metrics: GatewayMetrics): void {
    this.metrics = metrics;
    metrics.watchLedgerFiles({ spooled: () => this.pendingFiles().length, keptAside: () => this.unrecordableFiles().length });
  }

  /** Appends a completed call to the journal and fsyncs it: call before answering the client. */
  journal(call: InferenceCall): JournalEntry {
    const segment = (this.current ??= this.createSegment());
    writeSync(segment.fd, `${JSON.stringify({ ...call, occurredAt: (call.occurredAt ?? new Date()).toISOString() })}\n`);
    const syncing = process.hrtime.bigint();
    fdatasyncSync(segment.fd);
    this.metrics.journalSynced(Number(process.hrtime.bigint() - syncing) / 1e9);
    segment.entries += 1;
    segment.unsettled += 1;
    return { segment };
  }

  /** The call's record was written (or refused for good): `reachedDatabase`; otherwise it is replayed later. */
  settle(entry: JournalEntry, call: InferenceCall, reachedDatabase: boolean): void {
    const { segment } = entry;
    segment.unsettled -= 1;
    if (!reachedDatabase) {
      segment.needsReplay = true;
      this.log.warn({ requestId: call.requestId, workspaceId: call.workspaceId }, 'database unavailable: call spooled for replay');
    }
    this.finish(segment);
  }

  start(): void {
    // A failed round is retried on the next tick; it must never become an unhandled rejection.
    const tick = () =>
      void this.replay().catch((error: Error) => this.log.error({ reason: error.message }, 'spool replay failed; retried on the next tick'));
    this.timer = setInterval(tick, REPLAY_INTERVAL_MS);
    this.timer.unref();
    this.rotation = setInterval(() => void this.rotate().catch((error: Error) => this.log.error({ reason: error.message }, 'journal rotation failed')), SEGMENT_MS);
    this.rotation.unref();
    tick();
  }

  /** After the server has finished its requests: every call journaled by then has settled. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.rotation) clearInterval(this.rotation);
    await this.rotating?.catch(() => undefined);
    this.closeCurrent();
    await this.replaying?.catch(() => undefined); // a failed round is logged where it ran
  }

  /**
   * Replays every spool file in this directory (this process's and any left by others), and the
   * journal segments other processes left behind. Workers sharing DATA_DIR may replay a claimed file
   * at the same time (one claimed it, another finds it left over); recording is idempotent, so the
   * only care needed is that either may remove it first.
   */
  replay(): Promise<void> {
    this.replaying ??= this.replayAll().finally(() => {
      this.replaying = undefined;
    });
    return this.replaying;
  }

  /** Files of calls that failed to record while the database answered: they need an operator. */
  unrecordableFiles(): string[] {
    return readdirSync(this.dir).filter((name) => name.startsWith(UNRECORDABLE_PREFIX));
  }

  /** Files waiting to be replayed. */
  pendingFiles(): string[] {
    return readdirSync(this.dir)
      .filter((name) => name.startsWith(SPOOL_PREFIX))
      .sort();
  }

  /** A segment made when a call needs one and none is open; while calls flow, `rotate` makes them ahead. */
  private createSegment(): Segment {
    const path = this.nextSegmentPath();
    const fd = openSync(path, 'a', 0o600);
    const dir = openSync(this.dir, 'r');
    try {
      fsyncSync(dir); // a new file's name is durable only once its directory is synced
    } finally {
      closeSync(dir);
    }
    return { path, fd, openedAt: Date.now(), entries: 0, closed: false, unsettled: 0, needsReplay: false };
  }

  private nextSegmentPath(): string {
    this.sequence += 1;
    return join(this.dir, `${JOURNAL_PREFIX}${Date.now()}-${this.instance}-${this.sequence}.jsonl`);
  }

  /**
   * Replaces a segment that has been taking calls for SEGMENT_MS with a new one, made off the event
   * loop (opening a file and syncing its directory would otherwise fall on a call's critical path),
   * and lets the old one finish. A segment that took no call in that time is closed instead.
   */
  private rotate(): Promise<void> {
    const old = this.current;
    if (this.rotating || !old || Date.now() - old.openedAt < SEGMENT_MS) return Promise.resolve();
    if (old.entries === 0) {
      this.closeCurrent();
      return Promise.resolve();
    }
    this.rotating = (async () => {
      const path = this.nextSegmentPath();
      const fd = await openAsync(path, 'a', 0o600);
      const dir = await openAsync(this.dir, 'r');
      try {
        await fsyncAsync(dir);
      } finally {
        await closeAsync(dir);
      }
      this.current = { path, fd, openedAt: Date.now(), entries: 0, closed: false, unsettled: 0, needsReplay: false };
      old.closed = true;
      this.finish(old);
    })().finally(() => {
      this.rotating = undefined;
    });
    return this.rotating;
  }

  private closeCurrent(): void {
    const segment = this.current;
    if (!segment) return;
    this.current = undefined;
    segment.closed = true;
    this.finish(segment);
  }

  /** A closed segment whose calls have all settled is deleted, or handed to the replay when one needs it. */
  private finish(segment: Segment): void {
    if (!segment.closed || segment.unsettled > 0) return;
    closeSync(segment.fd);
    if (segment.needsReplay) renameSync(segment.path, join(this.dir, `${SPOOL_PREFIX}${segment.path.slice(segment.path.lastIndexOf(JOURNAL_PREFIX) + JOURNAL_PREFIX.length)}`));
    else unlinkSync(segment.path);
  }

  /** Journal segments of other processes that will never settle them. */
  private abandonedJournals(): string[] {
    const now = Date.now();
    return readdirSync(this.dir)
      .filter((name) => name.startsWith(JOURNAL_PREFIX) && !name.includes(`-${this.instance}-`))
      .filter((name) => {
        const pid = Number(name.slice(JOURNAL_PREFIX.length).split('-')[1]);
        try {
          return (Number.isSafeInteger(pid) && pid !== process.pid && processIsGone(pid)) || now - statSync(join(this.dir, name)).mtimeMs >= ABANDONED_AFTER_MS;
        } catch (error) {
          if (isMissing(error)) return false;
          throw error;
        }
      })
      .sort();
  }

  private async replayAll(): Promise<void> {
    const files = [...this.abandonedJournals(), ...this.pendingFiles()].sort((a, b) => (originOf(a) < originOf(b) ? -1 : 1));
    for (const name of files) {
      const claimed = name.startsWith(REPLAYING_PREFIX) ? join(this.dir, name) : this.claim(name);
      if (!claimed) continue;
      if (!(await this.replayFile(claimed))) return;
    }
  }

  /** Appended (fsync'd) to a file of its own beside the spool, which replays never read. */
  private keepUnrecordable(path: string, line: string, requestId: unknown, error: Error): void {
    const target = join(this.dir, `${UNRECORDABLE_PREFIX}${originOf(basename(path))}`);
    const fd = openSync(target, 'a', 0o600);
    try {
      writeSync(fd, `${line}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.log.error({ requestId, reason: error.message, keptIn: target }, 'spooled call could not be recorded though the database answers; kept aside for an operator');
  }

  /** Renaming claims a file atomically: no two replayers share one. */
  private claim(name: string): string | undefined {
    const origin = name.startsWith(JOURNAL_PREFIX) ? name.slice(JOURNAL_PREFIX.length) : name.slice(SPOOL_PREFIX.length);
    const target = join(this.dir, `${REPLAYING_PREFIX}${Date.now()}-${process.pid}-${origin}`);
    try {
      renameSync(join(this.dir, name), target);
      return target;
    } catch {
      return undefined;
    }
  }

  /** False when the database is still unavailable: the file stays for the next attempt. */
  private async replayFile(path: string): Promise<boolean> {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (isMissing(error)) return true; // another worker finished it meanwhile
      throw error;
    }
    const lines = text.split('\n').filter(Boolean);
    for (const line of lines) {
      let spooled: SpooledCall;
      try {
        spooled = JSON.parse(line) as SpooledCall;
      } catch {
        this.log.error({ path }, 'unreadable spool line skipped');
        continue;
      }
      try {
        await this.recorder.record({ ...spooled, occurredAt: new Date(spooled.occurredAt) });
      } catch (error) {
        if (error instanceof AppError) {
          this.log.error({ requestId: spooled.requestId, code: error.code }, 'spooled call refused by the recorder; dropped');
          continue;
        }
        if (isTransientDatabaseError(error) || !(await this.databaseAnswers())) return false;
        // The database is there and still this call fails: waiting would block every call after it.
        this.keepUnrecordable(path, line, spooled.requestId, error as Error);
      }
    }
    try {
      unlinkSync(path);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    this.log.info({ calls: lines.length }, 'spooled calls replayed');
    return true;
  }
}
