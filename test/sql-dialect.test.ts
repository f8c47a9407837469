import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource, sqlDialectOf } from '../src/db/data-source';
import type { SqlDialect } from '../src/db/dialect';
import { insertNewRows } from '../src/db/insert-new-rows';
import { TransactionRunner } from '../src/db/transaction-runner';
import { AiBudgetCrossingEntity } from '../src/modules/budget/ai-budget.entity';
import { ByokFallback } from '../src/modules/inference-key/inference-key.enums';
import { WorkspaceEntity } from '../src/modules/workspace/workspace.entity';
import { ModelTier, Plan } from '../src/modules/workspace/workspace.enums';
import { createTestDatabase, TestDatabase, usingMysql } from './support/test-database';

/** Each operation of the dialect the data source picks, run on the real database (SQLite, or MariaDB with TEST_DATABASE_URL). */

let db: TestDatabase;
let dataSource: DataSource;
let dialect: SqlDialect;
let transactions: TransactionRunner;

beforeAll(async () => {
  db = await createTestDatabase();
  dataSource = await createDataSource({ databaseUrl: db.databaseUrl, dataDir: db.dataDir });
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  dialect = sqlDialectOf(dataSource);
  transactions = new TransactionRunner(dataSource, dialect);
}, 60_000);

afterAll(async () => {
  await dataSource?.destroy();
  await db?.drop();
});

async function newWorkspace(): Promise<string> {
  const id = randomUUID();
  await transactions.run((manager) =>
    manager.insert(WorkspaceEntity, { id, name: 'Dialect', plan: Plan.PRO, defaultTier: ModelTier.BALANCED, byokFallback: ByokFallback.NONE, createdAt: new Date() }),
  );
  return id;
}

function crossing(workspaceId: string, threshold: number, spentMicros: number, crossedAt = new Date()): AiBudgetCrossingEntity {
  return Object.assign(new AiBudgetCrossingEntity(), { workspaceId, month: '2026-03', threshold, spentMicros, crossedAt });
}

it('is the database the tests run on', () => {
  expect(dialect.name).toBe(usingMysql() ? 'mysql' : 'sqlite');
  expect(dialect.serialisesWriters).toBe(!usingMysql());
});

it('upsert-add inserts new rows and adds to the summed columns of rows whose key is taken', async () => {
  const workspaceId = await newWorkspace();
  const columns = ['workspace_id', 'day', 'path', 'actor_key', 'cause', 'refused'];
  const keys = columns.slice(0, 5);
  const row = (cause: string, refused: number) => [workspaceId, '2026-03-01', 'GATEWAY', 'u1', cause, refused];
  await transactions.run((manager) => manager.query(dialect.addingUpsertSql('refused_call_counter', columns, keys, 2), [...row('A', 1), ...row('B', 5)]));
  await transactions.run((manager) => manager.query(dialect.addingUpsertSql('refused_call_counter', columns, keys, 1), row('A', 2)));
  const rows = (await dataSource.query('SELECT cause, refused FROM refused_call_counter WHERE workspace_id = ? ORDER BY cause', [workspaceId])) as Array<{ cause: string; refused: number | string }>;
  expect(rows.map((stored) => [stored.cause, Number(stored.refused)])).toEqual([
    ['A', 3],
    ['B', 5],
  ]);
});

it('insert-ignore inserts the new rows, leaves taken keys alone and counts only what it inserted', async () => {
  const workspaceId = await newWorkspace();
  const first = await transactions.run((manager) => insertNewRows(manager, dialect, AiBudgetCrossingEntity, [crossing(workspaceId, 50, 100)]));
  const second = await transactions.run((manager) =>
    insertNewRows(manager, dialect, AiBudgetCrossingEntity, [crossing(workspaceId, 50, 999), crossing(workspaceId, 80, 200)]),
  );
  expect([first, second]).toEqual([1, 1]);
  const stored = await dataSource.getRepository(AiBudgetCrossingEntity).find({ where: { workspaceId }, order: { threshold: 'ASC' } });
  expect(stored.map((row) => [row.threshold, row.spentMicros])).toEqual([
    [50, 100],
    [80, 200],
  ]);
});

it("the UTC day of a stored datetime is its UTC date, also a millisecond before midnight", async () => {
  const workspaceId = await newWorkspace();
  await transactions.run((manager) =>
    insertNewRows(manager, dialect, AiBudgetCrossingEntity, [crossing(workspaceId, 50, 1, new Date('2026-03-01T23:59:59.999Z')), crossing(workspaceId, 80, 1, new Date('2026-03-02T00:00:00.000Z'))]),
  );
  const rows = (await dataSource.query(`SELECT threshold, ${dialect.utcDaySql('crossed_at')} AS day FROM ai_budget_crossing WHERE workspace_id = ? ORDER BY threshold`, [
    workspaceId,
  ])) as Array<{ threshold: number; day: string }>;
  expect(rows.map((row) => row.day)).toEqual(['2026-03-01', '2026-03-02']);
});

it('locking reads run: on a query builder, in find options, as raw SQL', async () => {
  const workspaceId = await newWorkspace();
  const read = await transactions.run(async (manager) => {
    const locked = await dialect.lockForUpdate(manager.getRepository(WorkspaceEntity).createQueryBuilder('w').where('w.id = :workspaceId', { workspaceId })).getOne();
    const shared = await manager.find(WorkspaceEntity, { where: { id: workspaceId }, ...dialect.lockInFind('pessimistic_read') });
    const raw = (await manager.query(dialect.selectForUpdate('SELECT id FROM workspace WHERE id = ?'), [workspaceId])) as Array<{ id: string }>;
    return [locked?.id, shared[0]?.id, raw[0]?.id];
  });
  expect(read).toEqual([workspaceId, workspaceId, workspaceId]);
});

it('a row locked for update is passed over by a skip-locked read until the lock is released', async () => {
  const workspaceId = await newWorkspace();
  const skipLockedRead = () =>
    transactions.run(async (manager) =>
      (await dialect.lockForUpdate(manager.getRepository(WorkspaceEntity).createQueryBuilder('w').where('w.id = :workspaceId', { workspaceId }), { skipLocked: true }).getMany()).map(
        (row) => row.id,
      ),
    );
  let release!: () => void;
  const held = new Promise<void>((resolveHeld) => (release = resolveHeld));
  let locked!: () => void;
  const lockTaken = new Promise<void>((resolveLocked) => (locked = resolveLocked));
  const holder = transactions.run(async (manager) => {
    await dialect.lockForUpdate(manager.getRepository(WorkspaceEntity).createQueryBuilder('w').where('w.id = :workspaceId', { workspaceId })).getOne();
    locked();
    await held;
  });
  await lockTaken;
  // SQLite queues the second transaction behind the first, where the row is free again.
  const whileHeld = skipLockedRead();
  if (dialect.serialisesWriters) release();
  expect(await whileHeld).toEqual(dialect.serialisesWriters ? [workspaceId] : []);
  release();
  await holder;
  expect(await skipLockedRead()).toEqual([workspaceId]);
});

it('a forced index names an index the database has, and the query runs', async () => {
  const workspaceId = await newWorkspace();
  const rows = (await dataSource.query(`SELECT COUNT(*) AS n FROM usage_record r${dialect.forceIndex('idx_usage_record_time')} WHERE r.workspace_id = ?`, [workspaceId])) as Array<{
    n: number | string;
  }>;
  expect(Number(rows[0].n)).toBe(0);
  expect(dialect.forceIndex('idx_usage_record_time')).toBe(usingMysql() ? ' FORCE INDEX (idx_usage_record_time)' : '');
});
