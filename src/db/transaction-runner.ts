import { DataSource, EntityManager } from 'typeorm';
import type { SqlDialect } from './dialect';

export interface UnitOfWork {
  afterCommit(effect: () => void): void;
}

/**
 * Failures that say "not now" rather than "not this": MySQL picked the transaction as a deadlock
 * victim or its lock wait ran out; SQLite found the file's write lock taken by another process
 * (a deferred transaction that read first cannot wait for it: it fails at once).
 */
const TRANSIENT = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT']);
const MAX_ATTEMPTS = 10;

export function isTransientDatabaseError(error: unknown): boolean {
  const code = (error as { driverError?: { code?: string }; code?: string })?.driverError?.code ?? (error as { code?: string })?.code;
  return code !== undefined && TRANSIENT.has(code);
}

/**
 * Runs units of work in database transactions.
 *
 * Where the dialect serialises writers (SQLite), transactions are queued one after another; on
 * MySQL each gets its own pooled connection. Either way a transaction that fails for a
 * transient reason (a deadlock, another process holding SQLite's write lock) is run again.
 */
export class TransactionRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly serialise: boolean;

  constructor(
    private readonly dataSource: DataSource,
    dialect: SqlDialect,
  ) {
    this.serialise = dialect.serialisesWriters;
  }

  /** For reads outside a transaction. */
  get manager(): EntityManager {
    return this.dataSource.manager;
  }

  /**
   * Runs `work` in a transaction. Effects registered with `afterCommit` (cache updates,
   * notifications) run only once the transaction has committed.
   */
  async run<T>(work: (manager: EntityManager, unit: UnitOfWork) => Promise<T>): Promise<T> {
    const attempt = async (): Promise<{ result: T; effects: Array<() => void> }> => {
      const effects: Array<() => void> = [];
      const result = await this.dataSource.transaction((manager) => work(manager, { afterCommit: (effect) => effects.push(effect) }));
      return { result, effects };
    };
    const { result, effects } = this.serialise ? await this.enqueue(() => this.withRetry(attempt)) : await this.withRetry(attempt);
    for (const effect of effects) effect();
    return result;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async withRetry<T>(task: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await task();
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !isTransientDatabaseError(error)) throw error;
        // 10, 20, 40 … 200 ms, with jitter: about 1.5 s in all before giving up
        await new Promise((resolveDelay) => setTimeout(resolveDelay, Math.min(5 * 2 ** attempt, 200) + Math.random() * 10));
      }
    }
  }
}
