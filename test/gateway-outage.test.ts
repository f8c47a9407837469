import { readdirSync } from 'node:fs';
import { CHAT_BODY, callGateway, eventually, storedRecords } from './support/gateway-client';
import { byokWorkspace, freshRequestId } from './support/gateway-setup';
import { CuttableApp, startCuttableApp } from './support/cuttable-app';
import { FakeOpenRouter } from './support/fake-openrouter';
import { canaryKey } from './support/leak-search';
import { createTestDatabase, queryOutside, TestDatabase } from './support/test-database';

/**
 * SPEC.md "The usage ledger", database outage: under `serve` (the default) the gateway keeps
 * answering for the workspaces it has cached and records the calls once the database is back;
 * under `refuse` it answers 503.
 */
jest.setTimeout(60_000);

const fake = new FakeOpenRouter();
const databases: TestDatabase[] = [];
const apps: CuttableApp[] = [];

beforeAll(() => fake.start());
afterAll(async () => {
  for (const app of apps) await app.close();
  for (const db of databases) await db.drop();
  await fake.stop();
});

async function world(outage: 'serve' | 'refuse'): Promise<{ app: CuttableApp; db: TestDatabase }> {
  const db = await createTestDatabase();
  databases.push(db);
  const app = await startCuttableApp(db, { openrouterBaseUrl: fake.baseUrl, platformOpenrouterKey: canaryKey(), gatewayDatabaseOutage: outage });
  apps.push(app);
  return { app, db };
}

it('serve: while the database is away, cached workspaces are served, ids journaled here are refused, /readyz stays 200; every call is recorded once after', async () => {
  const { app, db } = await world('serve');
  const ws = await byokWorkspace(app.t);
  // The first success marks the new key ACTIVE, which drops the cached copies; the second caches them.
  for (let i = 0; i < 2; i += 1) expect((await callGateway(app.t, { workspaceId: ws.id })).status).toBe(200);
  const uncached = await byokWorkspace(app.t, canaryKey(), 'Uncached');
  app.t.app.seam.workspaceEvents.committedElsewhere(uncached.id);
  await app.cut();

  const ids = Array.from({ length: 5 }, () => freshRequestId('outage'));
  for (const requestId of ids) {
    const answer = await callGateway(app.t, { workspaceId: ws.id, requestId, body: { ...CHAT_BODY, stream: true } });
    expect({ status: answer.status, text: answer.status === 200 ? '' : answer.text }).toEqual({ status: 200, text: '' });
    expect(answer.headers['x-key-source']).toBe('BYOK');
  }
  // The database cannot say whether an id was used: this worker's journal can.
  const reused = await callGateway(app.t, { workspaceId: ws.id, requestId: ids[0], body: { ...CHAT_BODY, stream: true } });
  expect(reused.status).toBe(409);
  expect(reused.json?.error?.code).toBe('REQUEST_ID_USED');
  // nothing cached: nothing to serve from
  const unknown = await callGateway(app.t, { workspaceId: uncached.id });
  expect(unknown.status).toBe(503);
  expect(unknown.json?.error?.code).toBe('DATABASE_UNAVAILABLE');
  expect(unknown.headers['retry-after']).toBe('1');
  const ready = await app.t.http().get('/readyz');
  expect(ready.status).toBe(200);
  expect(ready.body).toMatchObject({ status: 'ready', database: 'unreachable' });

  await app.restore();
  await eventually(async () => ((await app.t.app.seam.usageJournal.pendingFiles()).length === 0 && (await storedRecords(app.t, ws.id)).length === ids.length + 2 ? true : undefined), 20_000, 'the outage calls replayed');
  const rows = await queryOutside<{ request_id: string; n: number | string }>(db, 'SELECT request_id, COUNT(*) AS n FROM usage_record WHERE workspace_id = ? GROUP BY request_id', [ws.id]);
  const counts = new Map(rows.map((row) => [row.request_id, Number(row.n)]));
  for (const requestId of ids) expect(counts.get(requestId)).toBe(1);
});

it('serve: a 200-call burst while the database is cut is answered throughout, and each call is recorded once after it is back', async () => {
  const { app, db } = await world('serve');
  const ws = await byokWorkspace(app.t);
  for (let i = 0; i < 2; i += 1) expect((await callGateway(app.t, { workspaceId: ws.id })).status).toBe(200);
  await app.cut();
  const ids = Array.from({ length: 200 }, () => freshRequestId('burst'));
  const statuses: number[] = [];
  for (let next = 0; next < ids.length; next += 20) {
    const answers = await Promise.all(ids.slice(next, next + 20).map((requestId) => callGateway(app.t, { workspaceId: ws.id, requestId })));
    statuses.push(...answers.map((answer) => answer.status));
  }
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
  await app.restore();
  await eventually(async () => ((await app.t.app.seam.usageJournal.pendingFiles()).length === 0 && (await storedRecords(app.t, ws.id)).length === ids.length + 2 ? true : undefined), 30_000, 'the burst replayed');
  const rows = await queryOutside<{ request_id: string; n: number | string }>(db, 'SELECT request_id, COUNT(*) AS n FROM usage_record WHERE workspace_id = ? GROUP BY request_id', [ws.id]);
  expect(rows.filter((row) => Number(row.n) !== 1)).toEqual([]);
  const recorded = new Set(rows.map((row) => row.request_id));
  expect(ids.filter((requestId) => !recorded.has(requestId))).toEqual([]);
  expect({ kept: await app.t.app.seam.usageJournal.unrecordableFiles(), logs: app.t.logs.lines.filter((line) => line.includes('kept aside') || line.includes('refused')) }).toEqual({ kept: [], logs: [] });
});

it('refuse: while the database is away, gateway calls answer 503 DATABASE_UNAVAILABLE and /readyz 503', async () => {
  const { app } = await world('refuse');
  const ws = await byokWorkspace(app.t);
  expect((await callGateway(app.t, { workspaceId: ws.id })).status).toBe(200);
  const before = fake.requestsTo('POST', '/chat/completions').length;
  await app.cut();
  const refused = await callGateway(app.t, { workspaceId: ws.id, requestId: freshRequestId('refused') });
  expect(refused.status).toBe(503);
  expect(refused.json?.error?.code).toBe('DATABASE_UNAVAILABLE');
  expect(refused.headers['retry-after']).toBe('1');
  expect(fake.requestsTo('POST', '/chat/completions').length).toBe(before);
  expect((await app.t.http().get('/readyz')).status).toBe(503);
  await app.restore();
});

it('refuse: a call refused 503 before OpenRouter leaves no trace once the journal is replayed', async () => {
  const { app: first, db } = await world('refuse');
  const ws = await byokWorkspace(first.t);
  // The first success marks the new key ACTIVE, which drops the cached copies; the second caches them.
  for (let i = 0; i < 2; i += 1) expect((await callGateway(first.t, { workspaceId: ws.id })).status).toBe(200);
  await first.cut();
  const requestId = freshRequestId('readied-refused');
  expect((await callGateway(first.t, { workspaceId: ws.id, requestId })).json?.error?.code).toBe('DATABASE_UNAVAILABLE');
  await first.restore();
  await first.close();
  apps.splice(apps.indexOf(first), 1);

  const second = await startCuttableApp(db, { openrouterBaseUrl: fake.baseUrl, platformOpenrouterKey: canaryKey(), gatewayDatabaseOutage: 'refuse' });
  apps.push(second);
  const own = second.t.app.seam.usageJournal.instance;
  await eventually(async () => (readdirSync(db.dataDir).some((name) => name.startsWith('usage-') && !name.includes(own)) ? undefined : true), 20_000, "the first worker's journal replayed");
  expect(readdirSync(db.dataDir).filter((name) => name.startsWith('usage-unrecordable-'))).toEqual([]);
  expect(await queryOutside(db, 'SELECT id FROM usage_record WHERE request_id = ?', [requestId])).toEqual([]);
});
