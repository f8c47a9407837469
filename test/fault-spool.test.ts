import type { AppConfig } from '../src/config/config';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/logging/logger';
import { JournalReplay } from '../src/modules/usage/ledger/journal-replay';
import type { InferenceCall, UsageRecorderService } from '../src/modules/usage/usage-recorder.service';
import { InferencePath, KeySource } from '../src/modules/usage/usage.enums';
import { ModelTier } from '../src/modules/workspace/workspace.enums';
import { FakeOpenRouter } from './support/fake-openrouter';
import { callGateway, eventually } from './support/gateway-client';
import { byokWorkspace, freshRequestId, tierPrice } from './support/gateway-setup';
import { canaryKey } from './support/leak-search';
import { LogCapture } from './support/log-capture';
import { CuttableApp, startCuttableApp } from './support/cuttable-app';
import { startTestApp, TestApp } from './support/test-app';
import { createTestDatabase, queryOutside, TestDatabase, usingMysql } from './support/test-database';

/**
 * SPEC.md, "Inference gateway": a completed call is never lost. When the database cannot take a
 * record, it goes to the fsync'd spool in DATA_DIR and is replayed, idempotently, once the database
 * answers again, at start-up too. Every call answered 200 must end up in usage_record exactly once.
 *
 * On MariaDB/MySQL the database really goes away: the service reaches it through a TCP proxy that
 * the test cuts (every connection destroyed, new ones refused) and restores. SQLite has no server
 * to cut: there the service's own database connection is closed under it and reopened, and the
 * spool format is also exercised by hand-written files replayed at start-up.
 */

const BURST = 200;
const CONCURRENCY = 20;
const CUT_AFTER_COMPLETED = 60;
const CUT_FOR_MS = 400;
const UPSTREAM_DELAY_MS = 60;
const SPOOL_PREFIX = 'usage-spool-';

jest.setTimeout(60_000);

const fake = new FakeOpenRouter();
const platformKey = canaryKey();
const databases: TestDatabase[] = [];
const apps: TestApp[] = [];
const cuttables: CuttableApp[] = [];
async function startCuttable(db: TestDatabase, overrides: Partial<AppConfig> = {}): Promise<CuttableApp> {
  const cuttable = await startCuttableApp(db, { openrouterBaseUrl: fake.baseUrl, platformOpenrouterKey: platformKey, openrouterTimeoutMs: 10_000, ...overrides });
  cuttables.push(cuttable);
  return cuttable;
}

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

/** request id → how many usage records carry it, for one workspace. */
async function recordCounts(db: TestDatabase, workspaceId: string): Promise<Map<string, number>> {
  const rows = await queryOutside<{ request_id: string; n: number | string }>(db, 'SELECT request_id, COUNT(*) AS n FROM usage_record WHERE workspace_id = ? GROUP BY request_id', [workspaceId]);
  return new Map(rows.map((row) => [row.request_id, Number(row.n)]));
}

async function rollupCalls(db: TestDatabase, workspaceId: string): Promise<number> {
  const rows = await queryOutside<{ calls: number | string | null }>(db, 'SELECT SUM(calls) AS calls FROM usage_rollup WHERE workspace_id = ?', [workspaceId]);
  return Number(rows[0]?.calls ?? 0);
}

/** A workspace made through a service on `db` that has stopped since, so files can be laid out in its DATA_DIR. */
async function workspaceOnStoppedService(db: TestDatabase, name: string): Promise<{ id: string }> {
  const first = await startTestApp({ db, overrides: { openrouterBaseUrl: fake.baseUrl, platformOpenrouterKey: platformKey } });
  try {
    return await byokWorkspace(first, canaryKey(), name);
  } finally {
    await first.close();
  }
}

/** A service started on `db`, once it has replayed every spool file it found at start-up. */
async function replayingService(db: TestDatabase): Promise<TestApp> {
  const t = await startTestApp({ db, overrides: { openrouterBaseUrl: fake.baseUrl, platformOpenrouterKey: platformKey } });
  apps.push(t);
  await spoolDrained(t);
  return t;
}

function spoolFiles(dataDir: string): string[] {
  return readdirSync(dataDir).filter((name) => name.startsWith(SPOOL_PREFIX));
}

function spooledLogLines(t: TestApp): number {
  return t.logs.lines.filter((line) => line.includes('call spooled for replay')).length;
}

/** Waits until every spool file in `t`'s DATA_DIR has been replayed and removed. */
async function spoolDrained(t: TestApp, timeoutMs = 20_000): Promise<void> {
  await eventually(async () => ((await t.app.seam.usageJournal.pendingFiles()).length === 0 ? true : undefined), timeoutMs, 'the spool to be replayed');
}

const ONE_MINUTE_AGO = new Date(Date.now() - 60_000).toISOString();

/** One completed call as the spool writes it: an InferenceCall with occurredAt in ISO form. */
function spoolLine(workspaceId: string, requestId: string, inputTokens: number, outputTokens: number): string {
  return JSON.stringify({
    requestId,
    workspaceId,
    path: InferencePath.AGENT_RUN,
    model: 'openai/gpt-4o-mini',
    tier: ModelTier.BALANCED,
    keySource: KeySource.PLATFORM,
    inputTokens,
    outputTokens,
    rawCostMicros: 77,
    occurredAt: ONE_MINUTE_AGO,
    actorUserId: null,
  });
}

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

beforeAll(async () => {
  await fake.start();
});

afterAll(async () => {
  await Promise.allSettled([...cuttables.map((cuttable) => cuttable.close()), ...apps.map((t) => t.close())]);
  await Promise.allSettled(databases.map((db) => db.drop()));
  await fake.stop();
});

describe(usingMysql() ? 'MariaDB/MySQL reached through a TCP proxy that is cut and restored' : 'SQLite: the service’s database connection closed under it and reopened', () => {
  it(`a burst of ${BURST} calls with the database cut mid-way (GATEWAY_DATABASE_OUTAGE=refuse): every call answered 200 is recorded exactly once, after the spool replays`, async () => {
    const db = await freshDatabase();
    // refuse: calls whose database checks fail answer 503 (serve is in gateway-outage.test.ts)
    const world = await startCuttable(db, { gatewayDatabaseOutage: 'refuse' });
    const { t } = world;
    const ws = await byokWorkspace(t, canaryKey(), 'Burst');
    fake.chatCompletion({ delayMs: UPSTREAM_DELAY_MS }, { key: ws.key });

    const answered: Array<{ requestId: string; status: number; code?: string; retryAfter?: string; sentAt: number }> = [];
    let next = 0;
    let completed = 0;
    let restoredAt = Infinity;
    const worker = async () => {
      let backoffMs = 100;
      while (next < BURST) {
        next += 1;
        const requestId = freshRequestId('burst');
        const sentAt = Date.now();
        const answer = await callGateway(t, { workspaceId: ws.id, path: 'AGENT_RUN', requestId });
        answered.push({ requestId, status: answer.status, code: answer.json?.error?.code, retryAfter: answer.headers['retry-after'], sentAt });
        if (answer.status === 200) {
          completed += 1;
          backoffMs = 100;
        } else {
          // A refused call: the runtime backs off before the next, longer each time.
          await sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, 1_000);
        }
      }
    };
    // The cut falls while some call waits at OpenRouter, so that at least one call completes with
    // the database away, and lasts until such a call has gone to the spool (at least CUT_FOR_MS).
    const waitingAtUpstream = () => fake.requests.some((request) => request.bearer === ws.key && request.sent.length === 0 && !request.aborted);
    const fault = (async () => {
      await eventually(async () => (completed >= CUT_AFTER_COMPLETED && waitingAtUpstream() ? true : undefined), 20_000, 'a call waiting at OpenRouter mid-burst');
      await world.cut();
      const cutAt = Date.now();
      await eventually(async () => (spooledLogLines(t) > 0 ? true : undefined), 10_000, 'a completed call to be spooled');
      await sleep(Math.max(0, cutAt + CUT_FOR_MS - Date.now()));
      await world.restore();
      restoredAt = Date.now();
    })();
    await Promise.all([...Array.from({ length: CONCURRENCY }, worker), fault]);
    const ok = answered.filter((call) => call.status === 200);
    // The gateway answers before it records: wait until every answered call is in the database,
    // directly or through the spool, and the spool is empty.
    await eventually(
      async () => {
        const recorded = await recordCounts(db, ws.id);
        return spoolFiles(db.dataDir).length === 0 && ok.every((call) => recorded.has(call.requestId)) ? true : undefined;
      },
      30_000,
      'every answered call recorded and the spool replayed',
    );

    const refused = answered.filter((call) => call.status !== 200);
    // The fault really happened: calls were refused, completed calls went to the spool, and the
    // service recovered by itself once the database was back.
    expect(answered).toHaveLength(BURST);
    expect(refused.length).toBeGreaterThan(0);
    // Refused before OpenRouter, with a status and code the runtime can retry on.
    expect(refused.map(({ status, code, retryAfter }) => ({ status, code, retryAfter }))).toEqual(refused.map(() => ({ status: 503, code: 'DATABASE_UNAVAILABLE', retryAfter: '1' })));
    expect(spooledLogLines(t)).toBeGreaterThan(0);
    expect(ok.filter((call) => call.sentAt > restoredAt).length).toBeGreaterThan(0);

    const counts = await recordCounts(db, ws.id);
    const missing = ok.filter((call) => counts.get(call.requestId) !== 1).map((call) => `${call.requestId}: ${counts.get(call.requestId) ?? 0}`);
    expect(missing).toEqual([]);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
    // Nothing recorded that was not answered 200, and every call that reached OpenRouter was answered 200.
    expect(new Set(counts.keys())).toEqual(new Set(ok.map((call) => call.requestId)));
    const upstreamIds = new Set(fake.requests.filter((request) => request.bearer === ws.key).map((request) => String(request.headers['x-request-id'])));
    expect(upstreamIds).toEqual(new Set(ok.map((call) => call.requestId)));
    // Replays added to the daily totals once per record, no more.
    expect(await rollupCalls(db, ws.id)).toBe(counts.size);
    expect(spoolFiles(db.dataDir)).toEqual([]);
  });

  it('a restart replays the spool a stopped service left behind', async () => {
    const db = await freshDatabase();
    const first = await startCuttable(db);
    const ws = await byokWorkspace(first.t, canaryKey(), 'Restart');
    // Calls pass the service's database checks, then wait at OpenRouter while the database goes away.
    fake.chatCompletion({ delayMs: 300 }, { key: ws.key });
    const ids = Array.from({ length: 8 }, () => freshRequestId('restart'));
    const calls = ids.map((requestId) => callGateway(first.t, { workspaceId: ws.id, path: 'AGENT_RUN', requestId }));
    await eventually(async () => (fake.requests.filter((request) => ids.includes(String(request.headers['x-request-id']))).length === ids.length ? true : undefined), 10_000, 'every call at OpenRouter');
    await first.cut();
    const answers = await Promise.all(calls);
    expect(answers.map((answer) => answer.status)).toEqual(ids.map(() => 200));
    // Answered first, recorded after: the database is away, so each call goes to the spool.
    await eventually(async () => (spooledLogLines(first.t) === ids.length ? true : undefined), 10_000, 'every answered call to be spooled');

    // Stop the replay timer while the database is still away, so that nothing replays; then the
    // database comes back and the service stops as usual.
    await first.t.app.seam.usageLedger.stop();
    await first.close();
    cuttables.splice(cuttables.indexOf(first), 1);
    expect((await recordCounts(db, ws.id)).size).toBe(0);
    const left = spoolFiles(db.dataDir);
    expect(left.length).toBeGreaterThan(0);
    const spooled = left.flatMap((name) =>
      readFileSync(join(db.dataDir, name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { requestId: string; t?: string })
        // each call's intent, journaled before it went upstream, then its completion
        .filter((line) => line.t === undefined)
        .map((line) => line.requestId),
    );
    expect(spooled.sort()).toEqual([...ids].sort());

    // The database is back (MySQL: through a new proxy); a new service on the same DATA_DIR
    // replays what it finds at start-up.
    const second = await startCuttable(db);
    await spoolDrained(second.t);
    const counts = await recordCounts(db, ws.id);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(ids.map((id) => [id, 1])));
    expect(await rollupCalls(db, ws.id)).toBe(ids.length);
    expect(spoolFiles(db.dataDir)).toEqual([]);
  });
});

describe('spool replay at start-up, from files in the spool format (SQLite and MariaDB alike)', () => {
  it('hand-written spool files, one of them half-replayed by a crashed process, are recorded exactly once', async () => {
    const db = await freshDatabase();
    const ws = await workspaceOnStoppedService(db, 'Handwritten');

    const line = (requestId: string, inputTokens: number, outputTokens: number) => spoolLine(ws.id, requestId, inputTokens, outputTokens);
    const [a, b, c] = [freshRequestId('spool-a'), freshRequestId('spool-b'), freshRequestId('spool-c')];
    // A live process's spool, with a duplicate and a torn line; and a file a replayer had claimed
    // (renamed) when it died, overlapping the first.
    writeFileSync(join(db.dataDir, `${SPOOL_PREFIX}4242.jsonl`), [line(a, 10, 20), line(b, 1000, 2000), line(a, 10, 20), '{"requestId": "torn'].join('\n') + '\n', { mode: 0o600 });
    writeFileSync(join(db.dataDir, `${SPOOL_PREFIX}replaying-1700000000000-4343-4343.jsonl`), [line(c, 5, 5), line(b, 1000, 2000)].join('\n') + '\n', { mode: 0o600 });

    const second = await replayingService(db);
    const counts = await recordCounts(db, ws.id);
    expect(Object.fromEntries(counts)).toEqual({ [a]: 1, [b]: 1, [c]: 1 });
    expect(await rollupCalls(db, ws.id)).toBe(3);
    // Billed as platform calls at the tier price in effect when they occurred.
    const billed = await queryOutside<{ request_id: string; billed_micros: number | string; raw_cost_micros: number | string }>(db, 'SELECT request_id, billed_micros, raw_cost_micros FROM usage_record WHERE workspace_id = ?', [ws.id]);
    const byId = new Map(billed.map((row) => [row.request_id, row]));
    expect(Number(byId.get(b)?.billed_micros)).toBe(tierPrice('BALANCED', 1000, 2000));
    expect(Number(byId.get(b)?.raw_cost_micros)).toBe(77);
    expect(second.logs.text).toContain('unreadable spool line skipped');
    expect(spoolFiles(db.dataDir)).toEqual([]);
  });
});

describe('a spooled call that fails while the database answers', () => {
  it('is kept aside for an operator, and the calls after it are still recorded', async () => {
    const db = await freshDatabase();
    const ws = await workspaceOnStoppedService(db, 'Poison');

    const [a, poisoned, b] = [freshRequestId('before'), freshRequestId('poisoned'), freshRequestId('after')];
    // A line that parses but that no recording can take: its time is not a time.
    const unrecordable = JSON.stringify({ ...JSON.parse(spoolLine(ws.id, poisoned, 1, 1)), occurredAt: 'not a time' });
    writeFileSync(join(db.dataDir, `${SPOOL_PREFIX}1700000000000-4444-1700000000000-dd-1.jsonl`), [spoolLine(ws.id, a, 1, 1), unrecordable, spoolLine(ws.id, b, 1, 1)].join('\n') + '\n', { mode: 0o600 });

    const second = await replayingService(db);
    expect(Object.fromEntries(await recordCounts(db, ws.id))).toEqual({ [a]: 1, [b]: 1 });
    const kept = readdirSync(db.dataDir).filter((name) => name.startsWith('usage-unrecordable-'));
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(db.dataDir, kept[0]), 'utf8')).toBe(`${unrecordable}\n`);
    expect(second.logs.text).toContain('kept aside for an operator');
    expect((await second.http().get('/readyz')).body).toMatchObject({ status: 'ready', spooledFiles: 0, unrecordableFiles: 1 });
  });
});

describe('replay order', () => {
  it('replays calls in the order they were journaled, whatever state their files were left in', async () => {
    const db = await freshDatabase();
    const ws = await workspaceOnStoppedService(db, 'Ordered');

    const ids = Array.from({ length: 6 }, (_, i) => freshRequestId(`order-${i}`));
    const lines = (...requestIds: string[]) => requestIds.map((id) => spoolLine(ws.id, id, 1, 1)).join('\n') + '\n';
    // Oldest first: a journal segment its (long gone) process never settled, a spool file a
    // replayer claimed before it died, then two spool files; the names' own order differs.
    const journal = join(db.dataDir, `usage-journal-1700000000050-1-1700000000000-aa-1.jsonl`);
    writeFileSync(journal, lines(ids[0], ids[1]), { mode: 0o600 });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(journal, anHourAgo, anHourAgo);
    writeFileSync(join(db.dataDir, `${SPOOL_PREFIX}replaying-1700000009999-4343-1700000000100-4343-1700000000000-bb-1.jsonl`), lines(ids[2]), { mode: 0o600 });
    writeFileSync(join(db.dataDir, `${SPOOL_PREFIX}1700000000200-4444-1700000000000-cc-1.jsonl`), lines(ids[3], ids[4]), { mode: 0o600 });
    writeFileSync(join(db.dataDir, `${SPOOL_PREFIX}1700000000300-4444-1700000000000-cc-2.jsonl`), lines(ids[5]), { mode: 0o600 });

    await replayingService(db);
    // Record ids are time-ordered and increase within a process: their order is the replay's.
    const rows = await queryOutside<{ request_id: string }>(db, 'SELECT request_id FROM usage_record WHERE workspace_id = ? ORDER BY id', [ws.id]);
    expect(rows.map((row) => row.request_id)).toEqual(ids);
    expect(readdirSync(db.dataDir).filter((name) => name.startsWith('usage-journal-') || name.startsWith(SPOOL_PREFIX))).toEqual([]);
  });
});

describe('several processes sharing one DATA_DIR', () => {
  it('two replayers overlapping on one spool file record each call once, and neither fails when the other finished the file first', async () => {
    const db = await freshDatabase();
    const t = await startTestApp({ db, overrides: { openrouterBaseUrl: fake.baseUrl, platformOpenrouterKey: platformKey } });
    apps.push(t);
    const ws = await byokWorkspace(t, canaryKey(), 'Shared');
    // Two workers' spools on one directory, over a database that answers slowly (just back up).
    const dir = mkdtempSync(join(tmpdir(), 'byok-shared-spool-'));
    const recorder = t.app.seam.usageRecorder;
    const slow = {
      record: async (call: InferenceCall) => {
        await sleep(20);
        return recorder.record(call);
      },
    } as unknown as UsageRecorderService;
    const logs = new LogCapture();
    const answers = async () => true;
    const one = new JournalReplay({ dir, recorder: slow, log: createLogger('info', logs), databaseAnswers: answers, ownInstance: 'worker-one' });
    const two = new JournalReplay({ dir, recorder: slow, log: createLogger('info', logs), databaseAnswers: answers, ownInstance: 'worker-two' });
    const ids = Array.from({ length: 10 }, () => freshRequestId('shared'));
    writeFileSync(join(dir, `${SPOOL_PREFIX}31337.jsonl`), ids.map((id) => spoolLine(ws.id, id, 3, 4)).join('\n') + '\n');
    try {
      // The first claims the file; the second, on its own timer, finds it claimed and mid-replay.
      const first = one.replay();
      await sleep(50);
      const second = two.replay();
      await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined]);
      expect(readdirSync(dir)).toEqual([]);
      const counts = await recordCounts(db, ws.id);
      expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(ids.map((id) => [id, 1])));
      expect(await rollupCalls(db, ws.id)).toBe(ids.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
