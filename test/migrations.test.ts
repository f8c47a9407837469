import type { DataSource } from 'typeorm';
import { createDataSource } from '../src/db/data-source';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * The migrations are the only thing that shapes the production schema (no synchronize), so they
 * must produce exactly what the entities describe, and every down() must really undo its up().
 */
describe('migrations', () => {
  let db: TestDatabase;
  let dataSource: DataSource;

  /** User tables, sorted; SQLite's own bookkeeping tables are not ours. */
  async function tables(): Promise<string[]> {
    const rows: Array<{ name: string }> =
      db.kind === 'sqlite'
        ? await dataSource.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        : await dataSource.query('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()');
    return rows.map((row) => row.name).sort();
  }

  /** What TypeORM would still change to make the database match the entities: nothing, we hope. */
  async function schemaDrift(): Promise<string[]> {
    const sql = await dataSource.driver.createSchemaBuilder().log();
    return sql.upQueries.map((query) => query.query);
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await createDataSource({ databaseUrl: db.databaseUrl, dataDir: db.dataDir });
    await dataSource.initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('apply in order on an empty database', async () => {
    expect(await dataSource.showMigrations()).toBe(true);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    expect(applied.map((migration) => migration.name)).toEqual(dataSource.migrations.map((migration) => migration.name));
    expect(await dataSource.showMigrations()).toBe(false);
  });

  it('leave a schema that matches the entities exactly', async () => {
    expect(await schemaDrift()).toEqual([]);
    // every entity's table exists (drift would say so too; this names them plainly)
    const present = await tables();
    for (const entity of dataSource.entityMetadatas) expect(present).toContain(entity.tableName);
  });

  it('compare every text column byte for byte: no case-, accent- or padding-insensitive collation', async () => {
    if (db.kind === 'mysql') {
      const columns: Array<{ name: string; collation: string }> = await dataSource.query(
        "SELECT CONCAT(table_name, '.', column_name) AS name, collation_name AS collation FROM information_schema.columns WHERE table_schema = DATABASE() AND collation_name IS NOT NULL AND table_name <> 'migrations'",
      );
      expect(columns.length).toBeGreaterThan(20);
      expect(columns.filter((column) => !['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'].includes(column.collation))).toEqual([]);
    } else {
      // SQLite compares BINARY unless a column or index says otherwise.
      const definitions: Array<{ sql: string }> = await dataSource.query("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'");
      expect(definitions.length).toBeGreaterThan(8);
      expect(definitions.filter((definition) => /COLLATE\s+(NOCASE|RTRIM)/i.test(definition.sql))).toEqual([]);
    }
  });

  it('1764870000000 moves each stored key\'s record out of tenant_secret, and its down() moves it back', async () => {
    let reverted = 0;
    while ((await tables()).includes('inference_key')) {
      await dataSource.undoLastMigration({ transaction: 'each' });
      reverted += 1;
    }
    const at = '2026-12-05 10:00:00.123';
    await dataSource.query("INSERT INTO workspace (id, name, plan, default_tier, byok_fallback, created_at) VALUES ('w-moved', 'Moved', 'ENTERPRISE', 'BALANCED', 'NONE', ?)", [at]);
    await dataSource.query(
      `INSERT INTO tenant_secret (workspace_id, ciphertext, key_id, openrouter_masked_hint, openrouter_status, openrouter_limit_micros, last_refusal_model, recheck_failures, updated_by, updated_at)
       VALUES ('w-moved', ?, 'abcd1234', 'sk-or-v1…abcd', 'LOW_CREDIT', 5000000, 'openai/gpt-4o', 2, 'owner-1', ?)`,
      [Buffer.from([1, 2, 3]), at],
    );
    const record = "SELECT workspace_id, openrouter_masked_hint, openrouter_status, openrouter_limit_micros, last_refusal_model, recheck_failures, updated_by FROM %s WHERE workspace_id = 'w-moved'";
    const moved = { workspace_id: 'w-moved', openrouter_masked_hint: 'sk-or-v1…abcd', openrouter_status: 'LOW_CREDIT', last_refusal_model: 'openai/gpt-4o', updated_by: 'owner-1' };
    const numbers = (rows: Array<Record<string, unknown>>) => rows.map((row) => ({ ...row, openrouter_limit_micros: Number(row.openrouter_limit_micros), recheck_failures: Number(row.recheck_failures) }));

    await dataSource.runMigrations({ transaction: 'each' });
    expect(numbers(await dataSource.query(record.replace('%s', 'inference_key')))).toEqual([{ ...moved, openrouter_limit_micros: 5000000, recheck_failures: 2 }]);
    const [blob] = await dataSource.query("SELECT * FROM tenant_secret WHERE workspace_id = 'w-moved'");
    expect(Object.keys(blob).sort()).toEqual(['ciphertext', 'key_id', 'updated_at', 'workspace_id']);

    for (let step = 0; step < reverted; step++) await dataSource.undoLastMigration({ transaction: 'each' });
    expect(numbers(await dataSource.query(record.replace('%s', 'tenant_secret')))).toEqual([{ ...moved, openrouter_limit_micros: 5000000, recheck_failures: 2 }]);
    await dataSource.query("DELETE FROM workspace WHERE id = 'w-moved'");
    await dataSource.runMigrations({ transaction: 'each' });
    expect(await schemaDrift()).toEqual([]);
  });

  it('revert one by one, each down() undoing its up(), until only the migrations table is left', async () => {
    const count = dataSource.migrations.length;
    let previous = await tables();
    for (let step = 0; step < count; step++) {
      await dataSource.undoLastMigration({ transaction: 'each' });
      const now = await tables();
      // a revert may drop tables or only columns and seed rows, but never creates a table
      expect(previous).toEqual(expect.arrayContaining(now));
      previous = now;
    }
    expect(await tables()).toEqual(['migrations']);
    expect(await dataSource.query('SELECT COUNT(*) AS n FROM migrations')).toEqual([{ n: 0 }]);
    expect(await dataSource.showMigrations()).toBe(true);
  });

  it('apply again after a full revert, to the same schema', async () => {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    expect(applied).toHaveLength(dataSource.migrations.length);
    expect(await schemaDrift()).toEqual([]);
    expect(await dataSource.showMigrations()).toBe(false);
  });
});
