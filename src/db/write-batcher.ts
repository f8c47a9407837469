import { QueryFailedError } from 'typeorm';

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface Entry<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/**
 * Group commit for writes. Items submitted while a batch is being written wait and go together
 * in the next one, so a busy worker pays one transaction per batch rather than one per item, and
 * an idle one writes an item as soon as the current tick ends, or, when its submitter allows a
 * linger, once that has passed: items arriving meanwhile share its transaction (a commit delay, as
 * MySQL's binlog_group_commit_sync_delay), which saves a lightly loaded worker a transaction's
 * round trips per item. An item without a linger ends the wait for all.
 *
 * `write` settles each item of a batch on its own. When it throws instead, a statement failed
 * (`QueryFailedError`, the server answered) and every item is written again alone, so one bad
 * item cannot fail the others; any other failure (the database is unreachable) fails them all.
 */
export class WriteBatcher<I, O> {
  private pending: Array<Entry<I, O>> = [];
  private draining = false;
  private lingering?: NodeJS.Timeout;

  constructor(
    private readonly write: (items: I[]) => Promise<Array<Settled<O>>>,
    private readonly maxBatch: number,
  ) {}

  /** `lingerMs`: how long the item may wait for others to join its batch when none is being written. */
  submit(item: I, lingerMs = 0): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.draining) return;
      if (lingerMs > 0) this.lingering ??= setTimeout(() => this.startDrain(), lingerMs);
      else this.startDrain();
    });
  }

  private startDrain(): void {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    this.draining = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, this.maxBatch);
        await this.writeBatch(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  private async writeBatch(batch: Array<Entry<I, O>>): Promise<void> {
    let outcomes: Array<Settled<O>>;
    try {
      outcomes = await this.write(batch.map((entry) => entry.item));
    } catch (error) {
      if (batch.length > 1 && error instanceof QueryFailedError) {
        for (const entry of batch) await this.writeBatch([entry]);
        return;
      }
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => {
      const outcome = outcomes[index];
      if (outcome.ok) entry.resolve(outcome.value);
      else entry.reject(outcome.error);
    });
  }
}
