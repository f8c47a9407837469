import { DataSource, EntityManager } from 'typeorm';
import { supportsRowLocks } from './data-source';

export interface UnitOfWork {
  afterCommit(effect: () => void): void;
}

const MYSQL_RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const MAX_ATTEMPTS = 5;

function isRetryable(error: unknown): boolean {
  const code = (error as { driverError?: { code?: string }; code?: string })?.driverError?.code ?? (error as { code?: string })?.code;
  return code !== undefined && MYSQL_RETRYABLE.has(code);
}

/**
 * Runs units of work in database transactions.
 *
 * TypeORM's SQLite drivers share one connection, where a second concurrent transaction would
 * silently nest inside the first; so on SQLite transactions are queued one after another.
 * On MySQL each gets its own pooled connection and is retried when the server picks it as a
 * deadlock victim.
 */
export class TransactionRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly serialise: boolean;

  constructor(private readonly dataSource: DataSource) {
    this.serialise = !supportsRowLocks(dataSource);
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
    const { result, effects } = this.serialise ? await this.enqueue(attempt) : await this.withRetry(attempt);
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
        if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
        await new Promise((resolveDelay) => setTimeout(resolveDelay, 5 * attempt + Math.random() * 10));
      }
    }
  }
}
