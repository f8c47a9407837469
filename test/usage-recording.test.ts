import { UsageRecordEntity } from '../src/modules/usage/usage-record.entity';
import { InferencePath, KeySource } from '../src/modules/usage/usage.enums';
import { ModelTier } from '../src/modules/workspace/workspace.enums';
import { seedWorkspace, SeededWorkspace, sampleKey } from './support/fixtures';
import { startTestApp, TestApp, TEST_SERVICE_TOKEN } from './support/test-app';
import {
  BILLING_SUMMARY,
  callInput,
  dataOf,
  expectCode,
  recordCall,
  recordCount,
  recordOk,
  rollupTotals,
  setTierPrice,
  SET_TIER_PRICE,
  sql,
  TIER_PRICES,
  USAGE_PAGE,
  userIdOf,
} from './support/usage-calls';

/**
 * recordInferenceCall over HTTP on a real database: exact amounts, idempotency under concurrency,
 * who may record, validation, and prices that are effective-dated and never rewrite a record.
 *
 * Tier prices are global, so each case that changes one does it inside its own past month and
 * puts the published price back at the end of that month.
 */

const SEEDED = {
  FRONTIER: { input: 15_000_000, output: 75_000_000 },
  BALANCED: { input: 3_000_000, output: 15_000_000 },
  COST_EFFECTIVE: { input: 250_000, output: 1_250_000 },
};

describe('recording inference calls', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  let adminToken: string;

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t);
    adminToken = ws.adminToken;
  });
  afterAll(() => t.close());

  async function withPriceWindow(tier: keyof typeof SEEDED, input: number, output: number, from: string, until: string): Promise<void> {
    await setTierPrice(t, adminToken, tier, input, output, from);
    await setTierPrice(t, adminToken, tier, SEEDED[tier].input, SEEDED[tier].output, until);
  }

  async function storedRow(workspaceId: string, requestId: string): Promise<Record<string, number | string | null>> {
    const rows = await sql(
      t,
      'SELECT key_source, input_tokens, output_tokens, raw_cost_micros, tier_price_micros, billed_micros, flagged FROM usage_record WHERE workspace_id = ? AND request_id = ?',
      [workspaceId, requestId],
    );
    expect(rows).toHaveLength(1);
    const row = rows[0];
    return {
      keySource: row.key_source,
      inputTokens: Number(row.input_tokens),
      outputTokens: Number(row.output_tokens),
      rawCostMicros: row.raw_cost_micros === null ? null : Number(row.raw_cost_micros),
      tierPriceMicros: Number(row.tier_price_micros),
      billedMicros: Number(row.billed_micros),
      flagged: Number(row.flagged),
    };
  }

  // Runs first: nothing has changed the price table yet.
  it('tierPrices lists the seeded published prices to users and the service, not to anonymous callers or partners', async () => {
    const expected = [
      { tier: 'BALANCED', inputMicrosPerMillionTokens: 3_000_000, outputMicrosPerMillionTokens: 15_000_000, effectiveFrom: '2020-01-01T00:00:00.000Z' },
      { tier: 'COST_EFFECTIVE', inputMicrosPerMillionTokens: 250_000, outputMicrosPerMillionTokens: 1_250_000, effectiveFrom: '2020-01-01T00:00:00.000Z' },
      { tier: 'FRONTIER', inputMicrosPerMillionTokens: 15_000_000, outputMicrosPerMillionTokens: 75_000_000, effectiveFrom: '2020-01-01T00:00:00.000Z' },
    ];
    for (const token of [adminToken, ws.tokens.member, ws.tokens.outsider, TEST_SERVICE_TOKEN]) {
      expect(dataOf(await t.gql(TIER_PRICES, {}, token)).tierPrices).toEqual(expected);
    }
    expectCode(await t.gql(TIER_PRICES, {}), 'UNAUTHENTICATED');
    const partner = dataOf(await t.gql(`mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "bi") { token } }`, { w: ws.id }, ws.tokens.owner));
    expectCode(await t.gql(TIER_PRICES, {}, partner.createPartnerToken.token), 'FORBIDDEN');
  });

  it('marks a reported call COMPLETED, on the record as read and as stored', async () => {
    const input = callInput(ws.id, { occurredAt: '2025-01-20T08:00:00.000Z' });
    await recordOk(t, input);
    const page = dataOf(
      await t.gql(`query($w: ID!, $from: DateTime!, $to: DateTime!) { usage(workspaceId: $w, from: $from, to: $to) { nodes { requestId outcome } } }`, { w: ws.id, from: '2025-01-20T00:00:00.000Z', to: '2025-01-21T00:00:00.000Z' }, adminToken),
    );
    expect(page.usage.nodes).toEqual([{ requestId: input.requestId, outcome: 'COMPLETED' }]);
    expect(await sql(t, 'SELECT outcome FROM usage_record WHERE workspace_id = ? AND request_id = ?', [ws.id, input.requestId])).toEqual([{ outcome: 'COMPLETED' }]);
  });

  it('bills hand-computed calls exactly at the published prices', async () => {
    const at = '2025-02-10T12:00:00.000Z';
    const cases: Array<[string, Partial<Parameters<typeof callInput>[1]>, { tierPriceMicros: number; billedMicros: number; rawCostMicros: number | null }]> = [
      // 1000 × 3 + 500 × 15 = 10,500 µ$
      ['balanced platform', { tier: 'BALANCED', keySource: 'PLATFORM', inputTokens: 1000, outputTokens: 500, rawCostUsd: '0.0041235' }, { tierPriceMicros: 10_500, billedMicros: 10_500, rawCostMicros: null }],
      // 1234 × 15 + 567 × 75 = 18,510 + 42,525
      ['frontier platform', { tier: 'FRONTIER', keySource: 'PLATFORM', inputTokens: 1234, outputTokens: 567, rawCostUsd: '0.05' }, { tierPriceMicros: 61_035, billedMicros: 61_035, rawCostMicros: null }],
      // 2 × 0.25 = 0.5 µ$: half-up
      ['cost-effective .5 rounds up', { tier: 'COST_EFFECTIVE', inputTokens: 2, outputTokens: 0 }, { tierPriceMicros: 1, billedMicros: 1, rawCostMicros: null }],
      // 1 × 0.25 = 0.25 µ$
      ['cost-effective .25 rounds down', { tier: 'COST_EFFECTIVE', inputTokens: 1, outputTokens: 0 }, { tierPriceMicros: 0, billedMicros: 0, rawCostMicros: null }],
      // 0.25 + 1.25 = 1.5 µ$, rounded once on the sum
      ['cost-effective 1.5 rounds up', { tier: 'COST_EFFECTIVE', inputTokens: 1, outputTokens: 1 }, { tierPriceMicros: 2, billedMicros: 2, rawCostMicros: null }],
      ['zero tokens', { tier: 'FRONTIER', inputTokens: 0, outputTokens: 0, rawCostUsd: '0' }, { tierPriceMicros: 0, billedMicros: 0, rawCostMicros: null }],
      // raw "0.0041235" is 4123.5 µ$ → 4124; margin 10,500 − 4,124
      ['BYOK margin', { keySource: 'BYOK', rawCostUsd: '0.0041235' }, { tierPriceMicros: 10_500, billedMicros: 6_376, rawCostMicros: 4_124 }],
      ['BYOK margin floored at zero', { keySource: 'BYOK', rawCostUsd: '0.02' }, { tierPriceMicros: 10_500, billedMicros: 0, rawCostMicros: 20_000 }],
      ['BYOK free upstream', { keySource: 'BYOK', rawCostUsd: '0' }, { tierPriceMicros: 10_500, billedMicros: 10_500, rawCostMicros: 0 }],
      ['BYOK raw cost of exactly .5 µ$ rounds up', { tier: 'COST_EFFECTIVE', keySource: 'BYOK', inputTokens: 2, outputTokens: 0, rawCostUsd: '0.0000005' }, { tierPriceMicros: 1, billedMicros: 0, rawCostMicros: 1 }],
      ['BYOK raw cost just below .5 µ$ rounds down', { tier: 'COST_EFFECTIVE', keySource: 'BYOK', inputTokens: 2, outputTokens: 0, rawCostUsd: '0.00000049' }, { tierPriceMicros: 1, billedMicros: 1, rawCostMicros: 0 }],
    ];
    const target = await seedWorkspace(t, undefined, 'Exact');
    for (const [name, overrides, expected] of cases) {
      const input = callInput(target.id, { occurredAt: at, ...overrides });
      const record = await recordOk(t, input);
      expect({ name, ...record }).toMatchObject({ name, ...expected, keySource: input.keySource, occurredAt: at, flagged: false });
      const stored = await storedRow(target.id, input.requestId);
      // the database holds the raw cost of platform calls too; only the API hides it
      expect({ name, tierPriceMicros: stored.tierPriceMicros, billedMicros: stored.billedMicros }).toEqual({ name, tierPriceMicros: expected.tierPriceMicros, billedMicros: expected.billedMicros });
    }
    const summary = dataOf(await t.gql(BILLING_SUMMARY, { w: target.id, month: '2025-02' }, target.tokens.billing)).billingSummary;
    const billed = cases.reduce((sum, [, , expected]) => sum + expected.billedMicros, 0);
    expect(summary).toMatchObject({
      calls: cases.length,
      byokCalls: 5,
      platformCalls: 6,
      tierPriceMicros: cases.reduce((sum, [, , expected]) => sum + expected.tierPriceMicros, 0),
      byokRawCostMicros: 4_124 + 20_000 + 0 + 1 + 0,
      byokMarginMicros: 6_376 + 0 + 10_500 + 0 + 1,
      totalBilledMicros: billed,
      platformRawCostMicros: null,
    });
    const asAdmin = dataOf(await t.gql(BILLING_SUMMARY, { w: target.id, month: '2025-02' }, adminToken)).billingSummary;
    // 4123.5 → 4124, 0.05 → 50,000, the 0.001 defaults → 1,000 each (three), "0" → 0
    expect(asAdmin.platformRawCostMicros).toBe(4_124 + 50_000 + 1_000 * 3 + 0);
  });

  it('rounds a tier price of exactly .5 µ$ up and just below .5 down, with prices set for the case', async () => {
    // 0.5 µ$ per input token, 1.499999 µ$ per output token, during March 2021 only
    await withPriceWindow('BALANCED', 500_000, 1_499_999, '2021-03-01T00:00:00.000Z', '2021-04-01T00:00:00.000Z');
    const target = await seedWorkspace(t, undefined, 'Half');
    const cases: Array<[number, number, string, number]> = [
      [1, 0, '2021-03-10T00:00:00.000Z', 1], // 0.5 → 1
      [3, 0, '2021-03-10T00:00:00.000Z', 2], // 1.5 → 2
      [5, 0, '2021-03-10T00:00:00.000Z', 3], // 2.5 → 3 (half-up, not to even)
      [0, 1, '2021-03-10T00:00:00.000Z', 1], // 1.499999 → 1
      [1, 1, '2021-03-10T00:00:00.000Z', 2], // 1.999999 → 2
      [0, 0, '2021-03-10T00:00:00.000Z', 0],
      [1, 0, '2021-03-01T00:00:00.000Z', 1], // the first instant of the window
      [1000, 500, '2021-02-28T23:59:59.999Z', 10_500], // before the window: the published price
      [1000, 500, '2021-04-01T00:00:00.000Z', 10_500], // the window has ended
    ];
    for (const [inputTokens, outputTokens, occurredAt, expected] of cases) {
      const record = await recordOk(t, callInput(target.id, { inputTokens, outputTokens, occurredAt }));
      expect({ inputTokens, outputTokens, occurredAt, tierPriceMicros: record.tierPriceMicros, billedMicros: record.billedMicros }).toEqual({
        inputTokens,
        outputTokens,
        occurredAt,
        tierPriceMicros: expected,
        billedMicros: expected,
      });
    }
  });

  it('bills the dearest calls the limits allow exactly, where tokens × price pass 2^53', async () => {
    // 10^12 µ$ per million input tokens (1 USD a token) and 0.5 µ$ per output token, during May 2021 only
    await withPriceWindow('FRONTIER', 1_000_000_000_000, 500_000, '2021-05-01T00:00:00.000Z', '2021-06-01T00:00:00.000Z');
    const target = await seedWorkspace(t, undefined, 'Huge');
    const at = '2021-05-20T08:00:00.000Z';
    // 2×10^7 × 10^12 = 2×10^19 µ$·tokens/M: beyond 2^53 before the division
    const a = await recordOk(t, callInput(target.id, { tier: 'FRONTIER', inputTokens: 20_000_000, outputTokens: 0, occurredAt: at }));
    expect(a).toMatchObject({ tierPriceMicros: 20_000_000_000_000, billedMicros: 20_000_000_000_000, inputTokens: 20_000_000 });
    // (2×10^7 − 1) × 10^6 + 1 × 0.5 = 19,999,999,000,000.5 → 19,999,999,000,001 (half-up at this size)
    const b = await recordOk(t, callInput(target.id, { tier: 'FRONTIER', inputTokens: 19_999_999, outputTokens: 1, occurredAt: at }));
    expect(b).toMatchObject({ tierPriceMicros: 19_999_999_000_001, billedMicros: 19_999_999_000_001 });
    // BYOK: raw $999.9999995 = 999,999,999.5 µ$ → 1,000,000,000, the most one call may cost
    const c = await recordOk(t, callInput(target.id, { tier: 'FRONTIER', keySource: 'BYOK', inputTokens: 20_000_000, outputTokens: 0, rawCostUsd: '999.9999995', occurredAt: at }));
    expect(c).toMatchObject({ tierPriceMicros: 20_000_000_000_000, rawCostMicros: 1_000_000_000, billedMicros: 19_999_000_000_000 });
    const summary = dataOf(await t.gql(BILLING_SUMMARY, { w: target.id, month: '2021-05' }, target.tokens.owner)).billingSummary;
    expect(summary).toMatchObject({
      calls: 3,
      inputTokens: 59_999_999,
      outputTokens: 1,
      tierPriceMicros: 59_999_999_000_001,
      byokRawCostMicros: 1_000_000_000,
      platformChargeMicros: 39_999_999_000_001,
      byokMarginMicros: 19_999_000_000_000,
      totalBilledMicros: 59_998_999_000_001,
    });
    expect(summary.byTier.find((b: { tier: string }) => b.tier === 'FRONTIER')).toEqual({
      tier: 'FRONTIER',
      calls: 3,
      inputTokens: 59_999_999,
      outputTokens: 1,
      billedMicros: 59_998_999_000_001,
    });

    // Both counts at the limit, at the dearest price setTierPrice takes: 4 × 10^13 µ$, stored exactly.
    await withPriceWindow('FRONTIER', 1_000_000_000_000, 1_000_000_000_000, '2021-07-01T00:00:00.000Z', '2021-08-01T00:00:00.000Z');
    const alone = await seedWorkspace(t, undefined, 'Max');
    const d = await recordOk(t, callInput(alone.id, { tier: 'FRONTIER', inputTokens: 20_000_000, outputTokens: 20_000_000, occurredAt: '2021-07-03T03:03:03.003Z' }));
    expect(d).toMatchObject({ inputTokens: 20_000_000, outputTokens: 20_000_000, tierPriceMicros: 40_000_000_000_000, billedMicros: 40_000_000_000_000 });
    expect(await storedRow(alone.id, d.requestId)).toMatchObject({ inputTokens: 20_000_000, tierPriceMicros: 40_000_000_000_000 });
    const maxSummary = dataOf(await t.gql(BILLING_SUMMARY, { w: alone.id, month: '2021-07' }, alone.tokens.owner)).billingSummary;
    expect(maxSummary).toMatchObject({ calls: 1, inputTokens: 20_000_000, totalBilledMicros: 40_000_000_000_000 });
  });

  it('refuses token counts beyond one call\'s limits, which keep every tier price below 2^53 − 1 µ$, with BAD_USER_INPUT, and stores nothing', async () => {
    const target = await seedWorkspace(t, undefined, 'Beyond the largest bill');
    // 6 × 10^14 output tokens at 75 USD per million would be 4.5 × 10^16 µ$
    const refused = await recordCall(t, callInput(target.id, { tier: 'FRONTIER', inputTokens: 0, outputTokens: 600_000_000_000_000 }));
    expectCode(refused, 'BAD_USER_INPUT');
    expect(refused.errors?.[0].message).toBe('outputTokens may be at most 20000000 per call');
    // the same at the boundary and beyond it on both counts
    expectCode(await recordCall(t, callInput(target.id, { tier: 'FRONTIER', inputTokens: Number.MAX_SAFE_INTEGER, outputTokens: Number.MAX_SAFE_INTEGER })), 'BAD_USER_INPUT');
    expect(await recordCount(t, target.id)).toBe(0);
  });

  it('keeps one record when 20 retries of one request id arrive at once', async () => {
    const target = await seedWorkspace(t, undefined, 'Retries');
    const input = callInput(target.id, { keySource: 'BYOK', rawCostUsd: '0.0041235', occurredAt: '2025-04-04T04:04:04.004Z' });
    const results = await Promise.all(Array.from({ length: 20 }, () => recordCall(t, input)));
    const records = results.map((result) => dataOf(result).recordInferenceCall);
    expect(new Set(records.map((record) => record.id)).size).toBe(1);
    for (const record of records) expect(record).toMatchObject({ requestId: input.requestId, tierPriceMicros: 10_500, billedMicros: 6_376, rawCostMicros: 4_124 });
    expect(await recordCount(t, target.id)).toBe(1);
    expect(await rollupTotals(t, target.id)).toEqual({
      calls: 1,
      inputTokens: 1000,
      outputTokens: 500,
      tierPriceMicros: 10_500,
      rawCostMicros: 4_124,
      billedMicros: 6_376,
      flaggedCalls: 0,
    });
    const summary = dataOf(await t.gql(BILLING_SUMMARY, { w: target.id, month: '2025-04' }, target.tokens.owner)).billingSummary;
    expect(summary).toMatchObject({ calls: 1, byokCalls: 1, totalBilledMicros: 6_376 });
  });

  it('writes calls that arrive together in one transaction, and still settles each call on its own', async () => {
    const target = await seedWorkspace(t, undefined, 'Group commit');
    const recorder = t.app.seam.usageRecorder;
    const base = {
      workspaceId: target.id,
      path: InferencePath.AGENT_RUN,
      model: 'openai/gpt-4o',
      tier: ModelTier.BALANCED,
      keySource: KeySource.PLATFORM,
      inputTokens: 1000,
      outputTokens: 500,
      rawCostMicros: 1000,
      occurredAt: new Date('2025-07-07T07:07:07.007Z'),
    };
    await recorder.record({ ...base, requestId: 'group-warm-up' });
    // The recorder's own write transactions, seen through its hook: background workers (webhook
    // dispatch, key re-checks) open transactions on the same DataSource at any moment.
    const writes: string[][] = [];
    recorder.onRecordsWritten(async (_manager, _unit, records) => {
      const ours = records.filter((record) => record.workspaceId === target.id);
      if (ours.length > 0) writes.push(ours.map((record) => record.requestId));
    });
    const fresh = Array.from({ length: 40 }, (_, index) => ({ ...base, requestId: `group-${index}` }));
    const outcomes = await Promise.allSettled([
      ...fresh.map((call) => recorder.record(call)),
      recorder.record({ ...base, requestId: 'group-0' }),
      recorder.record({ ...base, requestId: 'group-1', inputTokens: 999 }),
      recorder.record({ ...base, requestId: 'group-unpriced', occurredAt: new Date('2019-12-31T23:59:59.999Z') }),
      recorder.record({ ...base, requestId: 'group-warm-up' }),
    ]);

    expect(writes).toHaveLength(1);
    expect(writes[0]!.sort()).toEqual(fresh.map((call) => call.requestId).sort());
    const value = (index: number) => (outcomes[index] as PromiseFulfilledResult<UsageRecordEntity>).value;
    for (let index = 0; index < 40; index += 1) expect(value(index)).toMatchObject({ requestId: `group-${index}`, tierPriceMicros: 10_500, billedMicros: 10_500 });
    expect(value(40).id).toBe(value(0).id);
    expect(outcomes[41]).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ code: 'CONFLICT' }) });
    expect(outcomes[42]).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ code: 'BAD_USER_INPUT' }) });
    expect(value(43).requestId).toBe('group-warm-up');
    expect(await recordCount(t, target.id)).toBe(41);
    expect(await rollupTotals(t, target.id)).toMatchObject({ calls: 41, tierPriceMicros: 41 * 10_500, billedMicros: 41 * 10_500, rawCostMicros: 41 * 1000 });
  });

  it('keeps one record per request id when two workers record the same 30 calls at once', async () => {
    const target = await seedWorkspace(t, undefined, 'Two workers');
    const second = await startTestApp({ db: t.db });
    try {
      const inputs = Array.from({ length: 30 }, () => callInput(target.id, { occurredAt: '2025-08-08T08:08:08.008Z' }));
      const [viaFirst, viaSecond] = await Promise.all([t, second].map((worker) => Promise.all(inputs.map((input) => recordCall(worker, input)))));
      for (let index = 0; index < inputs.length; index += 1) {
        expect(dataOf(viaFirst[index]).recordInferenceCall.id).toBe(dataOf(viaSecond[index]).recordInferenceCall.id);
      }
      expect(await recordCount(t, target.id)).toBe(30);
      expect(await rollupTotals(t, target.id)).toMatchObject({ calls: 30, billedMicros: 30 * 10_500 });
    } finally {
      await second.close();
    }
  });

  it('answers a retry with the first record and a different payload under a used request id with CONFLICT', async () => {
    const target = await seedWorkspace(t, undefined, 'Conflicts');
    const input = callInput(target.id, { occurredAt: '2025-05-05T05:05:05.005Z', actorUserId: userIdOf(target, 'member') });
    const first = await recordOk(t, input);
    expect((await recordOk(t, input)).id).toBe(first.id);
    // the same amount written differently is the same call
    expect((await recordOk(t, { ...input, rawCostUsd: '0.0010000' })).id).toBe(first.id);
    expect((await recordOk(t, { ...input, rawCostUsd: '000.001' })).id).toBe(first.id);
    const changes: Array<Partial<typeof input>> = [
      { inputTokens: 1001 },
      { outputTokens: 499 },
      { rawCostUsd: '0.002' },
      // another amount, though it rounds to the same micro-USD (1,000 µ$)
      { rawCostUsd: '0.0010001' },
      { model: 'anthropic/claude-sonnet-4' },
      { tier: 'FRONTIER' },
      { keySource: 'BYOK' },
      { path: 'SEARCH_INDEXER' },
      { occurredAt: '2025-05-05T05:05:05.006Z' },
      { actorUserId: userIdOf(target, 'owner') },
    ];
    for (const change of changes) {
      const result = await recordCall(t, { ...input, ...change });
      expectCode(result, 'CONFLICT');
    }
    // occurredAt left out is a different payload from one that names a time
    const { occurredAt: _omitted, ...withoutTime } = input;
    expectCode(await recordCall(t, withoutTime), 'CONFLICT');
    expect(await recordCount(t, target.id)).toBe(1);
    expect((await rollupTotals(t, target.id)).calls).toBe(1);
    // request ids are scoped to their workspace
    const other = await seedWorkspace(t, undefined, 'Other');
    const elsewhere = await recordOk(t, { ...input, workspaceId: other.id });
    expect(elsewhere.id).not.toBe(first.id);
  });

  it('lets only the service token record: users, platform admins and partner tokens are FORBIDDEN, anonymous callers UNAUTHENTICATED', async () => {
    const target = await seedWorkspace(t, undefined, 'Who');
    const partner = dataOf(await t.gql(`mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "bi") { token } }`, { w: target.id }, target.tokens.owner));
    const input = () => callInput(target.id, { occurredAt: '2025-06-06T06:06:06.006Z' });
    for (const token of [target.tokens.owner, target.tokens.admin, target.tokens.billing, target.tokens.member, target.tokens.outsider, adminToken, partner.createPartnerToken.token]) {
      expectCode(await recordCall(t, input(), token), 'FORBIDDEN');
    }
    expectCode(await recordCall(t, input(), null), 'UNAUTHENTICATED');
    expectCode(await recordCall(t, input(), 'not-the-service-token'), 'UNAUTHENTICATED');
    expectCode(await recordCall(t, input(), `${TEST_SERVICE_TOKEN}x`), 'UNAUTHENTICATED');
    expect(await recordCount(t, target.id)).toBe(0);
  });

  describe('validation', () => {
    let target: SeededWorkspace;
    beforeAll(async () => {
      target = await seedWorkspace(t, undefined, 'Validation');
    });

    const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
    const invalid: Array<[string, () => Record<string, unknown>]> = [
      ['negative input tokens', () => ({ inputTokens: -1 })],
      ['negative output tokens', () => ({ outputTokens: -1 })],
      ['fractional tokens', () => ({ inputTokens: 1.5 })],
      ['tokens beyond 2^53', () => ({ outputTokens: 2 ** 53 })],
      ['tokens as a string', () => ({ inputTokens: '1000' })],
      ['a blank model', () => ({ model: '' })],
      ['a white-space model', () => ({ model: '   ' })],
      ['a model of 201 characters', () => ({ model: 'm'.repeat(201) })],
      ['an empty request id', () => ({ requestId: '' })],
      ['a request id of 129 characters', () => ({ requestId: 'r'.repeat(129) })],
      ['rawCostUsd junk', () => ({ rawCostUsd: 'abc' })],
      ['rawCostUsd with an exponent', () => ({ rawCostUsd: '1e-6' })],
      ['rawCostUsd negative', () => ({ rawCostUsd: '-0.001' })],
      ['rawCostUsd with a plus sign', () => ({ rawCostUsd: '+0.001' })],
      ['rawCostUsd empty', () => ({ rawCostUsd: '' })],
      ['rawCostUsd NaN', () => ({ rawCostUsd: 'NaN' })],
      ['rawCostUsd Infinity', () => ({ rawCostUsd: 'Infinity' })],
      ['rawCostUsd with a leading space', () => ({ rawCostUsd: ' 0.001' })],
      ['rawCostUsd as a number', () => ({ rawCostUsd: 0.001 })],
      ['an unknown tier', () => ({ tier: 'ULTRA' })],
      ['an unknown path', () => ({ path: 'SOMETHING_ELSE' })],
      ['an unknown key source', () => ({ keySource: 'BOTH' })],
      ['occurredAt that is not a date', () => ({ occurredAt: 'yesterday' })],
      ['occurredAt 6 minutes in the future', () => ({ occurredAt: minutesFromNow(6) })],
      ['occurredAt a year in the future', () => ({ occurredAt: minutesFromNow(525_600) })],
      ['occurredAt before any price was in effect', () => ({ occurredAt: '2019-12-31T23:59:59.999Z' })],
      ['a workspace id of 65 characters', () => ({ workspaceId: 'w'.repeat(65) })],
    ];

    it.each(invalid)('refuses %s with BAD_USER_INPUT and stores nothing', async (_name, change) => {
      const before = await rollupTotals(t, target.id);
      const result = await t.gql(`mutation($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { id } }`, {
        input: { ...callInput(target.id), ...change() },
      }, TEST_SERVICE_TOKEN);
      expectCode(result, 'BAD_USER_INPUT');
      expect(await recordCount(t, target.id)).toBe(0);
      expect(await rollupTotals(t, target.id)).toEqual(before);
    });

    it('accepts occurredAt 4 minutes in the future, backfills years ago, the first priced instant and limits at their edges', async () => {
      const accepted: Array<Parameters<typeof callInput>[1]> = [
        { occurredAt: minutesFromNow(4) },
        { occurredAt: '2020-06-15T10:00:00.000Z' },
        { occurredAt: '2020-01-01T00:00:00.000Z' },
        { requestId: 'r'.repeat(128) },
        { model: 'm'.repeat(200) },
        { inputTokens: 0, outputTokens: 0 },
      ];
      for (const overrides of accepted) {
        const input = callInput(target.id, overrides);
        const record = await recordOk(t, input);
        if (input.occurredAt) expect(record.occurredAt).toBe(input.occurredAt);
      }
      expect(await recordCount(t, target.id)).toBe(accepted.length);
    });

    it('defaults occurredAt to the time of recording', async () => {
      const before = Date.now();
      const input = callInput(target.id);
      const record = await recordOk(t, input);
      const at = Date.parse(record.occurredAt);
      expect(at).toBeGreaterThanOrEqual(before - 1);
      expect(at).toBeLessThanOrEqual(Date.now() + 1);
      // a retry without occurredAt is the same call, not a new one at a later time
      expect((await recordOk(t, input)).id).toBe(record.id);
    });
  });

  it('answers NOT_FOUND for an unknown workspace and stores nothing', async () => {
    const result = await recordCall(t, callInput('00000000-0000-7000-8000-00000000dead'));
    expectCode(result, 'NOT_FOUND');
    const [row] = await sql<{ n: number | string }>(t, 'SELECT COUNT(*) AS n FROM usage_record WHERE workspace_id = ?', ['00000000-0000-7000-8000-00000000dead']);
    expect(Number(row.n)).toBe(0);
  });

  it('fixes the key source and amounts at call time: later key, plan and price changes leave records as billed', async () => {
    const target = await seedWorkspace(t, undefined, 'Fixed');
    dataOf(await t.gql(`mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }`, { w: target.id, k: sampleKey('f') }, target.tokens.owner));
    const at = '2021-07-10T10:00:00.000Z';
    const byok = callInput(target.id, { keySource: 'BYOK', rawCostUsd: '0.002', occurredAt: at });
    const platform = callInput(target.id, { keySource: 'PLATFORM', occurredAt: at });
    const byokRecord = await recordOk(t, byok);
    const platformRecord = await recordOk(t, platform);
    expect(byokRecord).toMatchObject({ keySource: 'BYOK', tierPriceMicros: 10_500, rawCostMicros: 2_000, billedMicros: 8_500 });
    expect(platformRecord).toMatchObject({ keySource: 'PLATFORM', tierPriceMicros: 10_500, billedMicros: 10_500 });
    const summaryBefore = dataOf(await t.gql(BILLING_SUMMARY, { w: target.id, month: '2021-07' }, target.tokens.owner)).billingSummary;

    // the key goes (plan change), and BALANCED costs double from before the calls' time
    dataOf(await t.gql(`mutation($w: ID!) { changePlan(workspaceId: $w, plan: PRO) { plan } }`, { w: target.id }, adminToken));
    await withPriceWindow('BALANCED', 6_000_000, 30_000_000, '2021-07-01T00:00:00.000Z', '2021-08-01T00:00:00.000Z');

    const page = dataOf(await t.gql(USAGE_PAGE, { w: target.id, from: '2021-07-01T00:00:00Z', to: '2021-08-01T00:00:00Z' }, target.tokens.owner)).usage;
    const byId = new Map(page.nodes.map((node: { id: string }) => [node.id, node]));
    expect(byId.get(byokRecord.id)).toEqual(byokRecord);
    expect(byId.get(platformRecord.id)).toEqual({ ...platformRecord, rawCostMicros: null });
    expect(await storedRow(target.id, byok.requestId)).toMatchObject({ keySource: 'BYOK', tierPriceMicros: 10_500, billedMicros: 8_500 });
    expect(dataOf(await t.gql(BILLING_SUMMARY, { w: target.id, month: '2021-07' }, target.tokens.owner)).billingSummary).toEqual(summaryBefore);
    // a retry of a recorded call is answered with the record as billed, not re-priced
    expect(await recordOk(t, byok)).toEqual(byokRecord);
    // a new call at the same time is priced at the new price
    const later = await recordOk(t, callInput(target.id, { occurredAt: at }));
    expect(later).toMatchObject({ tierPriceMicros: 21_000, billedMicros: 21_000 });
  });

  it('applies a price change to calls at or after effectiveFrom only, and never rewrites recorded calls', async () => {
    const target = await seedWorkspace(t, undefined, 'Prices');
    const from = '2021-09-10T12:00:00.000Z';
    // recorded before the change, at the very instant the new price will start
    const early = await recordOk(t, callInput(target.id, { tier: 'COST_EFFECTIVE', inputTokens: 1_000_000, outputTokens: 0, occurredAt: from }));
    expect(early.tierPriceMicros).toBe(250_000);

    const set = dataOf(await t.gql(SET_TIER_PRICE, { tier: 'COST_EFFECTIVE', in: 400_000, out: 2_000_000, from }, adminToken)).setTierPrice;
    expect(set).toEqual({ tier: 'COST_EFFECTIVE', inputMicrosPerMillionTokens: 400_000, outputMicrosPerMillionTokens: 2_000_000, effectiveFrom: from });
    await setTierPrice(t, adminToken, 'COST_EFFECTIVE', SEEDED.COST_EFFECTIVE.input, SEEDED.COST_EFFECTIVE.output, '2021-10-01T00:00:00.000Z');

    const price = async (occurredAt: string) => (await recordOk(t, callInput(target.id, { tier: 'COST_EFFECTIVE', inputTokens: 1_000_000, outputTokens: 0, occurredAt }))).tierPriceMicros;
    expect(await price('2021-09-10T11:59:59.999Z')).toBe(250_000);
    expect(await price(from)).toBe(400_000);
    expect(await price('2021-09-30T23:59:59.999Z')).toBe(400_000);
    expect(await price('2021-10-01T00:00:00.000Z')).toBe(250_000);

    // correcting the row with the same start replaces it, for calls recorded from then on
    await setTierPrice(t, adminToken, 'COST_EFFECTIVE', 500_000, 2_000_000, from);
    expect(await price('2021-09-20T00:00:00.000Z')).toBe(500_000);

    const stored = await sql(t, 'SELECT request_id, tier_price_micros FROM usage_record WHERE workspace_id = ? ORDER BY occurred_at, recorded_at', [target.id]);
    expect(stored.find((row) => row.request_id === early.requestId)?.tier_price_micros).toEqual(expect.anything());
    expect(Number(stored.find((row) => row.request_id === early.requestId)?.tier_price_micros)).toBe(250_000);
    const prices = dataOf(await t.gql(TIER_PRICES, {}, adminToken)).tierPrices.filter((row: { tier: string }) => row.tier === 'COST_EFFECTIVE');
    expect(prices).toEqual([
      { tier: 'COST_EFFECTIVE', inputMicrosPerMillionTokens: 250_000, outputMicrosPerMillionTokens: 1_250_000, effectiveFrom: '2021-10-01T00:00:00.000Z' },
      { tier: 'COST_EFFECTIVE', inputMicrosPerMillionTokens: 500_000, outputMicrosPerMillionTokens: 2_000_000, effectiveFrom: from },
      { tier: 'COST_EFFECTIVE', inputMicrosPerMillionTokens: 250_000, outputMicrosPerMillionTokens: 1_250_000, effectiveFrom: '2020-01-01T00:00:00.000Z' },
    ]);
  });

  describe('prices across workers', () => {
    const WINDOW = { from: '2025-09-01T00:00:00.000Z', at: '2025-09-15T12:00:00.000Z' };

    it('a price change made on one worker prices the very next call on another, without Redis', async () => {
      const first = await startTestApp({ db: t.db });
      const second = await startTestApp({ db: t.db });
      try {
        const target = await seedWorkspace(first, undefined, 'Prices across workers');
        // The second worker has priced a call with the schedule as it is now.
        expect((await recordOk(second, callInput(target.id, { occurredAt: WINDOW.at }))).tierPriceMicros).toBe(10_500);
        await setTierPrice(first, adminToken, 'BALANCED', 6_000_000, 30_000_000, WINDOW.from);
        try {
          expect((await recordOk(second, callInput(target.id, { occurredAt: WINDOW.at }))).tierPriceMicros).toBe(21_000);
        } finally {
          await setTierPrice(first, adminToken, 'BALANCED', SEEDED.BALANCED.input, SEEDED.BALANCED.output, WINDOW.from);
        }
        expect((await recordOk(second, callInput(target.id, { occurredAt: WINDOW.at }))).tierPriceMicros).toBe(10_500);
      } finally {
        await Promise.all([first.close(), second.close()]);
      }
    });
  });

  it('lets only platform admins set prices, and refuses out-of-range prices', async () => {
    const partner = dataOf(await t.gql(`mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "bi") { token } }`, { w: ws.id }, ws.tokens.owner));
    const variables = { tier: 'FRONTIER', in: 1, out: 1, from: '2021-11-01T00:00:00.000Z' };
    for (const token of [ws.tokens.owner, ws.tokens.admin, ws.tokens.billing, ws.tokens.member, ws.tokens.outsider, TEST_SERVICE_TOKEN, partner.createPartnerToken.token]) {
      expectCode(await t.gql(SET_TIER_PRICE, variables, token), 'FORBIDDEN');
    }
    expectCode(await t.gql(SET_TIER_PRICE, variables), 'UNAUTHENTICATED');
    for (const bad of [
      { in: -1 },
      { out: -1 },
      { in: 1_000_000_000_001 },
      { in: 1.5 },
      { from: 'soon' },
    ]) {
      expectCode(await t.gql(SET_TIER_PRICE, { ...variables, ...bad }, adminToken), 'BAD_USER_INPUT');
    }
    const rows = await sql(t, 'SELECT COUNT(*) AS n FROM tier_price WHERE effective_from >= ? AND tier = ?', ['2021-11-01 00:00:00.000', 'FRONTIER']);
    expect(Number(rows[0].n)).toBe(0);
  });
});
