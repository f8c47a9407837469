import { readdirSync } from 'node:fs';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { CHAT_BODY, callGateway, eventually, recordFor, StoredRecord, storedRecords } from './support/gateway-client';
import { byokWorkspace, currentMonth, freshRequestId, GatewayWorld, startGatewayWorld, tierPrice } from './support/gateway-setup';
import type { UsageObject } from './support/fake-openrouter';
import { holdUsageWrites } from './support/hold-usage-writes';
import { canaryKey } from './support/leak-search';
import { GraphQLResult, TEST_SERVICE_TOKEN } from './support/test-app';

/**
 * SPEC.md "Billing" and "Inference gateway": a call through the gateway is recorded once from
 * OpenRouter's usage object and billed by its key source; an implausible cost is flagged, billed per
 * SPEC, and re-billed by a platform admin's settlement, with the month's summary following suit.
 */

const SUMMARY = `query($w: ID!, $month: String!) { billingSummary(workspaceId: $w, month: $month) {
  calls platformCalls byokCalls inputTokens outputTokens tierPriceMicros byokRawCostMicros platformRawCostMicros
  platformChargeMicros byokMarginMicros totalBilledMicros flaggedCalls byTier { tier calls billedMicros }
} }`;
const SETTLE = `mutation($id: ID!, $raw: String!) { settleUsageRecord(id: $id, rawCostUsd: $raw) {
  id requestId keySource rawCostMicros tierPriceMicros billedMicros flagged
} }`;
const USAGE = `query($w: ID!, $from: DateTime!, $to: DateTime!) {
  usage(workspaceId: $w, from: $from, to: $to) { nodes { requestId keySource rawCostMicros billedMicros flagged } }
}`;

const IN = 1000;
const OUT = 500;
const TIER_PRICE = tierPrice('BALANCED', IN, OUT); // 10 500 µ$

describe('gateway billing', () => {
  let world: GatewayWorld;
  let byok: SeededWorkspace & { key: string };
  let platform: SeededWorkspace;

  /** One call whose upstream answer carries `usage`; returns the stored record. */
  async function call(ws: SeededWorkspace, usage: Partial<UsageObject> | null, options: { stream?: boolean; path?: string } = {}): Promise<StoredRecord> {
    const requestId = freshRequestId('bill');
    world.fake.chatCompletion({ usage }, { times: 1, when: (request) => request.headers['x-request-id'] === requestId });
    const answer = await callGateway(world.t, {
      workspaceId: ws.id,
      requestId,
      path: options.path ?? 'AGENT_RUN',
      body: { ...CHAT_BODY, stream: options.stream ?? false },
    });
    expect(answer.status).toBe(200);
    return recordFor(world.t, ws.id, requestId);
  }

  const summaryOf = async (ws: SeededWorkspace, token = ws.tokens.billing) =>
    expectData(await world.t.gql(SUMMARY, { w: ws.id, month: currentMonth() }, token)).billingSummary;

  /** The rollups behind the summary must equal the sum of the records they summarise. */
  async function expectRollupsMatchRecords(ws: SeededWorkspace): Promise<void> {
    const records = await storedRecords(world.t, ws.id);
    const [rollup] = await world.t.app.dataSource.query(
      `SELECT COALESCE(SUM(calls), 0) AS calls, COALESCE(SUM(billed_micros), 0) AS billed, COALESCE(SUM(raw_cost_micros), 0) AS raw,
              COALESCE(SUM(flagged_calls), 0) AS flagged, COALESCE(SUM(tier_price_micros), 0) AS tier
         FROM usage_rollup WHERE workspace_id = ?`,
      [ws.id],
    );
    expect({
      calls: Number(rollup.calls),
      billed: Number(rollup.billed),
      raw: Number(rollup.raw),
      flagged: Number(rollup.flagged),
      tier: Number(rollup.tier),
    }).toEqual({
      calls: records.length,
      billed: records.reduce((sum, record) => sum + record.billedMicros, 0),
      raw: records.reduce((sum, record) => sum + (record.rawCostMicros ?? 0), 0),
      flagged: records.filter((record) => record.flagged).length,
      tier: records.reduce((sum, record) => sum + record.tierPriceMicros, 0),
    });
  }

  beforeAll(async () => {
    world = await startGatewayWorld();
    byok = await byokWorkspace(world.t);
    platform = await seedWorkspace(world.t, Plan.ENTERPRISE, 'Platform only');
  });
  afterAll(() => world.close());

  describe('amounts', () => {
    it('a platform-key call is billed its tier price, whatever OpenRouter charged the platform', async () => {
      const record = await call(platform, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004 });
      expect(record).toMatchObject({ keySource: 'PLATFORM', tierPriceMicros: TIER_PRICE, billedMicros: TIER_PRICE, rawCostMicros: 4000, flagged: false });
      const expensive = await call(platform, { prompt_tokens: IN, completion_tokens: OUT, cost: 1.5 });
      expect(expensive).toMatchObject({ billedMicros: TIER_PRICE, rawCostMicros: 1_500_000 });
    });

    it('a BYOK call is billed tier price minus raw cost', async () => {
      const record = await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004, is_byok: false });
      expect(record).toMatchObject({ keySource: 'BYOK', tierPriceMicros: TIER_PRICE, rawCostMicros: 4000, billedMicros: TIER_PRICE - 4000, flagged: false });
    });

    it('when is_byok, raw cost is cost plus upstream_inference_cost', async () => {
      const record = await call(byok, {
        prompt_tokens: IN,
        completion_tokens: OUT,
        cost: 0.0002,
        is_byok: true,
        cost_details: { upstream_inference_cost: 0.0038 },
      });
      expect(record).toMatchObject({ rawCostMicros: 4000, billedMicros: TIER_PRICE - 4000, flagged: false });
      // upstream_inference_cost is ignored when is_byok is false
      const notByok = await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.0002, is_byok: false, cost_details: { upstream_inference_cost: 0.0038 } });
      expect(notByok).toMatchObject({ rawCostMicros: 200, billedMicros: TIER_PRICE - 200 });
    });

    it('a BYOK call that cost more than its tier price is billed 0, never negative', async () => {
      const record = await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.02 });
      expect(record).toMatchObject({ rawCostMicros: 20_000, billedMicros: 0, flagged: false });
      const exact = await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.0105 });
      expect(exact).toMatchObject({ rawCostMicros: TIER_PRICE, billedMicros: 0 });
    });

    it('costs are rounded half-up to micro-USD once, from the decimal OpenRouter wrote', async () => {
      expect(await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.0041235 })).toMatchObject({ rawCostMicros: 4124, billedMicros: TIER_PRICE - 4124 });
      expect(await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.0000005 })).toMatchObject({ rawCostMicros: 1 });
      expect(await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.0000004 })).toMatchObject({ rawCostMicros: 0, billedMicros: TIER_PRICE });
      expect(await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 1e-7 })).toMatchObject({ rawCostMicros: 0, flagged: false });
      // 0.1 + 0.2 in floating point would be 0.30000000000000004; each is rounded from its own text
      expect(
        await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.1, is_byok: true, cost_details: { upstream_inference_cost: 0.2 } }),
      ).toMatchObject({ rawCostMicros: 300_000, billedMicros: 0 });
    });

    it('a streamed call is billed from its final usage chunk like any other', async () => {
      const record = await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.003 }, { stream: true });
      expect(record).toMatchObject({ keySource: 'BYOK', inputTokens: IN, outputTokens: OUT, rawCostMicros: 3000, billedMicros: TIER_PRICE - 3000 });
      const onPlatform = await call(platform, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.003 }, { stream: true });
      expect(onPlatform).toMatchObject({ keySource: 'PLATFORM', billedMicros: TIER_PRICE });
    });

    it('a background path on a BYOK workspace is billed as a platform call', async () => {
      const record = await call(byok, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004 }, { path: 'SEARCH_INDEXER' });
      expect(record).toMatchObject({ path: 'SEARCH_INDEXER', keySource: 'PLATFORM', billedMicros: TIER_PRICE });
    });

    it('the raw cost of platform calls is hidden from the workspace and shown to platform admins', async () => {
      const ws = await seedWorkspace(world.t, Plan.ENTERPRISE, 'Visibility');
      const platformCall = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004 });
      const from = new Date(Date.now() - 3_600_000).toISOString();
      const to = new Date(Date.now() + 3_600_000).toISOString();
      const asMember = expectData(await world.t.gql(USAGE, { w: ws.id, from, to }, ws.tokens.billing)).usage.nodes;
      expect(asMember).toEqual([{ requestId: platformCall.requestId, keySource: 'PLATFORM', rawCostMicros: null, billedMicros: TIER_PRICE, flagged: false }]);
      const asAdmin = expectData(await world.t.gql(USAGE, { w: ws.id, from, to }, ws.adminToken)).usage.nodes;
      expect(asAdmin[0].rawCostMicros).toBe(4000);
      expect((await summaryOf(ws)).platformRawCostMicros).toBeNull();
      expect((await summaryOf(ws, ws.adminToken)).platformRawCostMicros).toBe(4000);
    });
  });

  describe('implausible costs are flagged', () => {
    const untrusted: Array<[string, Partial<UsageObject>]> = [
      ['missing', { cost: undefined }],
      ['null', { cost: null }],
      ['negative', { cost: -0.001 }],
      ['"NaN" as a string', { cost: 'NaN' }],
      ['"Infinity" as a string', { cost: 'Infinity' }],
      ['a numeric string', { cost: '0.004' }],
      ['is_byok with upstream_inference_cost missing', { cost: 0.0002, is_byok: true, cost_details: null }],
      ['is_byok with a negative upstream_inference_cost', { cost: 0.0002, is_byok: true, cost_details: { upstream_inference_cost: -0.5 } }],
    ];

    test.each(untrusted)('cost %s: a platform call is flagged and billed its tier price', async (_label, usage) => {
      const record = await call(platform, { prompt_tokens: IN, completion_tokens: OUT, ...usage });
      expect(record).toMatchObject({ keySource: 'PLATFORM', flagged: true, rawCostMicros: null, tierPriceMicros: TIER_PRICE, billedMicros: TIER_PRICE });
    });

    test.each(untrusted)('cost %s: a BYOK call is flagged and billed 0', async (_label, usage) => {
      const record = await call(byok, { prompt_tokens: IN, completion_tokens: OUT, ...usage });
      expect(record).toMatchObject({ keySource: 'BYOK', flagged: true, rawCostMicros: null, tierPriceMicros: TIER_PRICE, billedMicros: 0 });
    });

    it('an answer without any usage object is still recorded, flagged', async () => {
      const record = await call(byok, null);
      expect(record).toMatchObject({ keySource: 'BYOK', flagged: true, rawCostMicros: null, billedMicros: 0 });
      const streamed = await call(platform, null, { stream: true });
      expect(streamed).toMatchObject({ keySource: 'PLATFORM', flagged: true, rawCostMicros: null });
    });
  });

  describe('settlement', () => {
    it('a platform admin settles a flagged BYOK call: re-billed, and the summary follows at once', async () => {
      const ws = await byokWorkspace(world.t, canaryKey(), 'Settle BYOK');
      const good = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.001 });
      const flagged = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: -1 });
      expect(flagged).toMatchObject({ flagged: true, billedMicros: 0 });
      const before = await summaryOf(ws);
      expect(before).toMatchObject({
        calls: 2,
        byokCalls: 2,
        flaggedCalls: 1,
        byokRawCostMicros: 1000,
        totalBilledMicros: TIER_PRICE - 1000,
        byokMarginMicros: TIER_PRICE - 1000,
      });

      const settled = expectData(await world.t.gql(SETTLE, { id: flagged.id, raw: '0.004' }, ws.adminToken)).settleUsageRecord;
      expect(settled).toEqual({
        id: flagged.id,
        requestId: flagged.requestId,
        keySource: 'BYOK',
        rawCostMicros: 4000,
        tierPriceMicros: TIER_PRICE,
        billedMicros: TIER_PRICE - 4000,
        flagged: false,
      });
      expect((await storedRecords(world.t, ws.id)).find((record) => record.id === flagged.id)).toMatchObject({ flagged: false, rawCostMicros: 4000, billedMicros: TIER_PRICE - 4000 });
      const after = await summaryOf(ws);
      expect(after).toMatchObject({
        calls: 2,
        byokCalls: 2,
        flaggedCalls: 0,
        tierPriceMicros: 2 * TIER_PRICE,
        byokRawCostMicros: 5000,
        totalBilledMicros: 2 * TIER_PRICE - 5000,
        byokMarginMicros: 2 * TIER_PRICE - 5000,
        platformChargeMicros: 0,
      });
      expect(after.byTier).toContainEqual({ tier: 'BALANCED', calls: 2, billedMicros: 2 * TIER_PRICE - 5000 });
      expect(after.byTier.filter((row: { tier: string }) => row.tier !== 'BALANCED').every((row: { calls: number }) => row.calls === 0)).toBe(true);
      await expectRollupsMatchRecords(ws);
      expect((await storedRecords(world.t, ws.id)).find((record) => record.id === good.id)).toMatchObject({ billedMicros: TIER_PRICE - 1000, flagged: false });

      // Settled once: it is no longer flagged, so a second settlement is refused and changes nothing.
      expectErrorCode(await world.t.gql(SETTLE, { id: flagged.id, raw: '0.000001' }, ws.adminToken), 'BAD_USER_INPUT');
      expect(await summaryOf(ws)).toEqual(after);
    });

    it('settling a flagged platform call records its raw cost and keeps its tier-price bill', async () => {
      const ws = await seedWorkspace(world.t, Plan.PRO, 'Settle platform');
      const flagged = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: 'NaN' });
      expect(flagged).toMatchObject({ keySource: 'PLATFORM', flagged: true, billedMicros: TIER_PRICE });
      const settled = expectData(await world.t.gql(SETTLE, { id: flagged.id, raw: '0.0099' }, ws.adminToken)).settleUsageRecord;
      expect(settled).toMatchObject({ rawCostMicros: 9900, billedMicros: TIER_PRICE, flagged: false });
      expect(await summaryOf(ws, ws.adminToken)).toMatchObject({ flaggedCalls: 0, platformRawCostMicros: 9900, totalBilledMicros: TIER_PRICE, platformChargeMicros: TIER_PRICE });
      await expectRollupsMatchRecords(ws);
    });

    it('a BYOK settlement above the tier price bills 0', async () => {
      const ws = await byokWorkspace(world.t, canaryKey(), 'Settle high');
      const flagged = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: undefined });
      const settled = expectData(await world.t.gql(SETTLE, { id: flagged.id, raw: '1.25' }, ws.adminToken)).settleUsageRecord;
      expect(settled).toMatchObject({ rawCostMicros: 1_250_000, billedMicros: 0, flagged: false });
      expect(await summaryOf(ws)).toMatchObject({ totalBilledMicros: 0, byokRawCostMicros: 1_250_000, flaggedCalls: 0 });
      await expectRollupsMatchRecords(ws);
    });

    it('only platform admins may settle; everyone else is FORBIDDEN and nothing changes', async () => {
      const ws = await byokWorkspace(world.t, canaryKey(), 'Settle who');
      const flagged = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: -0.5 });
      const before = await summaryOf(ws);
      for (const token of [ws.tokens.owner, ws.tokens.admin, ws.tokens.billing, ws.tokens.member, ws.tokens.outsider]) {
        expectErrorCode(await world.t.gql(SETTLE, { id: flagged.id, raw: '0.004' }, token), 'FORBIDDEN');
      }
      const asService = await world.t.gql(SETTLE, { id: flagged.id, raw: '0.004' }, TEST_SERVICE_TOKEN);
      expect(asService.data ?? null).toBeNull();
      expect((asService.errors ?? []).map((error) => error.extensions?.code)).not.toContain('INTERNAL_SERVER_ERROR');
      expect(['FORBIDDEN', 'UNAUTHENTICATED']).toContain(asService.errors?.[0]?.extensions?.code);
      expectErrorCode(await world.t.gql(SETTLE, { id: flagged.id, raw: '0.004' }), 'UNAUTHENTICATED');
      expect(await summaryOf(ws)).toEqual(before);
      expect((await storedRecords(world.t, ws.id))[0]).toMatchObject({ flagged: true, billedMicros: 0, rawCostMicros: null });
    });

    it('settling a record that is not flagged is BAD_USER_INPUT; bad amounts and unknown ids are refused', async () => {
      const ws = await byokWorkspace(world.t, canaryKey(), 'Settle refusals');
      const fine = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004 });
      const flagged = await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: null });
      const before = await summaryOf(ws);
      expectErrorCode(await world.t.gql(SETTLE, { id: fine.id, raw: '0.001' }, ws.adminToken), 'BAD_USER_INPUT');
      for (const raw of ['-0.001', 'NaN', 'Infinity', '1e-3', '', ' 0.1', '0x10']) {
        expectErrorCode(await world.t.gql(SETTLE, { id: flagged.id, raw }, ws.adminToken), 'BAD_USER_INPUT');
      }
      expectErrorCode(await world.t.gql(SETTLE, { id: '00000000-0000-7000-8000-00000000dead', raw: '0.001' }, ws.adminToken), 'NOT_FOUND');
      expect(await summaryOf(ws)).toEqual(before);
      expect((await storedRecords(world.t, ws.id)).map((record) => [record.id, record.flagged, record.billedMicros])).toEqual([
        [fine.id, false, TIER_PRICE - 4000],
        [flagged.id, true, 0],
      ]);
    });
  });

  it('the key source is fixed when the call is made: calls before a key was added stay platform calls', async () => {
    const ws = await seedWorkspace(world.t, Plan.ENTERPRISE, 'Source fixed');
    await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004 });
    expectData(await world.t.gql(SAVE_KEY, { w: ws.id, k: canaryKey() }, ws.tokens.owner));
    await call(ws, { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004 });
    const records = await storedRecords(world.t, ws.id);
    expect(records.map((record) => [record.keySource, record.billedMicros])).toEqual([
      ['PLATFORM', TIER_PRICE],
      ['BYOK', TIER_PRICE - 4000],
    ]);
    expect(await summaryOf(ws)).toMatchObject({
      calls: 2,
      platformCalls: 1,
      byokCalls: 1,
      platformChargeMicros: TIER_PRICE,
      byokMarginMicros: TIER_PRICE - 4000,
      byokRawCostMicros: 4000,
      totalBilledMicros: 2 * TIER_PRICE - 4000,
      inputTokens: 2 * IN,
      outputTokens: 2 * OUT,
    });
    await expectRollupsMatchRecords(ws);
  });

  describe('answered before recorded', () => {
    it('journals each answered call until it is recorded, then leaves no file behind', async () => {
      const ws = await seedWorkspace(world.t, Plan.ENTERPRISE, 'Journal');
      const journals = () => readdirSync(world.t.db.dataDir).filter((name) => name.startsWith('usage-'));
      const release = await holdUsageWrites(world.t);
      try {
        expect((await callGateway(world.t, { workspaceId: ws.id, body: CHAT_BODY })).status).toBe(200);
        expect(journals()).toEqual([expect.stringMatching(/^usage-journal-/)]);
      } finally {
        await release();
      }
      expect(await storedRecords(world.t, ws.id)).toHaveLength(1);
      await eventually(async () => (journals().length === 0 ? true : undefined), 10_000, 'the journal segment to be removed');
    });

    it('answers while the record cannot be written yet, and a usage read right after waits for it', async () => {
      const ws = await seedWorkspace(world.t, Plan.ENTERPRISE, 'Answer first');
      const requestId = freshRequestId('first');
      world.fake.chatCompletion({ usage: { prompt_tokens: IN, completion_tokens: OUT, cost: 0.004 } }, { times: 1, when: (request) => request.headers['x-request-id'] === requestId });
      const release = await holdUsageWrites(world.t);
      let read: Promise<GraphQLResult>;
      try {
        const answer = await callGateway(world.t, { workspaceId: ws.id, requestId, body: CHAT_BODY });
        expect(answer.status).toBe(200);

        let readDone = false;
        const from = new Date(Date.now() - 3_600_000).toISOString();
        const to = new Date(Date.now() + 3_600_000).toISOString();
        read = world.t.gql(USAGE, { w: ws.id, from, to }, ws.tokens.billing);
        void read.then(() => {
          readDone = true;
        });
        await new Promise((resolveWait) => setTimeout(resolveWait, 300));
        expect(readDone).toBe(false);
      } finally {
        await release();
      }
      const page = expectData(await read).usage;
      expect(page.nodes).toEqual([expect.objectContaining({ requestId, keySource: 'PLATFORM', billedMicros: TIER_PRICE })]);
    });
  });
});
