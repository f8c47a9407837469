import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { sqlDialectOf } from '../../src/db/data-source';

/**
 * Searches text and database rows for a secret, including the forms it takes when a careless
 * encoder got hold of it: hex, base64 at any byte alignment, base64url, or just a fragment.
 */

/** A fresh key that passes validation and cannot occur anywhere by chance. */
export function canaryKey(): string {
  return `sk-or-v1-${randomBytes(32).toString('hex')}`;
}

const WINDOW = 16;

/** Base64 of `bytes` as it would appear inside a longer encoding starting 0, 1 or 2 bytes earlier. */
function base64Cores(bytes: Buffer, encoding: 'base64' | 'base64url'): string[] {
  return [0, 1, 2].map((offset) => Buffer.concat([Buffer.alloc(offset), bytes]).toString(encoding).slice(4, -4));
}

/**
 * What to look for. The masked hint (first 8 and last 4 characters) is meant to be shown, so only
 * the part between them counts, and any 16-character window of it is a leak.
 */
export function leakFormsOf(secret: string): string[] {
  const hidden = secret.slice(8, -4);
  const windows = Array.from({ length: Math.max(1, hidden.length - WINDOW + 1) }, (_, i) => hidden.slice(i, i + WINDOW));
  const encoded = [Buffer.from(secret), Buffer.from(hidden)].flatMap((bytes) => [
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    ...base64Cores(bytes, 'base64'),
    ...base64Cores(bytes, 'base64url'),
  ]);
  return [...new Set([...windows, ...encoded])];
}

/** The first form of `secret` found in `haystack`, or undefined. */
export function findLeak(haystack: string, secret: string): string | undefined {
  return leakFormsOf(secret).find((form) => haystack.includes(form));
}

/** A value as text, with binary spelled out every way a reader might decode it. */
export function searchableText(value: unknown): string {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    const bytes = Buffer.from(value);
    return ['utf8', 'latin1', 'hex', 'base64', 'base64url'].map((encoding) => bytes.toString(encoding as BufferEncoding)).join('\n');
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(searchableText).join('\n');
  if (value !== null && typeof value === 'object') {
    return Object.entries(value)
      .map(([name, inner]) => `${name}=${searchableText(inner)}`)
      .join('\n');
  }
  const text = String(value);
  // Text that is itself an encoding is decoded too, so a secret stored as base64 text is found.
  const decoded: string[] = [];
  if (/^[A-Za-z0-9+/_=-]{16,}$/.test(text)) decoded.push(Buffer.from(text, 'base64').toString('latin1'));
  if (/^([0-9a-fA-F]{2}){8,}$/.test(text)) decoded.push(Buffer.from(text, 'hex').toString('latin1'));
  return [text, ...decoded].join('\n');
}

/** Every row of every table in the database, by table name. */
export async function dumpAllTables(dataSource: DataSource): Promise<Record<string, unknown[]>> {
  const mysql = sqlDialectOf(dataSource).name === 'mysql';
  const tables: Array<{ name: string }> = await dataSource.query(
    mysql
      ? 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()'
      : "SELECT name FROM sqlite_master WHERE type = 'table'",
  );
  const dump: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    dump[name] = await dataSource.query(mysql ? `SELECT * FROM \`${name}\`` : `SELECT * FROM "${name}"`);
  }
  return dump;
}
