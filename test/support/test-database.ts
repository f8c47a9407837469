import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createConnection } from 'mysql2/promise';

/**
 * A fresh, empty database for one test file: a temporary SQLite directory by default, or a new
 * database on the server named by TEST_DATABASE_URL (mysql://… — MariaDB or MySQL).
 */
export interface TestDatabase {
  /** undefined for SQLite */
  databaseUrl?: string;
  dataDir: string;
  kind: 'sqlite' | 'mysql';
  drop(): Promise<void>;
}

export const usingMysql = () => Boolean(process.env.TEST_DATABASE_URL);

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'byok-test-'));
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    return { dataDir, kind: 'sqlite', drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const name = `byok_test_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = await createConnection({ uri: serverUrl });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    dataDir,
    kind: 'mysql',
    drop: async () => {
      const connection = await createConnection({ uri: serverUrl });
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await connection.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs one statement on `db` from outside every service under test (a connection of its own), so
 * checks see what was committed, whatever state the services' connections are in.
 */
export async function queryOutside<T>(db: TestDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  if (db.kind === 'sqlite') {
    const reader = new Database(join(db.dataDir, 'service.sqlite'), { readonly: true });
    try {
      return reader.prepare(sql).all(...params) as T[];
    } finally {
      reader.close();
    }
  }
  const session = await createConnection({ uri: db.databaseUrl as string });
  try {
    const [rows] = await session.query(sql, params);
    return rows as T[];
  } finally {
    await session.end();
  }
}

/** How many usage records carry `requestId`. */
export async function recordsWithRequestId(db: TestDatabase, requestId: string): Promise<number> {
  const [row] = await queryOutside<{ n: number | string }>(db, 'SELECT COUNT(*) AS n FROM usage_record WHERE request_id = ?', [requestId]);
  return Number(row.n);
}
