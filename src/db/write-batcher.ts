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
 * an idle one writes an item as soon as the current tick ends.
 *
 * `write` settles each item of a batch on its own. When it throws instead, a statement failed
 * (`QueryFailedError`, the server answered) and every item is written again alone, so one bad
 * item cannot fail the others; any other failure (the database is unreachable) fails them all.
 */
export class WriteBatcher<I, O> {
  private pending: Array<Entry<I, O>> = [];
  private draining = false;

  constructor(
    private readonly write: (items: I[]) => Promise<Array<Settled<O>>>,
    private readonly maxBatch: number,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
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
