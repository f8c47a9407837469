import { startTestApp, TestApp, TEST_SERVICE_TOKEN } from './support/test-app';
import { seedWorkspace } from './support/fixtures';

const RECORD = `mutation($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { id requestId keySource tierPriceMicros billedMicros rawCostMicros flagged occurredAt actor { userId role } } }`;

describe('billing smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('records, summarises, lists and analyses', async () => {
    const ws = await seedWorkspace(t);
    const base = { workspaceId: ws.id, path: 'AGENT_RUN', model: 'openai/gpt-4o', tier: 'BALANCED', inputTokens: 1000, outputTokens: 500, occurredAt: '2026-11-10T12:00:00.000Z' };
    const a = await t.gql(RECORD, { input: { ...base, requestId: 'r1', keySource: 'PLATFORM', rawCostUsd: '0.001', actorUserId: `member-${ws.id.slice(0, 8)}` } }, TEST_SERVICE_TOKEN);
    expect(a.errors).toBeUndefined();
    // The runtime gets back the actor id it sent, never the membership behind it.
    expect(a.data?.recordInferenceCall).toMatchObject({ tierPriceMicros: 10500, billedMicros: 10500, rawCostMicros: null, flagged: false, actor: null });
    const b = await t.gql(RECORD, { input: { ...base, requestId: 'r2', keySource: 'BYOK', rawCostUsd: '0.0041235' } }, TEST_SERVICE_TOKEN);
    expect(b.data?.recordInferenceCall).toMatchObject({ tierPriceMicros: 10500, billedMicros: 10500 - 4124, rawCostMicros: 4124 });
    const again = await t.gql(RECORD, { input: { ...base, requestId: 'r2', keySource: 'BYOK', rawCostUsd: '0.0041235' } }, TEST_SERVICE_TOKEN);
    expect(again.data?.recordInferenceCall.id).toBe(b.data?.recordInferenceCall.id);
    const conflict = await t.gql(RECORD, { input: { ...base, requestId: 'r2', keySource: 'BYOK', rawCostUsd: '0.005' } }, TEST_SERVICE_TOKEN);
    expect(conflict.errors?.[0].extensions?.code).toBe('CONFLICT');

    const summary = await t.gql(`query($w: ID!) { billingSummary(workspaceId: $w, month: "2026-11") { calls platformCalls byokCalls tierPriceMicros byokRawCostMicros platformRawCostMicros platformChargeMicros byokMarginMicros totalBilledMicros byTier { tier calls billedMicros } } }`, { w: ws.id }, ws.tokens.billing);
    expect(summary.errors).toBeUndefined();
    expect(summary.data?.billingSummary).toMatchObject({ calls: 2, platformCalls: 1, byokCalls: 1, byokRawCostMicros: 4124, platformRawCostMicros: null, totalBilledMicros: 10500 + 6376 });

    const usage = await t.gql(`query($w: ID!) { usage(workspaceId: $w, from: "2026-11-10T00:00:00Z", to: "2026-11-11T00:00:00Z") { totalCount nodes { requestId } pageInfo { hasNextPage } } }`, { w: ws.id }, ws.tokens.billing);
    expect(usage.errors).toBeUndefined();
    expect(usage.data?.usage.totalCount).toBe(2);
    const partial = await t.gql(`query($w: ID!) { usage(workspaceId: $w, from: "2026-11-10T11:00:00Z", to: "2026-11-12T13:00:00Z") { totalCount } llmAnalytics(workspaceId: $w, from: "2026-11-01T00:00:00Z", to: "2026-11-10T12:30:00Z", groupBy: DAY) { key calls billedMicros } }`, { w: ws.id }, ws.tokens.billing);
    expect(partial.errors).toBeUndefined();
    expect(partial.data?.usage.totalCount).toBe(2);
    expect(partial.data?.llmAnalytics).toEqual([{ key: '2026-11-10', calls: 2, billedMicros: 16876 }]);
    const byKey = await t.gql(`query($w: ID!) { llmAnalytics(workspaceId: $w, from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z", groupBy: KEY_SOURCE) { key calls } }`, { w: ws.id }, ws.tokens.billing);
    expect(byKey.data?.llmAnalytics).toEqual([{ key: 'BYOK', calls: 1 }, { key: 'PLATFORM', calls: 1 }]);

    const created = await t.gql(`mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "acme-bi") { token partnerToken { id name } } }`, { w: ws.id }, ws.tokens.owner);
    const token = created.data?.createPartnerToken.token as string;
    expect(token).toMatch(/^mpt_/);
    const viaPartner = await t.gql(`query($w: ID!) { billingSummary(workspaceId: $w, month: "2026-11") { calls } }`, { w: ws.id }, token);
    expect(viaPartner.data?.billingSummary.calls).toBe(2);
    const audit = await t.gql(`query($w: ID!) { auditEvents(workspaceId: $w) { nodes { id } } }`, { w: ws.id }, token);
    expect(audit.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    await t.gql(`mutation($id: ID!) { revokePartnerToken(id: $id) { revokedAt } }`, { id: created.data?.createPartnerToken.partnerToken.id }, ws.tokens.owner);
    const revoked = await t.gql(`query($w: ID!) { billingSummary(workspaceId: $w, month: "2026-11") { calls } }`, { w: ws.id }, token);
    expect(revoked.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });
});
