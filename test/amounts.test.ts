import { MAX_RAW_COST_MICROS_PER_CALL, MAX_TOKENS_PER_CALL } from '../src/modules/usage/call-limits';
import { expectErrorCode } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';
import {
  BILLING_SUMMARY,
  CallInput,
  callInput,
  dataOf,
  LLM_ANALYTICS,
  mapConcurrently,
  recordCall,
  recordCount,
  recordOk,
  setTierPrice,
  sql,
  USAGE_COUNT,
  USAGE_PAGE,
} from './support/usage-calls';

/**
 * Amounts (SPEC.md, "Hostile input"): recordInferenceCall refuses a call beyond one call's limits
 * (20,000,000 input and 20,000,000 output tokens, 1,000 USD of raw cost) with BAD_USER_INPUT; a sum
 * beyond 2^53 − 1 answers AMOUNT_OUT_OF_RANGE, never INTERNAL_SERVER_ERROR, on SQLite (whose SUM
 * overflows into an error, and whose arithmetic overflows into REAL) and on MySQL (whose SUM is a
 * DECIMAL string).
 */

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO_TO_THE_62 = '4611686018427387904';

describe('amounts', () => {
  let t: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestApp();
    adminToken = await t.token('amounts-admin', { admin: true });
  });
  afterAll(() => t.close());

  describe("one call's limits", () => {
    let ws: SeededWorkspace;
    beforeAll(async () => {
      ws = await seedWorkspace(t, undefined, 'Limits');
    });

    it('are what SPEC.md says', () => {
      expect(MAX_TOKENS_PER_CALL).toBe(20_000_000);
      expect(MAX_RAW_COST_MICROS_PER_CALL).toBe(1_000 * 1_000_000);
    });

    it.each<[string, Partial<CallInput>, Record<string, unknown>]>([
      ['input tokens at the limit', { inputTokens: 20_000_000 }, { inputTokens: 20_000_000 }],
      ['output tokens at the limit', { outputTokens: 20_000_000 }, { outputTokens: 20_000_000 }],
      ['both at the limit, at FRONTIER prices', { inputTokens: 20_000_000, outputTokens: 20_000_000, tier: 'FRONTIER' }, { tierPriceMicros: 1_800_000_000 }],
      ['a raw cost of exactly 1,000 USD', { rawCostUsd: '1000', keySource: 'BYOK' }, { rawCostMicros: 1_000_000_000 }],
      ['a raw cost that rounds to 1,000 USD', { rawCostUsd: '1000.0000004', keySource: 'BYOK' }, { rawCostMicros: 1_000_000_000 }],
    ])('accept %s', async (_name, overrides, expected) => {
      expect(await recordOk(t, callInput(ws.id, overrides))).toMatchObject(expected);
    });

    it.each([
      ['input tokens', { inputTokens: 20_000_001 }, 'inputTokens may be at most 20000000 per call'],
      ['output tokens', { outputTokens: 20_000_001 }, 'outputTokens may be at most 20000000 per call'],
      ['input tokens far beyond', { inputTokens: MAX_SAFE }, 'inputTokens may be at most 20000000 per call'],
      ['a raw cost a micro-dollar beyond', { rawCostUsd: '1000.000001' }, 'rawCostUsd may be at most 1000 USD per call'],
      ['a raw cost that rounds beyond', { rawCostUsd: '1000.0000005' }, 'rawCostUsd may be at most 1000 USD per call'],
      ['a raw cost of a billion dollars', { rawCostUsd: '1000000000' }, 'rawCostUsd may be at most 1000 USD per call'],
    ])('refuse %s beyond them with BAD_USER_INPUT, store nothing and echo no value', async (_name, overrides, message) => {
      const before = await recordCount(t, ws.id);
      for (const keySource of ['PLATFORM', 'BYOK']) {
        const input = callInput(ws.id, { ...overrides, keySource });
        const result = await recordCall(t, input);
        expectErrorCode(result, 'BAD_USER_INPUT');
        expect(result.errors?.[0].message).toBe(message);
        for (const value of Object.values(overrides)) expect(result.text).not.toContain(String(value));
        expect(result.text).not.toContain(input.requestId);
      }
      expect(await recordCount(t, ws.id)).toBe(before);
    });
  });

  describe('sums beyond 2^53 − 1', () => {
    /** Each case gets a workspace of its own, with a normal call on a normal day beside the damage. */
    async function workspace(name: string): Promise<SeededWorkspace> {
      const ws = await seedWorkspace(t, undefined, name);
      await recordOk(t, callInput(ws.id, { occurredAt: '2026-02-03T10:00:00.000Z' }));
      return ws;
    }

    const summary = (ws: SeededWorkspace, month = '2026-02') => t.gql(BILLING_SUMMARY, { w: ws.id, month }, ws.tokens.billing);
    const analytics = (ws: SeededWorkspace, from: string, to: string, groupBy = 'TIER') => t.gql(LLM_ANALYTICS, { w: ws.id, from, to, groupBy }, ws.tokens.billing);
    const usageCount = (ws: SeededWorkspace, from: string, to: string) => t.gql(USAGE_COUNT, { w: ws.id, from, to }, ws.tokens.billing);
    const usagePage = (ws: SeededWorkspace, from: string, to: string) => t.gql(USAGE_PAGE, { w: ws.id, from, to, first: 10 }, ws.tokens.billing);
    const FEBRUARY = ['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'] as const;

    it('recorded through the API: calls at the dearest price a tier may have, summed past 2^53 − 1 by the database and by the service', async () => {
      const ws = await seedWorkspace(t, undefined, 'Dear');
      // 20M input and 20M output tokens at 10^12 µ$ per million each (the most setTierPrice takes):
      // 4 × 10^13 µ$ a call, so 226 calls pass 2^53 − 1. 230 on one day (one rollup group, summed by
      // the database), one on the next (added by the service).
      await setTierPrice(t, adminToken, 'FRONTIER', 1_000_000_000_000, 1_000_000_000_000, '2021-03-01T00:00:00.000Z');
      await setTierPrice(t, adminToken, 'FRONTIER', 15_000_000, 75_000_000, '2021-04-01T00:00:00.000Z');
      const dear = { tier: 'FRONTIER', inputTokens: 20_000_000, outputTokens: 20_000_000 };
      const times = [...Array.from({ length: 230 }, (_, i) => `2021-03-10T10:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000Z`), '2021-03-11T10:00:00.000Z'];
      const records = await mapConcurrently(times, 8, (occurredAt) => recordOk(t, callInput(ws.id, { ...dear, occurredAt })));
      expect(new Set(records.map((record) => record.billedMicros))).toEqual(new Set([40_000_000_000_000]));

      expectErrorCode(await summary(ws, '2021-03'), 'AMOUNT_OUT_OF_RANGE');
      // whole days (the rollups) and partial days (the records), grouped every way
      for (const groupBy of ['DAY', 'MODEL', 'PATH', 'KEY_SOURCE', 'TIER']) {
        expectErrorCode(await analytics(ws, '2021-03-01T00:00:00.000Z', '2021-04-01T00:00:00.000Z', groupBy), 'AMOUNT_OUT_OF_RANGE');
        expectErrorCode(await analytics(ws, '2021-03-10T09:00:00.000Z', '2021-03-10T12:00:00.000Z', groupBy), 'AMOUNT_OUT_OF_RANGE');
      }
      // Within range, everything still reads: one day of one call, the records themselves, their count.
      const oneDay = dataOf(await analytics(ws, '2021-03-11T00:00:00.000Z', '2021-03-12T00:00:00.000Z')).llmAnalytics;
      expect(oneDay).toEqual([{ key: 'FRONTIER', calls: 1, inputTokens: 20_000_000, outputTokens: 20_000_000, billedMicros: 40_000_000_000_000 }]);
      expect(dataOf(await usagePage(ws, '2021-03-01T00:00:00.000Z', '2021-04-01T00:00:00.000Z')).usage.nodes).toHaveLength(10);
      expect(dataOf(await usageCount(ws, '2021-03-01T00:00:00.000Z', '2021-04-01T00:00:00.000Z')).usage.totalCount).toBe(231);
    });

    it("rollup rows summed past 2^63 − 1: SQLite's SUM overflows, MySQL's DECIMAL does not; both answer AMOUNT_OUT_OF_RANGE", async () => {
      const ws = await workspace('Overflow');
      for (const shard of [0, 1, 2]) await seedRollup(ws.id, '2026-02-14', shard, TWO_TO_THE_62);

      expectErrorCode(await summary(ws), 'AMOUNT_OUT_OF_RANGE');
      expectErrorCode(await analytics(ws, ...FEBRUARY), 'AMOUNT_OUT_OF_RANGE');
      expectErrorCode(await usageCount(ws, ...FEBRUARY), 'AMOUNT_OUT_OF_RANGE');
    });

    it('a rollup update that overflows: SQLite stores a REAL, which reads as AMOUNT_OUT_OF_RANGE; MySQL refuses the update', async () => {
      const ws = await workspace('Real');
      await seedRollup(ws.id, '2026-02-15', 0, TWO_TO_THE_62);
      const overflow = sql(t, "UPDATE usage_rollup SET billed_micros = billed_micros * 4, calls = calls * 4 WHERE workspace_id = ? AND day = '2026-02-15'", [ws.id]);
      if (t.db.kind === 'mysql') {
        await expect(overflow).rejects.toThrow(/out of range/i);
        return;
      }
      await overflow;
      expect(await sql(t, "SELECT typeof(billed_micros) AS kind FROM usage_rollup WHERE workspace_id = ? AND day = '2026-02-15'", [ws.id])).toEqual([{ kind: 'real' }]);

      expectErrorCode(await summary(ws), 'AMOUNT_OUT_OF_RANGE');
      expectErrorCode(await analytics(ws, ...FEBRUARY), 'AMOUNT_OUT_OF_RANGE');
      expectErrorCode(await usageCount(ws, ...FEBRUARY), 'AMOUNT_OUT_OF_RANGE');
    });

    it('a stored record beyond 2^53 − 1 (a damaged row) makes the page that holds it AMOUNT_OUT_OF_RANGE', async () => {
      const ws = await workspace('Damaged');
      const record = await recordOk(t, callInput(ws.id, { occurredAt: '2026-02-20T10:00:00.000Z' }));
      await sql(t, 'UPDATE usage_record SET billed_micros = 9007199254740993 WHERE id = ?', [record.id]);

      expectErrorCode(await usagePage(ws, ...FEBRUARY), 'AMOUNT_OUT_OF_RANGE');
      // the other days still read
      expect(dataOf(await usagePage(ws, '2026-02-01T00:00:00.000Z', '2026-02-04T00:00:00.000Z')).usage.nodes).toHaveLength(1);
    });

    it('month sums just below the limit still read exactly', async () => {
      const ws = await workspace('Edge');
      const normal = dataOf(await summary(ws)).billingSummary.totalBilledMicros as number;
      const rest = MAX_SAFE - normal;
      await seedRollup(ws.id, '2026-02-16', 0, String(rest - 1));
      await seedRollup(ws.id, '2026-02-17', 0, '1');

      const read = dataOf(await summary(ws)).billingSummary;

      expect(read.totalBilledMicros).toBe(MAX_SAFE);
      expect(read.platformChargeMicros).toBe(MAX_SAFE);
    });
  });

  /** A PLATFORM/BALANCED rollup row whose every total is `amount` (an integer literal: no driver rounds it). */
  async function seedRollup(workspaceId: string, day: string, shard: number, amount: string): Promise<void> {
    if (!/^\d+$/.test(amount)) throw new Error(`not an integer: ${amount}`);
    await sql(
      t,
      `INSERT INTO usage_rollup (workspace_id, day, tier, key_source, path, model, shard, calls, input_tokens, output_tokens, tier_price_micros, raw_cost_micros, billed_micros, flagged_calls)
       VALUES (?, ?, 'BALANCED', 'PLATFORM', 'AGENT_RUN', 'openai/gpt-4o', ?, ${amount}, ${amount}, ${amount}, ${amount}, ${amount}, ${amount}, 0)`,
      [workspaceId, day, shard],
    );
  }
});
