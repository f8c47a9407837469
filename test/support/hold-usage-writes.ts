import { createConnection } from 'mysql2/promise';
import type { TestApp } from './test-app';

/**
 * Keeps usage records from being written until released: on SQLite by holding the one
 * connection's transaction queue, on MySQL by locking the rollup table from another session
 * (which also stalls every read of the rollups).
 */
export async function holdUsageWrites(t: TestApp): Promise<() => Promise<void>> {
  const url = t.db.databaseUrl;
  if (!url) {
    let release!: () => void;
    const held = new Promise<void>((resolveHeld) => {
      release = resolveHeld;
    });
    let started!: () => void;
    const running = new Promise<void>((resolveRunning) => {
      started = resolveRunning;
    });
    const holder = t.app.seam.transactions.run(async () => {
      started();
      await held;
    });
    await running;
    return async () => {
      release();
      await holder;
    };
  }
  const session = await createConnection({ uri: url });
  await session.query('LOCK TABLES usage_rollup WRITE');
  return async () => {
    await session.query('UNLOCK TABLES');
    await session.end();
  };
}
