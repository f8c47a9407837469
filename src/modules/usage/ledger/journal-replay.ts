import { readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { isRetryable } from '../../../errors/app-error';
import { ErrorCode } from '../../../errors/error-code';
import { callsToRecord, isMissing, JOURNAL_PREFIX, originOf, REPLAYING_PREFIX, SPOOL_PREFIX, UNRECORDABLE_PREFIX } from './journal-lines';
import { keepAside } from './kept-aside';
import { recordCall } from './recording-failure';
import type { UsageRecorderService } from '../usage-recorder.service';

/**
 * A journal segment not written for this long, whose process may still be alive, was left by a
 * process that stopped before its records settled. A live process settles a segment within the
 * recording timeout (5 s) of its last call.
 */
const ABANDONED_AFTER_MS = 30_000;

function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export interface JournalReplayOptions {
  dir: string;
  recorder: Pick<UsageRecorderService, 'record'>;
  log: Logger;
  /** tells a database that is away from one that failed this one call */
  databaseAnswers: () => Promise<boolean>;
  /** this process's journal (`UsageJournal.instance`): its live segments are not abandoned */
  ownInstance: string;
}

/**
 * Records what journals left for the database: spool files, and the segments of processes that
 * stopped before their calls settled. In order and idempotently (a record is keyed by its request
 * id), so workers sharing DATA_DIR may meet the same file: renaming claims it, and either may
 * remove it first.
 */
export class JournalReplay {
  private replaying?: Promise<void>;

  constructor(private readonly options: JournalReplayOptions) {}

  /**
   * Whether a failure to record a call should leave it to the replay: a retryable error, or a
   * database that does not answer at all. Otherwise the database answered and refused it.
   */
  async shouldReplay(error: unknown): Promise<boolean> {
    return isRetryable(error) || !(await this.options.databaseAnswers().catch(() => false));
  }

  /** One round over every file waiting; a round already running is joined. */
  replay(): Promise<void> {
    this.replaying ??= this.replayAll().finally(() => {
      this.replaying = undefined;
    });
    return this.replaying;
  }

  /** Resolves once the round running (if any) has ended; its failure is logged where it ran. */
  async idle(): Promise<void> {
    await this.replaying?.catch(() => undefined);
  }

  private async replayAll(): Promise<void> {
    const names = await readdir(this.options.dir);
    const pending = names.filter((name) => name.startsWith(SPOOL_PREFIX));
    const files = [...(await this.abandonedJournals(names)), ...pending].sort((a, b) => (originOf(a) < originOf(b) ? -1 : 1));
    for (const name of files) {
      const claimed = name.startsWith(REPLAYING_PREFIX) ? join(this.options.dir, name) : await this.claim(name);
      if (!claimed) continue;
      if (!(await this.replayFile(claimed))) return;
    }
  }

  /** Journal segments of other processes that will never settle them. */
  private async abandonedJournals(names: readonly string[]): Promise<string[]> {
    const now = Date.now();
    const abandoned: string[] = [];
    for (const name of names) {
      if (!name.startsWith(JOURNAL_PREFIX) || name.includes(`-${this.options.ownInstance}-`)) continue;
      const pid = Number(name.slice(JOURNAL_PREFIX.length).split('-')[1]);
      if (Number.isSafeInteger(pid) && pid !== process.pid && processIsGone(pid)) {
        abandoned.push(name);
        continue;
      }
      try {
        if (now - (await stat(join(this.options.dir, name))).mtimeMs >= ABANDONED_AFTER_MS) abandoned.push(name);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    return abandoned.sort();
  }

  /** Renaming claims a file atomically: no two replayers share one. */
  private async claim(name: string): Promise<string | undefined> {
    const origin = name.startsWith(JOURNAL_PREFIX) ? name.slice(JOURNAL_PREFIX.length) : name.slice(SPOOL_PREFIX.length);
    const target = join(this.options.dir, `${REPLAYING_PREFIX}${Date.now()}-${process.pid}-${origin}`);
    try {
      await rename(join(this.options.dir, name), target);
      return target;
    } catch {
      return undefined;
    }
  }

  /** False when the database is still unavailable: the file stays for the next attempt. */
  private async replayFile(path: string): Promise<boolean> {
    const { log } = this.options;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (isMissing(error)) return true; // another worker finished it meanwhile
      throw error;
    }
    const lines = text.split('\n').filter(Boolean);
    for (const { call, line, interrupted } of callsToRecord(lines, () => log.error({ path }, 'unreadable spool line skipped (a write torn by a crash)'))) {
      try {
        await recordCall(this.options.recorder, call);
      } catch (error) {
        if (await this.shouldReplay(error)) return false;
        if (interrupted && (error as { code?: unknown }).code === ErrorCode.CONFLICT) {
          // Its completion reached the database though not the journal: the call is on the record.
          continue;
        }
        // The database is there and refuses this call: waiting would block every call after it.
        const target = join(this.options.dir, `${UNRECORDABLE_PREFIX}${originOf(basename(path))}`);
        await keepAside(target, line);
        log.error({ requestId: call.requestId, reason: (error as Error).message, keptIn: target }, 'spooled call could not be recorded though the database answers; kept aside for an operator');
      }
    }
    try {
      await unlink(path);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    log.info({ calls: lines.length }, 'spooled calls replayed');
    return true;
  }
}
