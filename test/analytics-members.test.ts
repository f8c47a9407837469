import { MemberRollupAndRefusedCalls1764860000002 } from '../migrations/1764860000002-member-rollup-and-refused-calls';
import { expectData } from './support/expectations';
import { CHAT_BODY, callGateway } from './support/gateway-client';
import { byokWorkspace, currentMonth, freshRequestId, GatewayWorld, startGatewayWorld } from './support/gateway-setup';
import type { SeededWorkspace } from './support/fixtures';
import { BILLING_SUMMARY, callInput, recordCount, recordOk } from './support/usage-calls';

/**
 * SPEC.md "Budgets, webhooks, exports, key health": llmAnalytics groups by MEMBER (the call's
 * actor; calls without one together) and every bucket reports refusedCalls, kept as counters per
 * day, path and member, never as usage records (so never billed).
 */

const ANALYTICS = `query($w: ID!, $from: DateTime!, $to: DateTime!, $groupBy: AnalyticsGroupBy!) {
  llmAnalytics(workspaceId: $w, from: $from, to: $to, groupBy: $groupBy) { key calls inputTokens outputTokens billedMicros refusedCalls }
}`;
const SETTLE = `mutation($id: ID!, $raw: String!) { settleUsageRecord(id: $id, rawCostUsd: $raw) { billedMicros } }`;

interface Bucket {
  key: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  billedMicros: number;
  refusedCalls: number;
}

describe('analytics by member, refused calls', () => {
  let world: GatewayWorld;
  let ws: SeededWorkspace & { key: string };

  beforeAll(async () => {
    world = await startGatewayWorld();
    ws = await byokWorkspace(world.t, undefined, 'Analytics');
  });
  afterAll(() => world.close());

  const analytics = async (from: string, to: string, groupBy: string): Promise<Bucket[]> =>
    expectData(await world.t.gql(ANALYTICS, { w: ws.id, from, to, groupBy }, ws.tokens.billing)).llmAnalytics;

  it('groups by MEMBER from whole days (rollups) and partial days (records) alike, calls without an actor together', async () => {
    const owner = ws.userIds.owner;
    const member = ws.userIds.member;
    const calls = [
      { actorUserId: owner, occurredAt: '2026-08-01T10:00:00.000Z', inputTokens: 100, outputTokens: 10 },
      { actorUserId: owner, occurredAt: '2026-08-02T10:00:00.000Z', inputTokens: 200, outputTokens: 20 },
      { actorUserId: member, occurredAt: '2026-08-02T23:00:00.000Z', inputTokens: 300, outputTokens: 30 },
      { occurredAt: '2026-08-03T01:00:00.000Z', inputTokens: 400, outputTokens: 40, path: 'SEARCH_INDEXER' },
      { occurredAt: '2026-08-03T02:00:00.000Z', inputTokens: 500, outputTokens: 50, path: 'SEARCH_INDEXER' },
      { actorUserId: member, occurredAt: '2026-08-04T12:00:00.000Z', inputTokens: 600, outputTokens: 60 },
    ];
    const records: Array<Record<string, any>> = [];
    for (const call of calls) records.push(await recordOk(world.t, callInput(ws.id, call)));
    const expected = (inRange: (at: string) => boolean): Bucket[] => {
      const buckets = new Map<string, Bucket>();
      calls.forEach((call, i) => {
        if (!inRange(call.occurredAt)) return;
        const key = call.actorUserId ?? '';
        const bucket = buckets.get(key) ?? { key, calls: 0, inputTokens: 0, outputTokens: 0, billedMicros: 0, refusedCalls: 0 };
        bucket.calls += 1;
        bucket.inputTokens += call.inputTokens;
        bucket.outputTokens += call.outputTokens;
        bucket.billedMicros += records[i].billedMicros;
        buckets.set(key, bucket);
      });
      return [...buckets.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    };
    // whole days only
    expect(await analytics('2026-08-01T00:00:00.000Z', '2026-09-01T00:00:00.000Z', 'MEMBER')).toEqual(expected(() => true));
    // partial days at both ends: 2026-08-02T12:00 to 2026-08-04T00:00 plus a partial 2026-08-04 up to 13:00
    const from = '2026-08-02T12:00:00.000Z';
    const to = '2026-08-04T13:00:00.000Z';
    expect(await analytics(from, to, 'MEMBER')).toEqual(expected((at) => at >= from && at < to));
    const none = (await analytics(from, to, 'MEMBER')).find((bucket) => bucket.key === '');
    expect(none).toMatchObject({ calls: 2, inputTokens: 900 });
  });

  it('a settlement re-bills the member it was made for', async () => {
    const record = await recordOk(world.t, callInput(ws.id, { actorUserId: ws.userIds.admin, keySource: 'BYOK', occurredAt: '2026-07-10T00:00:00.000Z', rawCostUsd: '0' }));
    const range = ['2026-07-01T00:00:00.000Z', '2026-08-01T00:00:00.000Z'] as const;
    const before = (await analytics(...range, 'MEMBER')).find((bucket) => bucket.key === ws.userIds.admin)!;
    expect(before.billedMicros).toBe(record.billedMicros);
    const flagged = await world.t.app.seam.usageRecorder.record({ ...callInput(ws.id), actorUserId: ws.userIds.admin, keySource: 'BYOK' as never, path: 'AGENT_RUN' as never, tier: 'BALANCED' as never, rawCostMicros: null, occurredAt: new Date('2026-07-11T00:00:00.000Z') });
    expect(flagged.billedMicros).toBe(0);
    const settled = expectData(await world.t.gql(SETTLE, { id: flagged.id, raw: '0.001' }, ws.adminToken)).settleUsageRecord;
    const after = (await analytics(...range, 'MEMBER')).find((bucket) => bucket.key === ws.userIds.admin)!;
    expect(after).toMatchObject({ calls: 2, billedMicros: record.billedMicros + settled.billedMicros });
  });

  it('the migration fills the member totals from the records already there', async () => {
    const range = ['2026-07-01T00:00:00.000Z', '2026-09-01T00:00:00.000Z'] as const;
    const before = await analytics(...range, 'MEMBER');
    expect(before.length).toBeGreaterThan(2);
    const migration = new MemberRollupAndRefusedCalls1764860000002();
    const runner = world.t.app.dataSource.createQueryRunner();
    try {
      await migration.down(runner);
      await migration.up(runner);
    } finally {
      await runner.release();
    }
    expect(await analytics(...range, 'MEMBER')).toEqual(before);
  });

  it('refused calls are counted per day, path and member, never recorded nor billed', async () => {
    const month = currentMonth();
    const summaryBefore = expectData(await world.t.gql(BILLING_SUMMARY, { w: ws.id, month }, ws.tokens.billing)).billingSummary;
    const recordsBefore = await recordCount(world.t, ws.id);
    world.fake.chatCompletion({ status: 401 }, { times: 2, key: ws.key });
    for (const actorUserId of [ws.userIds.member, undefined]) {
      const answer = await callGateway(world.t, { workspaceId: ws.id, requestId: freshRequestId('refused'), path: 'DOCUMENT_OCR', actorUserId, body: CHAT_BODY });
      expect(answer.status).toBe(401);
    }
    await world.t.app.seam.refusedCalls.count({ workspaceId: ws.id, path: 'AGENT_RUN' as never, actorUserId: ws.userIds.member, cause: 'BUDGET_EXCEEDED' });

    expect(await recordCount(world.t, ws.id)).toBe(recordsBefore);
    const summaryAfter = expectData(await world.t.gql(BILLING_SUMMARY, { w: ws.id, month }, ws.tokens.billing)).billingSummary;
    expect(summaryAfter).toEqual(summaryBefore);

    const now = Date.now();
    const from = new Date(now - 3_600_000).toISOString();
    const to = new Date(now + 60_000).toISOString();
    const byPath = await analytics(from, to, 'PATH');
    expect(byPath.find((bucket) => bucket.key === 'DOCUMENT_OCR')).toEqual({ key: 'DOCUMENT_OCR', calls: 0, inputTokens: 0, outputTokens: 0, billedMicros: 0, refusedCalls: 2 });
    expect(byPath.find((bucket) => bucket.key === 'AGENT_RUN')?.refusedCalls).toBe(1);
    const byMember = await analytics(from, to, 'MEMBER');
    expect(byMember.find((bucket) => bucket.key === ws.userIds.member)?.refusedCalls).toBe(2);
    expect(byMember.find((bucket) => bucket.key === '')?.refusedCalls).toBe(1);
    const byDay = await analytics(from, to, 'DAY');
    expect(byDay.reduce((total, bucket) => total + bucket.refusedCalls, 0)).toBe(3);
    for (const groupBy of ['MODEL', 'TIER', 'KEY_SOURCE']) {
      for (const bucket of await analytics(from, to, groupBy)) expect(bucket.refusedCalls).toBe(0);
    }
    // a range of other days sees none of them
    expect((await analytics('2026-08-01T00:00:00.000Z', '2026-09-01T00:00:00.000Z', 'PATH')).every((bucket) => bucket.refusedCalls === 0)).toBe(true);
  });
});
