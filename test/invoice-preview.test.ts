import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';
import { BILLING_SUMMARY, callInput, expectCode, mapConcurrently, recordOk, seededRandom } from './support/usage-calls';

/**
 * invoicePreview: a month's bill as lines per tier and key source (platform charge, BYOK margin)
 * whose amounts add up to billingSummary.totalBilledMicros exactly.
 */

const INVOICE = `query($w: ID!, $month: String!) { invoicePreview(workspaceId: $w, month: $month) { tier keySource calls amountMicros description } }`;
const CREATE_TOKEN = `mutation($w: ID!, $name: String!) { createPartnerToken(workspaceId: $w, name: $name) { token } }`;
const MONTH = '2026-09';

describe('invoicePreview', () => {
  let t: TestApp;
  let ws: SeededWorkspace;

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Invoiced');
    const random = seededRandom(12);
    const tiers = ['FRONTIER', 'BALANCED', 'COST_EFFECTIVE'];
    const calls = Array.from({ length: 80 }, (_, i) => {
      const byok = random() < 0.5;
      return callInput(ws.id, {
        occurredAt: new Date(Date.UTC(2026, 8, 1 + (i % 30), Math.floor(random() * 24), 0, 0, i)).toISOString(),
        tier: tiers[Math.floor(random() * 3)],
        keySource: byok ? 'BYOK' : 'PLATFORM',
        inputTokens: Math.floor(random() * 50_000),
        outputTokens: Math.floor(random() * 20_000),
        rawCostUsd: (random() * 0.5).toFixed(7),
      });
    });
    // a BYOK call whose raw cost exceeds its tier price (billed 0), and calls outside the month
    calls.push(callInput(ws.id, { occurredAt: '2026-09-15T00:00:00.000Z', keySource: 'BYOK', rawCostUsd: '9' }));
    calls.push(callInput(ws.id, { occurredAt: '2026-08-31T23:59:59.999Z' }), callInput(ws.id, { occurredAt: '2026-10-01T00:00:00.000Z' }));
    await mapConcurrently(calls, 8, (input) => recordOk(t, input));
  });
  afterAll(() => t.close());

  it('lines per tier and key source sum exactly to the summary total, and each to its own calls', async () => {
    const lines = expectData(await t.gql(INVOICE, { w: ws.id, month: MONTH }, ws.tokens.billing)).invoicePreview;
    const summary = expectData(await t.gql(BILLING_SUMMARY, { w: ws.id, month: MONTH }, ws.tokens.billing)).billingSummary;
    expect(lines.reduce((total: number, line: { amountMicros: number }) => total + line.amountMicros, 0)).toBe(summary.totalBilledMicros);
    expect(lines.reduce((total: number, line: { calls: number }) => total + line.calls, 0)).toBe(summary.calls);
    expect(new Set(lines.map((line: { tier: string; keySource: string }) => `${line.tier}/${line.keySource}`)).size).toBe(lines.length);
    expect(lines).toHaveLength(6);
    const records: Array<{ tier: string; key_source: string; billed_micros: number | string }> = [];
    for await (const page of t.app.seam.usageExport.pages(ws.id, MONTH)) records.push(...page);
    expect(records).toHaveLength(summary.calls);
    for (const line of lines) {
      const ofLine = records.filter((row) => row.tier === line.tier && row.key_source === line.keySource);
      expect({ calls: line.calls, amount: line.amountMicros }).toEqual({ calls: ofLine.length, amount: ofLine.reduce((total, row) => total + Number(row.billed_micros), 0) });
      expect(line.description).toContain(`${line.calls} call`);
    }
    const platformTotal = lines.filter((line: { keySource: string }) => line.keySource === 'PLATFORM').reduce((total: number, line: { amountMicros: number }) => total + line.amountMicros, 0);
    expect(platformTotal).toBe(summary.platformChargeMicros);
  });

  it('an empty month has no lines; readers of usage only', async () => {
    expect(expectData(await t.gql(INVOICE, { w: ws.id, month: '2025-02' }, ws.tokens.owner)).invoicePreview).toEqual([]);
    const partner = expectData(await t.gql(CREATE_TOKEN, { w: ws.id, name: 'bi' }, ws.tokens.billing)).createPartnerToken.token;
    expect(expectData(await t.gql(INVOICE, { w: ws.id, month: MONTH }, partner)).invoicePreview.length).toBeGreaterThan(0);
    expectCode(await t.gql(INVOICE, { w: ws.id, month: MONTH }, ws.tokens.member), 'FORBIDDEN');
    expectCode(await t.gql(INVOICE, { w: ws.id, month: '2026-9' }, ws.tokens.billing), 'BAD_USER_INPUT');
  });
});
