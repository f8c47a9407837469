import { Connection, createConnection } from 'mysql2/promise';
import type { BenchDatabase } from './suite';

export const DEFAULT_BENCH_DATABASE_URL = 'mysql://root@127.0.0.1:3306/byok_bench';

export interface PreparedDatabase {
  database: BenchDatabase;
  /**
   * Drops and creates the database again, so each suite starts on an empty one: suites start the
   * service with secrets of their own, and a blob left by another suite would stop it in production.
   */
  recreate(): Promise<void>;
  /** drops the benchmark database again (nothing to do on SQLite: suites use temporary dirs) */
  drop(): Promise<void>;
  /** why the run is not on the requested server, when it is not */
  fallbackReason?: string;
}

function databaseNameOf(url: URL): string {
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`BENCH_DATABASE_URL must name a database of letters, digits and _ (got "${name}")`);
  return name;
}

/**
 * Creates the benchmark database afresh on the server BENCH_DATABASE_URL names (dropping a
 * leftover from an interrupted run), holding a server-side lock on its name until drop(), so that
 * a second concurrent run on the same database refuses to start instead of corrupting this one.
 * When the server cannot be reached, falls back to embedded SQLite and says so: the figures are
 * then not comparable with the MariaDB target.
 */
export async function prepareBenchDatabase(rawUrl: string): Promise<PreparedDatabase> {
  const url = new URL(rawUrl.replace(/^mariadb:/, 'mysql:'));
  const name = databaseNameOf(url);
  const serverUrl = new URL(url);
  serverUrl.pathname = '/';
  let admin: Connection;
  try {
    admin = await createConnection({ uri: serverUrl.toString(), connectTimeout: 5_000 });
  } catch (error) {
    const where = `${url.hostname}:${url.port || 3306}`;
    return {
      database: { kind: 'sqlite', version: `better-sqlite3 (SQLite ${await sqliteVersion()})` },
      recreate: async () => undefined,
      drop: async () => undefined,
      fallbackReason: `MariaDB/MySQL at ${where} is unreachable (${(error as Error).message}); falling back to embedded SQLite. Start the server or set BENCH_DATABASE_URL to measure against the target database.`,
    };
  }
  // The connection holds a named lock for the whole run: two runs on one database would drop each
  // other's tables mid-measurement (a member's query then answers FORBIDDEN: the likely cause of
  // one failed run on this shared machine).
  const dropDatabase = () => admin.query(`DROP DATABASE IF EXISTS \`${name}\``).then(() => undefined);
  const createDatabase = async () => {
    await dropDatabase();
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  };
  try {
    const [locked] = await admin.query('SELECT GET_LOCK(?, 0) AS got', [`byok-bench:${name}`]);
    if (Number((locked as Array<{ got: number | null }>)[0]?.got) !== 1) {
      throw new Error(`another benchmark run is using database ${name} on ${url.host}; wait for it, or set BENCH_DATABASE_URL to another database name`);
    }
    const [rows] = await admin.query('SELECT VERSION() AS version');
    const version = String((rows as Array<{ version: string }>)[0]?.version);
    await createDatabase();
    return {
      database: { url: url.toString(), kind: /mariadb/i.test(version) ? 'mariadb' : 'mysql', version },
      recreate: createDatabase,
      drop: async () => {
        try {
          await dropDatabase();
        } finally {
          await admin.end();
        }
      },
    };
  } catch (error) {
    await admin.end();
    throw error;
  }
}

async function sqliteVersion(): Promise<string> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(':memory:');
  try {
    return (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  } finally {
    db.close();
  }
}
