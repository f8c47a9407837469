import { randomBytes } from 'node:crypto';
import { close, closeSync, fdatasync, fsync, fsyncSync, futimes, mkdirSync, open, openSync, readdirSync, readFileSync, rename, renameSync, statSync, unlink, unlinkSync, write, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { isTransientDatabaseError } from '../../db/transaction-runner';
import { GatewayMetrics, NO_GATEWAY_METRICS } from '../../metrics/gateway.metrics';
import type { InferenceCall, UsageRecorderService } from '../usage/usage-recorder.service';
import { InferencePath, KeySource, UsageOutcome } from '../usage/usage.enums';
import type { ModelTier } from '../workspace/workspace.enums';

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
const fdatasyncAsync = promisify(fdatasync);
const closeAsync = promisify(close);
const writeAsync = promisify(write);
const renameAsync = promisify(rename);
const unlinkAsync = promisify(unlink);
const futimesAsync = promisify(futimes);

type SpooledCall = Omit<InferenceCall, 'occurredAt'> & { occurredAt: string };

/** What is journaled before a call goes upstream: enough to put it on the record if it never ends. */
export interface CallIntent {
  requestId: string;
  workspaceId: string;
  path: InferencePath;
  tier: ModelTier;
  keySource: KeySource;
  /** the model the request asked for */
  model: string;
  occurredAt: Date;
  actorUserId: string | null;
}

/**
 * Journal lines: `intent` before the upstream request, then either the completed call (a line
 * with no `t`, as spool files have always held) or `void` when the call ended with nothing to
 * record (the upstream refused it, or could not be reached).
 */
type JournalLine = (SpooledCall & { t?: undefined }) | (Omit<CallIntent, 'occurredAt'> & { t: 'intent'; occurredAt: string }) | { t: 'void'; requestId: string; workspaceId: string };

/**
 * The calls a journal or spool file puts on the record, in its order: each completed call, then
 * each call whose intent has no outcome, as INTERRUPTED (flagged, billed 0 until settled). A call
 * that ended with nothing to record (`void`) is not among them.
 */
function callsToRecord(lines: readonly string[], unreadable: () => void): Array<{ call: InferenceCall; line: string; interrupted: boolean }> {
  const calls: Array<{ call: InferenceCall; line: string; interrupted: boolean }> = [];
  const unfinished = new Map<string, Extract<JournalLine, { t: 'intent' }>>();
  for (const line of lines) {
    let parsed: JournalLine;
    try {
      parsed = JSON.parse(line) as JournalLine;
    } catch {
      unreadable();
      continue;
    }
    const key = `${parsed.workspaceId}\u0000${parsed.requestId}`;
    if (parsed.t === 'intent') {
      unfinished.set(key, parsed);
    } else if (parsed.t === 'void') {
      unfinished.delete(key);
    } else {
      unfinished.delete(key);
      calls.push({ call: { ...parsed, occurredAt: new Date(parsed.occurredAt) }, line, interrupted: false });
    }
  }
  for (const intent of unfinished.values()) {
    const call: InferenceCall = {
      requestId: intent.requestId,
      workspaceId: intent.workspaceId,
      path: intent.path,
      model: intent.model || 'unknown',
      tier: intent.tier,
      keySource: intent.keySource,
      inputTokens: 0,
      outputTokens: 0,
      rawCostMicros: null,
      occurredAt: new Date(intent.occurredAt),
      actorUserId: intent.actorUserId,
      outcome: UsageOutcome.INTERRUPTED,
    };
    calls.push({ call, line: JSON.stringify({ ...call, occurredAt: intent.occurredAt }), interrupted: true });
  }
  return calls;
}

/** A database connection that failed or went away: the next attempt may well get through. */
const CONNECTION_LOST: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);

/** Whether a failure to record may pass if the call is tried again later: asked of the error, never of its class. */
export function isRetryable(error: unknown): boolean {
  if ((error as { retryable?: unknown } | undefined)?.retryable === true || isTransientDatabaseError(error)) return true;
  const code = (error as { driverError?: { code?: unknown }; code?: unknown } | undefined)?.driverError?.code ?? (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CONNECTION_LOST.has(code);
}

/**
 * Group commit: one fdatasync (on libuv's thread pool, off the event loop) covers every write made
 * before it started; writes made while one runs wait for the next.
 */
class GroupSync {
  private running?: Promise<void>;
  private queued?: Promise<void>;

  constructor(
    private readonly fd: number,
    private readonly synced: (seconds: number) => void,
  ) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  /** Resolves once every sync asked for so far has ended. */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)!.catch(() => undefined);
  }

  private start(): Promise<void> {
    const started = process.hrtime.bigint();
    const running = fdatasyncAsync(this.fd).then(() => this.synced(Number(process.hrtime.bigint() - started) / 1e9));
    this.running = running;
    void running.finally(() => {
      if (this.running === running) this.running = undefined;
    }).catch(() => undefined);
    return running;
  }
}

interface Segment {
  path: string;
  fd: number;
  sync: GroupSync;
  openedAt: number;
  /** calls journaled here */
  entries: number;
  /** no more calls go in; the file is closed once the calls in it have settled */
  closed: boolean;
  /** calls journaled here whose record has not settled yet */
  unsettled: number;
  /** some call here did not reach the database: the segment becomes a spool file */
  needsReplay: boolean;
  /** set once its last call settled after it was closed */
  finishing?: Promise<void>;
}

/** Where a journaled call is, so that its outcome can be settled. */
export interface JournalEntry {
  readonly segment: Segment;
  /** the intent is on disk (or could not be put there, which is logged) */
  readonly durable: Promise<void>;
  readonly requestId: string;
  readonly workspaceId: string;
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
  private opening?: Promise<Segment>;
  /** segments not yet deleted or handed to the replay */
  private readonly live = new Set<Segment>();
  private readonly finishing = new Set<Promise<void>>();
  private readonly settling = new Set<Promise<void>>();
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

  /**
   * Journals a call's intent before it goes upstream. The write and its sync run off the event
   * loop while the upstream works; `durable` says when the intent is on disk. From now on the call
   * is on the record whatever happens to this process: a segment left with an intent and no
   * outcome is recorded INTERRUPTED at replay.
   */
  intend(intent: CallIntent): JournalEntry {
    const line: JournalLine = { t: 'intent', ...intent, occurredAt: intent.occurredAt.toISOString() };
    const entry = { requestId: intent.requestId, workspaceId: intent.workspaceId } as { segment: Segment; durable: Promise<void>; requestId: string; workspaceId: string };
    // Placed in the open segment at once, so that a rotation cannot close it under the call.
    const place = (segment: Segment) => {
      segment.unsettled += 1;
      segment.entries += 1;
      entry.segment = segment;
      return this.append(segment, line);
    };
    const written = this.current ? place(this.current) : this.segment().then(place);
    entry.durable = written.catch((error: Error) => {
      this.log.error({ requestId: intent.requestId, reason: error.message }, 'call intent not journaled: the call is on the record only once it completes');
    });
    return entry;
  }

  /**
   * Appends the call's outcome beside its intent: the completed call to record, or nothing to
   * record (`call` undefined). Synced in the next group commit; the caller need not wait for it.
   */
  async conclude(entry: JournalEntry, call: InferenceCall | undefined): Promise<void> {
    await entry.durable;
    if (!entry.segment) return;
    const line: JournalLine = call
      ? { ...call, occurredAt: (call.occurredAt ?? new Date()).toISOString() }
      : { t: 'void', requestId: entry.requestId, workspaceId: entry.workspaceId };
    await this.append(entry.segment, line).catch((error: Error) => {
      this.log.error({ requestId: entry.requestId, reason: error.message }, 'call outcome not journaled');
    });
  }

  /** `settle`, once the call's outcome is in the journal; a stop waits for it. */
  settleAfter(concluded: Promise<void>, entry: JournalEntry, call: { requestId: string; workspaceId: string }, reachedDatabase: boolean): void {
    const settling = concluded.then(() => this.settle(entry, call, reachedDatabase));
    this.settling.add(settling);
    void settling.finally(() => this.settling.delete(settling));
  }

  /** The call's record was written (or kept aside): `reachedDatabase`; otherwise it is replayed later. */
  settle(entry: JournalEntry, call: { requestId: string; workspaceId: string }, reachedDatabase: boolean): void {
    const { segment } = entry;
    if (!segment) return;
    segment.unsettled -= 1;
    if (!reachedDatabase) {
      segment.needsReplay = true;
      this.log.warn({ requestId: call.requestId, workspaceId: call.workspaceId }, 'database unavailable: call spooled for replay');
    }
    this.finish(segment);
  }

  /**
   * A call answered upstream that the recorder refused for good (no price in effect, a conflicting
   * duplicate, implausible numbers): kept aside for an operator, counted in /readyz and the
   * metrics, never dropped.
   */
  async keepAside(call: InferenceCall, error: Error): Promise<void> {
    const line = JSON.stringify({ ...call, occurredAt: (call.occurredAt ?? new Date()).toISOString() });
    const target = join(this.dir, `${UNRECORDABLE_PREFIX}${Date.now()}-${this.instance}.jsonl`);
    const fd = await openAsync(target, 'a', 0o600);
    try {
      await writeAsync(fd, `${line}\n`);
      await fsyncAsync(fd);
    } finally {
      await closeAsync(fd);
    }
    this.log.error({ requestId: call.requestId, reason: error.message, keptIn: target }, 'answered call refused by the recorder; kept aside for an operator');
  }

  /**
   * Whether a failure to record the call should leave it to the replay: a retryable error, or a
   * database that does not answer at all. Otherwise the database answered and refused it.
   */
  async shouldReplay(error: unknown): Promise<boolean> {
    return isRetryable(error) || !(await this.databaseAnswers().catch(() => false));
  }

  private async append(segment: Segment, line: JournalLine): Promise<void> {
    await writeAsync(segment.fd, `${JSON.stringify(line)}\n`);
    await segment.sync.sync();
  }

  private segment(): Promise<Segment> {
    if (this.current) return Promise.resolve(this.current);
    this.opening ??= this.openSegment().then(
      (segment) => {
        this.current = segment;
        this.opening = undefined;
        return segment;
      },
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  start(): void {
    // A failed round is retried on the next tick; it must never become an unhandled rejection.
    const tick = () =>
      void this.replay().catch((error: Error) => this.log.error({ reason: error.message }, 'spool replay failed; retried on the next tick'));
    this.timer = setInterval(tick, REPLAY_INTERVAL_MS);
    this.timer.unref();
    this.rotation = setInterval(() => {
      this.touchOpenSegments();
      void this.rotate().catch((error: Error) => this.log.error({ reason: error.message }, 'journal rotation failed'));
    }, SEGMENT_MS);
    this.rotation.unref();
    tick();
  }

  /** After the server has finished its requests: every call journaled by then has settled. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.rotation) clearInterval(this.rotation);
    await this.rotating?.catch(() => undefined);
    await this.opening?.catch(() => undefined);
    await Promise.all([...this.settling]);
    this.closeCurrent();
    await Promise.all([...this.finishing]);
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

  /** A new segment, made off the event loop: its name is durable only once its directory is synced. */
  private async openSegment(): Promise<Segment> {
    const path = this.nextSegmentPath();
    const fd = await openAsync(path, 'a', 0o600);
    const dir = await openAsync(this.dir, 'r');
    try {
      await fsyncAsync(dir);
    } finally {
      await closeAsync(dir);
    }
    const segment: Segment = { path, fd, sync: new GroupSync(fd, (seconds) => this.metrics.journalSynced(seconds)), openedAt: Date.now(), entries: 0, closed: false, unsettled: 0, needsReplay: false };
    this.live.add(segment);
    return segment;
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
      this.current = await this.openSegment();
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
    if (!segment.closed || segment.unsettled > 0 || segment.finishing) return;
    const finishing = (async () => {
      await segment.sync.idle();
      await closeAsync(segment.fd);
      if (segment.needsReplay) await renameAsync(segment.path, join(this.dir, `${SPOOL_PREFIX}${segment.path.slice(segment.path.lastIndexOf(JOURNAL_PREFIX) + JOURNAL_PREFIX.length)}`));
      else await unlinkAsync(segment.path);
    })().catch((error: Error) => this.log.error({ reason: error.message, path: segment.path }, 'journal segment not finished; the replay takes it once this process is gone'));
    segment.finishing = finishing;
    this.live.delete(segment);
    this.finishing.add(finishing);
    void finishing.finally(() => this.finishing.delete(finishing));
  }

  /**
   * Segments holding calls still in flight (a two-minute stream, say) are touched now and then,
   * so that other workers sharing DATA_DIR never take them for a dead process's.
   */
  private touchOpenSegments(): void {
    const now = new Date();
    for (const segment of this.live) {
      if (segment.unsettled > 0) void futimesAsync(segment.fd, now, now).catch(() => undefined);
    }
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
    for (const { call, line, interrupted } of callsToRecord(lines, () => this.log.error({ path }, 'unreadable spool line skipped (a write torn by a crash)'))) {
      try {
        await this.recorder.record(call);
      } catch (error) {
        if (await this.shouldReplay(error)) return false;
        if (interrupted && (error as { code?: unknown }).code === 'CONFLICT') {
          // Its completion reached the database though not the journal: the call is on the record.
          continue;
        }
        // The database is there and refuses this call: waiting would block every call after it.
        this.keepUnrecordable(path, line, call.requestId, error as Error);
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
