import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AppError } from '../../graphql/app-error';
import type { InferenceCall, UsageRecorderService } from '../usage/usage-recorder.service';

const SPOOL_PREFIX = 'usage-spool-';
const REPLAYING_PREFIX = 'usage-spool-replaying-';
const REPLAY_INTERVAL_MS = 2_000;

type SpooledCall = Omit<InferenceCall, 'occurredAt'> & { occurredAt: string };

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * A durable local queue for completed calls the database could not take: each is appended to a
 * file in DATA_DIR and fsync'd before the client is answered, then replayed in order, idempotently
 * (the record is keyed by its request id), once the database answers again — at start-up too.
 */
export class UsageSpool {
  private readonly file: string;
  private timer?: NodeJS.Timeout;
  private replaying?: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly recorder: UsageRecorderService,
    private readonly log: Logger,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${SPOOL_PREFIX}${process.pid}.jsonl`);
  }

  append(call: InferenceCall): void {
    const line = `${JSON.stringify({ ...call, occurredAt: (call.occurredAt ?? new Date()).toISOString() })}\n`;
    const fd = openSync(this.file, 'a', 0o600);
    try {
      writeSync(fd, line);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.log.warn({ requestId: call.requestId, workspaceId: call.workspaceId }, 'database unavailable: call spooled for replay');
  }

  start(): void {
    // A failed round is retried on the next tick; it must never become an unhandled rejection.
    const tick = () =>
      void this.replay().catch((error: Error) => this.log.error({ reason: error.message }, 'spool replay failed; retried on the next tick'));
    this.timer = setInterval(tick, REPLAY_INTERVAL_MS);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.replaying?.catch(() => undefined); // a failed round is logged where it ran
  }

  /**
   * Replays every spool file in this directory (this process's and any left by others). Workers
   * sharing DATA_DIR may replay a claimed file at the same time (one claimed it, another finds it
   * left over); recording is idempotent, so the only care needed is that either may remove it first.
   */
  replay(): Promise<void> {
    this.replaying ??= this.replayAll().finally(() => {
      this.replaying = undefined;
    });
    return this.replaying;
  }

  pendingFiles(): string[] {
    return readdirSync(this.dir).filter((name) => name.startsWith(SPOOL_PREFIX)).sort();
  }

  private async replayAll(): Promise<void> {
    for (const name of this.pendingFiles()) {
      const claimed = name.startsWith(REPLAYING_PREFIX) ? join(this.dir, name) : this.claim(name);
      if (!claimed) continue;
      if (!(await this.replayFile(claimed))) return;
    }
  }

  /** Renaming claims a file atomically: appends go to a fresh file meanwhile, and no two replayers share one. */
  private claim(name: string): string | undefined {
    const target = join(this.dir, `${REPLAYING_PREFIX}${Date.now()}-${process.pid}-${name.slice(SPOOL_PREFIX.length)}`);
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
        return false;
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
