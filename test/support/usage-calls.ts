import type { GraphQLResult, TestApp } from './test-app';
import { TEST_SERVICE_TOKEN } from './test-app';

/** Helpers shared by the usage and billing specs: record calls over HTTP and read the tables back. */

export const USAGE_RECORD_FIELDS =
  'id requestId workspaceId path model tier keySource inputTokens outputTokens rawCostMicros tierPriceMicros billedMicros occurredAt flagged';

export const RECORD_CALL = `mutation RecordCall($input: RecordInferenceCallInput!) {
  recordInferenceCall(input: $input) { ${USAGE_RECORD_FIELDS} }
}`;

export const SET_TIER_PRICE = `mutation SetTierPrice($tier: ModelTier!, $in: SafeInt!, $out: SafeInt!, $from: DateTime!) {
  setTierPrice(tier: $tier, inputMicrosPerMillionTokens: $in, outputMicrosPerMillionTokens: $out, effectiveFrom: $from) {
    tier inputMicrosPerMillionTokens outputMicrosPerMillionTokens effectiveFrom
  }
}`;

export const TIER_PRICES = `query TierPrices { tierPrices { tier inputMicrosPerMillionTokens outputMicrosPerMillionTokens effectiveFrom } }`;

export const BILLING_SUMMARY_FIELDS =
  'workspaceId month calls platformCalls byokCalls inputTokens outputTokens tierPriceMicros byokRawCostMicros platformRawCostMicros platformChargeMicros byokMarginMicros totalBilledMicros flaggedCalls byTier { tier calls inputTokens outputTokens billedMicros }';

export const BILLING_SUMMARY = `query BillingSummary($w: ID!, $month: String!) { billingSummary(workspaceId: $w, month: $month) { ${BILLING_SUMMARY_FIELDS} } }`;

export const USAGE_PAGE = `query Usage($w: ID!, $from: DateTime!, $to: DateTime!, $keySource: KeySource, $path: InferencePath, $first: Int, $after: String) {
  usage(workspaceId: $w, from: $from, to: $to, keySource: $keySource, path: $path, first: $first, after: $after) {
    nodes { ${USAGE_RECORD_FIELDS} }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const USAGE_COUNT = `query UsageCount($w: ID!, $from: DateTime!, $to: DateTime!, $keySource: KeySource, $path: InferencePath) {
  usage(workspaceId: $w, from: $from, to: $to, keySource: $keySource, path: $path, first: 1) { totalCount }
}`;

export const LLM_ANALYTICS = `query LlmAnalytics($w: ID!, $from: DateTime!, $to: DateTime!, $groupBy: AnalyticsGroupBy!) {
  llmAnalytics(workspaceId: $w, from: $from, to: $to, groupBy: $groupBy) { key calls inputTokens outputTokens billedMicros }
}`;

export interface CallInput {
  requestId: string;
  workspaceId: string;
  path: string;
  model: string;
  tier: string;
  keySource: string;
  inputTokens: number;
  outputTokens: number;
  rawCostUsd: string;
  occurredAt?: string;
  actorUserId?: string;
}

/** The user id fixtures.seedWorkspace gives the user behind `label`'s token. */
export function userIdOf(ws: { id: string }, label: 'owner' | 'admin' | 'billing' | 'member' | 'outsider'): string {
  return `${label}-${ws.id.slice(0, 8)}`;
}

let sequence = 0;

/** A valid call with a fresh request id; override what the case is about. */
export function callInput(workspaceId: string, overrides: Partial<CallInput> = {}): CallInput {
  sequence += 1;
  return {
    requestId: `req-${process.pid}-${sequence}-${Math.random().toString(36).slice(2, 8)}`,
    workspaceId,
    path: 'AGENT_RUN',
    model: 'openai/gpt-4o',
    tier: 'BALANCED',
    keySource: 'PLATFORM',
    inputTokens: 1000,
    outputTokens: 500,
    rawCostUsd: '0.001',
    ...overrides,
  };
}

/** Records as the inference runtime unless told otherwise; `null` sends no credential at all. */
export function recordCall(t: TestApp, input: CallInput, token: string | null = TEST_SERVICE_TOKEN): Promise<GraphQLResult> {
  return t.gql(RECORD_CALL, { input }, token ?? undefined);
}

/** Records a call that must succeed and returns the record. */
export async function recordOk(t: TestApp, input: CallInput): Promise<Record<string, any>> {
  const result = await recordCall(t, input);
  return dataOf(result).recordInferenceCall;
}

/** Asserts a request failed with exactly `code` (never INTERNAL_SERVER_ERROR) and stored no data. */
export function expectCode(result: GraphQLResult, code: string): void {
  const codes = (result.errors ?? []).map((error) => error.extensions?.code);
  expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
  expect(codes).toEqual([code]);
}

/** Asserts success and returns the data; a failure shows the server's answer. */
export function dataOf<T = Record<string, any>>(result: GraphQLResult<T>): T {
  expect({ status: result.status, errors: result.errors }).toEqual({ status: 200, errors: undefined });
  return result.data as T;
}

export async function setTierPrice(t: TestApp, adminToken: string, tier: string, input: number, output: number, effectiveFrom: string): Promise<void> {
  dataOf(await t.gql(SET_TIER_PRICE, { tier, in: input, out: output, from: effectiveFrom }, adminToken));
}

/** A raw SELECT on the test database (placeholders are `?` on SQLite and MySQL alike). */
export async function sql<T = Record<string, any>>(t: TestApp, query: string, parameters: unknown[] = []): Promise<T[]> {
  return (await t.app.dataSource.query(query, parameters)) as T[];
}

export async function recordCount(t: TestApp, workspaceId: string): Promise<number> {
  const [row] = await sql<{ n: number | string }>(t, 'SELECT COUNT(*) AS n FROM usage_record WHERE workspace_id = ?', [workspaceId]);
  return Number(row.n);
}

export interface RollupTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  tierPriceMicros: number;
  rawCostMicros: number;
  billedMicros: number;
  flaggedCalls: number;
}

export async function rollupTotals(t: TestApp, workspaceId: string): Promise<RollupTotals> {
  const [row] = await sql(
    t,
    `SELECT COALESCE(SUM(calls), 0) AS calls, COALESCE(SUM(input_tokens), 0) AS inputTokens, COALESCE(SUM(output_tokens), 0) AS outputTokens,
            COALESCE(SUM(tier_price_micros), 0) AS tierPriceMicros, COALESCE(SUM(raw_cost_micros), 0) AS rawCostMicros,
            COALESCE(SUM(billed_micros), 0) AS billedMicros, COALESCE(SUM(flagged_calls), 0) AS flaggedCalls
       FROM usage_rollup WHERE workspace_id = ?`,
    [workspaceId],
  );
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Number(value)])) as unknown as RollupTotals;
}

/** Runs `work` over `items` with at most `concurrency` in flight; results in input order. */
export async function mapConcurrently<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** A deterministic pseudo-random generator (mulberry32), so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
