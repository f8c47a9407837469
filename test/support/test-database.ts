import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
