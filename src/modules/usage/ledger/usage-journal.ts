import { randomBytes } from 'node:crypto';
import { close, fsync, futimes, mkdirSync, open, rename, unlink } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { GatewayMetrics, NO_GATEWAY_METRICS } from '../../../metrics/gateway.metrics';
import { DURABLE_APPEND_FLAGS, GroupWrite } from './group-write';
import { CallIntent, completedLine, JOURNAL_PREFIX, JournalLine, SPOOL_PREFIX, UNRECORDABLE_PREFIX } from './journal-lines';
import { keepAside } from './kept-aside';
import type { InferenceCall } from '../usage-recorder.service';

/** A journal segment takes the calls of about this long before the next one replaces it. */
const SEGMENT_MS = 1_000;

const openAsync = promisify(open);
const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);
const renameAsync = promisify(rename);
const unlinkAsync = promisify(unlink);
const futimesAsync = promisify(futimes);

interface Segment {
  path: string;
  fd: number;
  writes: GroupWrite;
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

/**
 * The gateway's write-ahead journal in DATA_DIR: each call's intent before it goes upstream, its
 * outcome when it ends, in segment files written durably (O_DSYNC) and in groups off the event loop. A
 * segment whose calls all reached the database is deleted; one with a call the database could not
 * take becomes a spool file, which `JournalReplay` records.
 */
export class UsageJournal {
  /** in every segment's name: the replay leaves this process's own segments alone */
  readonly instance = `${process.pid}-${Date.now()}-${randomBytes(4).toString('hex')}`;
  private current?: Segment;
  private opening?: Promise<Segment>;
  /** segments not yet deleted or handed to the replay */
  private readonly live = new Set<Segment>();
  private readonly finishing = new Set<Promise<void>>();
  private readonly settling = new Set<Promise<void>>();
  private sequence = 0;
  private rotation?: NodeJS.Timeout;
  private rotating?: Promise<void>;
  private metrics: GatewayMetrics = NO_GATEWAY_METRICS;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Journal syncs are timed from now on, and the spooled and kept-aside files counted when scraped. */
  reportTo(metrics: GatewayMetrics): void {
    this.metrics = metrics;
    metrics.watchLedgerFiles({ spooled: async () => (await this.pendingFiles()).length, keptAside: async () => (await this.unrecordableFiles()).length });
  }

  /**
   * Journals a call's intent before it goes upstream. The durable write runs off the event
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
    const line: JournalLine = call ? completedLine(call) : { t: 'void', requestId: entry.requestId, workspaceId: entry.workspaceId };
    await this.append(entry.segment, line).catch((error: Error) => {
      this.log.error({ requestId: entry.requestId, reason: error.message }, 'call outcome not journaled');
    });
  }

  /**
   * Once the call's outcome is in the journal: its record was written (or kept aside),
   * `reachedDatabase`; otherwise the segment is replayed later. A stop waits for it.
   */
  settleAfter(concluded: Promise<void>, entry: JournalEntry, reachedDatabase: boolean): void {
    const settling = concluded.then(() => this.settle(entry, reachedDatabase));
    this.settling.add(settling);
    void settling.finally(() => this.settling.delete(settling));
  }

  private settle(entry: JournalEntry, reachedDatabase: boolean): void {
    const { segment } = entry;
    if (!segment) return;
    segment.unsettled -= 1;
    if (!reachedDatabase) {
      segment.needsReplay = true;
      this.log.warn({ requestId: entry.requestId, workspaceId: entry.workspaceId }, 'database unavailable: call spooled for replay');
    }
    this.finish(segment);
  }

  /**
   * A call answered upstream that the recorder refused for good (no price in effect, a conflicting
   * duplicate, implausible numbers): kept aside for an operator, counted in /readyz and the
   * metrics, never dropped.
   */
  async keepAside(call: InferenceCall, error: Error): Promise<void> {
    const target = join(this.dir, `${UNRECORDABLE_PREFIX}${Date.now()}-${this.instance}.jsonl`);
    await keepAside(target, JSON.stringify(completedLine(call)));
    this.log.error({ requestId: call.requestId, reason: error.message, keptIn: target }, 'answered call refused by the recorder; kept aside for an operator');
  }

  /** Rotates segments from now on. */
  start(): void {
    this.rotation = setInterval(() => {
      this.touchOpenSegments();
      void this.rotate().catch((error: Error) => this.log.error({ reason: error.message }, 'journal rotation failed'));
    }, SEGMENT_MS);
    this.rotation.unref();
  }

  /** After the server has finished its requests: every call journaled by then has settled and its segment is finished. */
  async stop(): Promise<void> {
    if (this.rotation) clearInterval(this.rotation);
    await this.rotating?.catch(() => undefined);
    await this.opening?.catch(() => undefined);
    await Promise.all([...this.settling]);
    this.closeCurrent();
    await Promise.all([...this.finishing]);
  }

  /** Files of calls that failed to record while the database answered: they need an operator. */
  async unrecordableFiles(): Promise<string[]> {
    return (await readdir(this.dir)).filter((name) => name.startsWith(UNRECORDABLE_PREFIX));
  }

  /** Files waiting to be replayed. */
  async pendingFiles(): Promise<string[]> {
    return (await readdir(this.dir)).filter((name) => name.startsWith(SPOOL_PREFIX)).sort();
  }

  private async append(segment: Segment, line: JournalLine): Promise<void> {
    await segment.writes.append(`${JSON.stringify(line)}\n`);
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

  /** A new segment, made off the event loop: its name is durable only once its directory is synced. */
  private async openSegment(): Promise<Segment> {
    this.sequence += 1;
    const path = join(this.dir, `${JOURNAL_PREFIX}${Date.now()}-${this.instance}-${this.sequence}.jsonl`);
    const fd = await openAsync(path, DURABLE_APPEND_FLAGS, 0o600);
    const dir = await openAsync(this.dir, 'r');
    try {
      await fsyncAsync(dir);
    } finally {
      await closeAsync(dir);
    }
    const segment: Segment = { path, fd, writes: new GroupWrite(fd, (seconds) => this.metrics.journalSynced(seconds)), openedAt: Date.now(), entries: 0, closed: false, unsettled: 0, needsReplay: false };
    this.live.add(segment);
    return segment;
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
      await segment.writes.idle();
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
}
