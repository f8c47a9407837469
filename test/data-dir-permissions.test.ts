import { chmodSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { seedWorkspace } from './support/fixtures';
import { startTestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

/** SPEC.md "Hostile input": DATA_DIR is created 0700, database and journal files 0600. */
const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('DATA_DIR permissions', () => {
  let umask: number;
  beforeAll(() => {
    // Whatever the operator's umask: the modes are the service's own.
    umask = process.umask(0o000);
  });
  afterAll(() => process.umask(umask));

  it.each([
    ['a new DATA_DIR', false],
    ['an existing DATA_DIR left open to everyone', true],
  ])('%s ends up 0700 with its database and journal files 0600', async (_name, existing) => {
    const db = await createTestDatabase();
    const dataDir = join(db.dataDir, 'data');
    if (existing) {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dataDir, { mode: 0o777 });
      chmodSync(dataDir, 0o777);
    }
    const t = await startTestApp({ db: { ...db, dataDir } });
    try {
      await seedWorkspace(t);
      expect(modeOf(dataDir)).toBe(0o700);
      const files = readdirSync(dataDir);
      if (db.kind === 'sqlite') expect(files).toEqual(expect.arrayContaining(['service.sqlite']));
      for (const file of files) {
        const path = join(dataDir, file);
        if (statSync(path).isFile()) expect([file, modeOf(path)]).toEqual([file, 0o600]);
      }
      if (db.kind === 'sqlite') expect(existsSync(join(dataDir, 'service.sqlite-wal'))).toBe(true);
    } finally {
      await t.close();
      await db.drop();
    }
  });
});
