import { constants, fdatasync, write } from 'node:fs';
import { promisify } from 'node:util';

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);

/**
 * How the journal opens its files. With O_DSYNC (Linux, macOS) a write returns once its data is on
 * disk, so a batch costs one thread-pool job: write and sync together, and the event loop hears
 * back once. Where the platform has no O_DSYNC an fdatasync follows each batch's write instead.
 */
export const DURABLE_APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (constants.O_DSYNC ?? 0);
const SYNC_AFTER_WRITE = constants.O_DSYNC === undefined;

/**
 * Durable appends with one write() per batch (group commit): the first append is written at once,
 * and those that arrive while a write runs go together in the next. Under load the journal then
 * pays one thread-pool round trip and one disk flush for many calls' lines instead of one each.
 * The file must be opened with DURABLE_APPEND_FLAGS.
 */
export class GroupWrite {
  private pending: string[] = [];
  private waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private writing?: Promise<void>;

  /** `committed`: told each batch's duration, write and flush, in seconds */
  constructor(
    private readonly fd: number,
    private readonly committed: (seconds: number) => void,
  ) {}

  /** Resolves once `text` is on disk. */
  append(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push(text);
      this.waiting.push({ resolve, reject });
      if (!this.writing) this.flush();
    });
  }

  /** Resolves once every append asked for so far is on disk or has failed. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private flush(): void {
    const buffer = Buffer.from(this.pending.join(''), 'utf8');
    const waiting = this.waiting;
    this.pending = [];
    this.waiting = [];
    const started = process.hrtime.bigint();
    this.writing = writeDurably(this.fd, buffer)
      .then(
        () => {
          this.committed(Number(process.hrtime.bigint() - started) / 1e9);
          waiting.forEach((waiter) => waiter.resolve());
        },
        (error: unknown) => waiting.forEach((waiter) => waiter.reject(error)),
      )
      .finally(() => {
        this.writing = undefined;
        if (this.pending.length > 0) this.flush();
      });
  }
}

/** A write to a regular file may still be short (a full disk, a signal): the rest follows, never a torn line. */
async function writeDurably(fd: number, buffer: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesWritten } = await writeAsync(fd, buffer, offset, buffer.length - offset);
    if (bytesWritten === 0) throw new Error('journal write made no progress');
    offset += bytesWritten;
  }
  if (SYNC_AFTER_WRITE) await fdatasyncAsync(fd);
}
