import type { AppConfig } from '../../src/config/config';
import { TcpProxy } from './tcp-proxy';
import { startTestApp, TestApp } from './test-app';
import type { TestDatabase } from './test-database';

/** A running service whose database a fault test can take away and give back. */
export interface CuttableApp {
  t: TestApp;
  /** the database goes away: every connection dropped, new ones refused */
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** MySQL only: the database stops answering but no connection breaks (`restore()` after a `cut()` ends it) */
  stall?(): void;
  /** stops the service (the database back first, so it closes as usual) and the proxy; `db` stays */
  close(): Promise<void>;
}

/**
 * Starts the service on `db` so that a test can take its database away. On MariaDB/MySQL the
 * service reaches it through a TCP proxy that is cut, as when the database host goes away. SQLite
 * has no server to lose: the service's own connection is closed under it and opened again.
 */
export async function startCuttableApp(db: TestDatabase, overrides: Partial<AppConfig> = {}): Promise<CuttableApp> {
  if (db.kind === 'mysql') {
    const target = new URL(db.databaseUrl as string);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
    await proxy.start();
    const viaProxy = new URL(target);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const t = await startTestApp({ db: { ...db, databaseUrl: viaProxy.toString() }, overrides });
    return {
      t,
      cut: () => proxy.cut(),
      restore: () => proxy.restore(),
      stall: () => proxy.stall(),
      async close() {
        await proxy.restore();
        await t.close();
        await proxy.stop();
      },
    };
  }
  const t = await startTestApp({ db, overrides });
  return {
    t,
    cut: () => t.app.dataSource.destroy(),
    restore: async () => void (await t.app.dataSource.initialize()),
    async close() {
      if (!t.app.dataSource.isInitialized) await t.app.dataSource.initialize();
      await t.close();
    },
  };
}
