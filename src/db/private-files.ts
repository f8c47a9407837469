import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';

/**
 * DATA_DIR holds the database, the usage journal and development secrets: only the service's user
 * may list or read it (0700), whatever the umask, and an existing directory is tightened too.
 */
export function ensurePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * The SQLite file created 0600 before SQLite opens it: SQLite gives its -wal, -shm and -journal
 * files the mode of the database file. Files left by an older version are tightened.
 */
export function ensurePrivateDatabaseFiles(databaseFile: string): void {
  if (!existsSync(databaseFile)) closeSync(openSync(databaseFile, 'a', 0o600));
  for (const file of [databaseFile, `${databaseFile}-wal`, `${databaseFile}-shm`, `${databaseFile}-journal`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}
