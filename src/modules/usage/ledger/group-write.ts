import { write } from 'node:fs';
import { promisify } from 'node:util';

const writeAsync = promisify(write);

/**
 * Appends text to a file with one write() per batch: the first append is written at once, and
 * those that arrive while a write runs go together in the next. Under load the journal then pays
 * one thread-pool round trip for many calls' lines instead of one each.
 */
export class GroupWrite {
  /** write() calls made so far: fewer than appends once appends overlap */
  batches = 0;
  private pending: string[] = [];
  private waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private writing?: Promise<void>;

  constructor(private readonly fd: number) {}

  /** Resolves once `text` is in the file (not yet synced: see GroupSync). */
  append(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push(text);
      this.waiting.push({ resolve, reject });
      if (!this.writing) this.flush();
    });
  }

  /** Resolves once every append asked for so far is written or has failed. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private flush(): void {
    const buffer = Buffer.from(this.pending.join(''), 'utf8');
    const waiting = this.waiting;
    this.pending = [];
    this.waiting = [];
    this.batches += 1;
    this.writing = writeFully(this.fd, buffer)
      .then(
        () => waiting.forEach((waiter) => waiter.resolve()),
        (error: unknown) => waiting.forEach((waiter) => waiter.reject(error)),
      )
      .finally(() => {
        this.writing = undefined;
        if (this.pending.length > 0) this.flush();
      });
  }
}

/** A write to a regular file may still be short (a full disk, a signal): the rest follows, never a torn line. */
async function writeFully(fd: number, buffer: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesWritten } = await writeAsync(fd, buffer, offset, buffer.length - offset);
    if (bytesWritten === 0) throw new Error('journal write made no progress');
    offset += bytesWritten;
  }
}
