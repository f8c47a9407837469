import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData, expectErrorCode } from './support/expectations';
import { seedWorkspace, SeededWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';
import { callInput, recordOk, SET_TIER_PRICE } from './support/usage-calls';

const BUDGET_FIELDS = 'workspaceId monthlyLimitMicros thresholds action month spentMicros';
const AI_BUDGET = `query($w: ID!) { aiBudget(workspaceId: $w) { ${BUDGET_FIELDS} } }`;
const SET_BUDGET = `mutation($w: ID!, $limit: SafeInt!, $thresholds: [Int!], $action: BudgetAction) {
  setAiBudget(workspaceId: $w, monthlyLimitMicros: $limit, thresholds: $thresholds, action: $action) { ${BUDGET_FIELDS} }
}`;
const REMOVE_BUDGET = 'mutation($w: ID!) { removeAiBudget(workspaceId: $w) }';
const SUMMARY_BUDGET = `query($w: ID!, $m: String!) { billingSummary(workspaceId: $w, month: $m) { totalBilledMicros byokRawCostMicros budget { ${BUDGET_FIELDS} } } }`;

describe('AI budgets', () => {
  let t: TestApp;
  let ws: SeededWorkspace;

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Budgeted');
  });
  afterAll(() => t.close());

  it('is set by Manage billing holders, read by them and platform admins, refused to others', async () => {
    expect(expectData(await t.gql(AI_BUDGET, { w: ws.id }, ws.tokens.billing)).aiBudget).toBeNull();
    const set = expectData(await t.gql(SET_BUDGET, { w: ws.id, limit: 5_000_000 }, ws.tokens.billing)).setAiBudget;
    expect(set).toMatchObject({ workspaceId: ws.id, monthlyLimitMicros: 5_000_000, thresholds: [50, 80, 100], action: 'NOTIFY', spentMicros: 0 });
    expect(set.month).toBe(new Date().toISOString().slice(0, 7));

    // null thresholds keep the current ones; action null is NOTIFY again
    expectData(await t.gql(SET_BUDGET, { w: ws.id, limit: 5_000_000, thresholds: [90, 25, 90], action: 'BLOCK' }, ws.tokens.owner));
    const kept = expectData(await t.gql(SET_BUDGET, { w: ws.id, limit: 6_000_000 }, ws.tokens.admin)).setAiBudget;
    expect(kept).toMatchObject({ thresholds: [25, 90], action: 'NOTIFY', monthlyLimitMicros: 6_000_000 });

    expect(expectData(await t.gql(AI_BUDGET, { w: ws.id }, ws.adminToken)).aiBudget.monthlyLimitMicros).toBe(6_000_000);
    expectErrorCode(await t.gql(SET_BUDGET, { w: ws.id, limit: 1 }, ws.adminToken), 'FORBIDDEN');
    expectErrorCode(await t.gql(AI_BUDGET, { w: ws.id }, ws.tokens.member), 'FORBIDDEN');
    expectErrorCode(await t.gql(SET_BUDGET, { w: ws.id, limit: 1 }, ws.tokens.member), 'FORBIDDEN');
    expectErrorCode(await t.gql(AI_BUDGET, { w: ws.id }, ws.tokens.outsider), 'FORBIDDEN');
    expectErrorCode(await t.gql(REMOVE_BUDGET, { w: ws.id }, ws.tokens.member), 'FORBIDDEN');
  });

  it.each([
    [{ limit: 0 }, 'BAD_USER_INPUT'],
    [{ limit: -5 }, 'BAD_USER_INPUT'],
    [{ limit: 10, thresholds: [] }, 'BAD_USER_INPUT'],
    [{ limit: 10, thresholds: [0] }, 'BAD_USER_INPUT'],
    [{ limit: 10, thresholds: [1001] }, 'BAD_USER_INPUT'],
  ])('refuses %j', async (variables, code) => {
    expectErrorCode(await t.gql(SET_BUDGET, { w: ws.id, ...variables }, ws.tokens.billing), code);
  });

  it('removes idempotently', async () => {
    const other = await seedWorkspace(t, Plan.PRO, 'Removable');
    expectData(await t.gql(SET_BUDGET, { w: other.id, limit: 10 }, other.tokens.billing));
    expect(expectData(await t.gql(REMOVE_BUDGET, { w: other.id }, other.tokens.billing)).removeAiBudget).toBe(true);
    expect(expectData(await t.gql(REMOVE_BUDGET, { w: other.id }, other.tokens.billing)).removeAiBudget).toBe(true);
    expect(expectData(await t.gql(AI_BUDGET, { w: other.id }, other.tokens.billing)).aiBudget).toBeNull();
  });

  it('counts platform charges, BYOK margin and BYOK raw cost in the UTC month, across a price change', async () => {
    const month = await seedWorkspace(t, Plan.ENTERPRISE, 'Hand computed');
    // BALANCED doubles from 2026-10-16: 6 $/M in, 30 $/M out (was 3 and 15).
    expectData(await t.gql(SET_TIER_PRICE, { tier: 'BALANCED', in: 6_000_000, out: 30_000_000, from: '2026-10-16T00:00:00.000Z' }, month.adminToken));
    const call = (occurredAt: string, keySource: string, rawCostUsd: string) =>
      recordOk(t, callInput(month.id, { occurredAt, keySource, rawCostUsd, tier: 'BALANCED', inputTokens: 1000, outputTokens: 500 }));
    // old price: 1000 × 3 + 500 × 15 = 10,500 µ$ tier price
    expect((await call('2026-10-05T10:00:00.000Z', 'PLATFORM', '0.002')).billedMicros).toBe(10_500); // spend 10,500
    expect((await call('2026-10-10T10:00:00.000Z', 'BYOK', '0.004')).billedMicros).toBe(6_500); // spend 6,500 + 4,000
    // new price: 1000 × 6 + 500 × 30 = 21,000 µ$
    expect((await call('2026-10-20T10:00:00.000Z', 'BYOK', '0.03')).billedMicros).toBe(0); // spend 0 + 30,000
    expect((await call('2026-10-31T23:59:59.999Z', 'PLATFORM', '0.001')).billedMicros).toBe(21_000); // spend 21,000
    // outside October (half-open month)
    await call('2026-09-30T23:59:59.999Z', 'PLATFORM', '0.001');
    await call('2026-11-01T00:00:00.000Z', 'BYOK', '0.5');

    expectData(await t.gql(SET_BUDGET, { w: month.id, limit: 100_000 }, month.tokens.billing));
    const summary = expectData(await t.gql(SUMMARY_BUDGET, { w: month.id, m: '2026-10' }, month.tokens.billing)).billingSummary;
    expect(summary.totalBilledMicros).toBe(10_500 + 6_500 + 0 + 21_000);
    expect(summary.byokRawCostMicros).toBe(4_000 + 30_000);
    expect(summary.budget).toEqual({
      workspaceId: month.id,
      monthlyLimitMicros: 100_000,
      thresholds: [50, 80, 100],
      action: 'NOTIFY',
      month: '2026-10',
      spentMicros: 10_500 + 10_500 + 30_000 + 21_000,
    });
    const november = expectData(await t.gql(SUMMARY_BUDGET, { w: month.id, m: '2026-11' }, month.tokens.billing)).billingSummary;
    // margin max(0, 21,000 − 500,000) = 0, plus the raw cost
    expect(november.budget.spentMicros).toBe(500_000);
  });

  it('shows no budget in a summary of a workspace without one', async () => {
    const none = await seedWorkspace(t, Plan.PLUS, 'Unbudgeted');
    expect(expectData(await t.gql(SUMMARY_BUDGET, { w: none.id, m: '2026-10' }, none.tokens.billing)).billingSummary.budget).toBeNull();
  });
});
