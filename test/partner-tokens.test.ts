import { createHash } from 'node:crypto';
import { sampleKey, seedWorkspace, SeededWorkspace } from './support/fixtures';
import { startTestApp, TestApp, TEST_SERVICE_TOKEN } from './support/test-app';
import { BILLING_SUMMARY, callInput, dataOf, expectCode, LLM_ANALYTICS, recordCall, recordOk, sql, USAGE_PAGE, userIdOf } from './support/usage-calls';

/**
 * Partner tokens (SPEC.md, "Identity"): created by Manage billing holders, shown once, stored only
 * as a SHA-256 hash, scoped to one workspace, read-only on usage, billing summary and analytics,
 * and revocable, after which they authenticate nothing.
 */

const CREATE = `mutation CreatePartnerToken($w: ID!, $name: String!) {
  createPartnerToken(workspaceId: $w, name: $name) { token partnerToken { id workspaceId name createdAt revokedAt } }
}`;
const LIST = `query PartnerTokens($w: ID!) { partnerTokens(workspaceId: $w) { id workspaceId name createdAt revokedAt lastUsedAt } }`;
const REVOKE = `mutation RevokePartnerToken($id: ID!) { revokePartnerToken(id: $id) { id workspaceId name revokedAt } }`;

const MONTH = '2026-03';
const RANGE = { from: '2026-03-01T00:00:00.000Z', to: '2026-04-01T00:00:00.000Z' };

describe('partner tokens', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  let other: SeededWorkspace;

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t, undefined, 'Partnered');
    other = await seedWorkspace(t, undefined, 'Elsewhere');
    for (const target of [ws, other]) {
      await recordOk(t, callInput(target.id, { keySource: 'PLATFORM', occurredAt: '2026-03-10T10:00:00.000Z', rawCostUsd: '0.003' }));
      await recordOk(t, callInput(target.id, { keySource: 'BYOK', path: 'SEMANTIC_SEARCH', occurredAt: '2026-03-11T10:00:00.000Z', rawCostUsd: '0.002' }));
    }
  });
  afterAll(() => t.close());

  async function create(target: SeededWorkspace = ws, name = 'acme-bi', token = target.tokens.owner): Promise<{ token: string; id: string }> {
    const created = dataOf(await t.gql(CREATE, { w: target.id, name }, token)).createPartnerToken;
    return { token: created.token, id: created.partnerToken.id };
  }

  it('is created by Manage billing holders only, shown once, and stored only as a SHA-256 hash', async () => {
    const tokens: string[] = [];
    for (const role of ['owner', 'admin', 'billing'] as const) {
      const result = dataOf(await t.gql(CREATE, { w: ws.id, name: `  by ${role}  ` }, ws.tokens[role])).createPartnerToken;
      expect(result.token).toMatch(/^mpt_[A-Za-z0-9_-]{43,}$/);
      expect(result.partnerToken).toMatchObject({ workspaceId: ws.id, name: `by ${role}`, revokedAt: null });
      tokens.push(result.token);
    }
    expect(new Set(tokens).size).toBe(3);

    for (const [who, token, code] of [
      ['member', ws.tokens.member, 'FORBIDDEN'],
      ['outsider', ws.tokens.outsider, 'FORBIDDEN'],
      ['owner of another workspace', other.tokens.owner, 'FORBIDDEN'],
      ['platform admin', ws.adminToken, 'FORBIDDEN'],
      ['service', TEST_SERVICE_TOKEN, 'FORBIDDEN'],
      ['partner', tokens[0], 'FORBIDDEN'],
      ['anonymous', undefined, 'UNAUTHENTICATED'],
    ] as Array<[string, string | undefined, string]>) {
      const result = await t.gql(CREATE, { w: ws.id, name: who }, token);
      expect({ who, data: result.data ?? null }).toEqual({ who, data: null });
      expectCode(result, code);
    }
    for (const name of ['', '   ', 'n'.repeat(101)]) expectCode(await t.gql(CREATE, { w: ws.id, name }, ws.tokens.owner), 'BAD_USER_INPUT');

    // the list never shows a token, to anyone
    for (const token of [ws.tokens.owner, ws.tokens.billing, ws.adminToken]) {
      const listed = await t.gql(LIST, { w: ws.id }, token);
      expect(dataOf(listed).partnerTokens.length).toBeGreaterThanOrEqual(3);
      for (const secret of tokens) expect(listed.text).not.toContain(secret.slice(4));
    }
    expectCode(await t.gql(`query($w: ID!) { partnerTokens(workspaceId: $w) { token } }`, { w: ws.id }, ws.tokens.owner), 'GRAPHQL_VALIDATION_FAILED');

    // in the database: the hash, never the token or any part of it
    const rows = await sql(t, 'SELECT * FROM partner_token WHERE workspace_id = ?', [ws.id]);
    const hashes = rows.map((row) => row.token_hash);
    for (const secret of tokens) {
      expect(hashes).toContain(createHash('sha256').update(secret).digest('hex'));
      const stored = JSON.stringify(rows);
      expect(stored).not.toContain(secret.slice(4));
      expect(stored).not.toContain(secret.slice(4, 20));
      expect(stored).not.toContain(Buffer.from(secret.slice(4), 'base64url').toString('hex'));
    }
    // nor in the logs
    for (const secret of tokens) expect(t.logs.text).not.toContain(secret.slice(4));
  });

  it("reads its own workspace's usage, billing summary and analytics (platform raw cost hidden)", async () => {
    const { token } = await create();
    const usage = dataOf(await t.gql(USAGE_PAGE, { w: ws.id, ...RANGE }, token)).usage;
    expect(usage.nodes).toHaveLength(2);
    expect(Object.fromEntries(usage.nodes.map((node: { keySource: string; rawCostMicros: number | null }) => [node.keySource, node.rawCostMicros]))).toEqual({ PLATFORM: null, BYOK: 2_000 });
    const summary = dataOf(await t.gql(BILLING_SUMMARY, { w: ws.id, month: MONTH }, token)).billingSummary;
    expect(summary).toMatchObject({ workspaceId: ws.id, calls: 2, platformCalls: 1, byokCalls: 1, byokRawCostMicros: 2_000, platformRawCostMicros: null, totalBilledMicros: 10_500 + 8_500 });
    const paths = dataOf(await t.gql(LLM_ANALYTICS, { w: ws.id, ...RANGE, groupBy: 'PATH' }, token)).llmAnalytics;
    expect(paths.map((bucket: { key: string; calls: number }) => [bucket.key, bucket.calls])).toEqual([
      ['AGENT_RUN', 1],
      ['SEMANTIC_SEARCH', 1],
    ]);
    const count = dataOf(await t.gql(`query($w: ID!, $from: DateTime!, $to: DateTime!) { usage(workspaceId: $w, from: $from, to: $to) { totalCount } }`, { w: ws.id, ...RANGE }, token));
    expect(count.usage.totalCount).toBe(2);
    // who it is: nobody's memberships
    expect(dataOf(await t.gql(`{ viewer { userId platformAdmin memberships { workspaceId } } }`, {}, token)).viewer).toEqual({ userId: null, platformAdmin: false, memberships: [] });
  });

  it('is refused everything else: other workspaces, keys, audit log, tokens, recording, administration', async () => {
    const { token, id } = await create();
    const missing = '00000000-0000-7000-8000-00000000beef';
    const refused: Array<[string, string, Record<string, unknown>]> = [
      ["another workspace's usage", USAGE_PAGE, { w: other.id, ...RANGE }],
      ["another workspace's billing summary", BILLING_SUMMARY, { w: other.id, month: MONTH }],
      ["another workspace's analytics", LLM_ANALYTICS, { w: other.id, ...RANGE, groupBy: 'DAY' }],
      ['a workspace that does not exist', BILLING_SUMMARY, { w: missing, month: MONTH }],
      ['saveKey', `mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }`, { w: ws.id, k: sampleKey('p') }],
      ['replaceKey', `mutation($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { configured } }`, { w: ws.id, k: sampleKey('q') }],
      ['removeKey', `mutation($w: ID!) { removeKey(workspaceId: $w) { configured } }`, { w: ws.id }],
      ['setByokFallback', `mutation($w: ID!) { setByokFallback(workspaceId: $w, fallback: PLATFORM) { byokFallback } }`, { w: ws.id }],
      ['aiInferenceKey', `query($w: ID!) { aiInferenceKey(workspaceId: $w) { configured } }`, { w: ws.id }],
      ['workspace', `query($w: ID!) { workspace(id: $w) { id } }`, { w: ws.id }],
      ['auditEvents', `query($w: ID!) { auditEvents(workspaceId: $w) { nodes { id } } }`, { w: ws.id }],
      ['partnerTokens', LIST, { w: ws.id }],
      ['createPartnerToken', CREATE, { w: ws.id, name: 'more' }],
      ['revokePartnerToken, even its own', REVOKE, { id }],
      ['recordInferenceCall', `mutation($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { id } }`, { input: callInput(ws.id) }],
      ['settleUsageRecord', `mutation($id: ID!) { settleUsageRecord(id: $id, rawCostUsd: "0.1") { id } }`, { id: missing }],
      ['setTierPrice', `mutation { setTierPrice(tier: FRONTIER, inputMicrosPerMillionTokens: 1, outputMicrosPerMillionTokens: 1, effectiveFrom: "2021-01-01T00:00:00Z") { tier } }`, {}],
      ['tierPrices', `{ tierPrices { tier } }`, {}],
      ['changePlan', `mutation($w: ID!) { changePlan(workspaceId: $w, plan: PLUS) { plan } }`, { w: ws.id }],
      ['addMember', `mutation($w: ID!) { addMember(workspaceId: $w, userId: "intruder", role: OWNER) { role } }`, { w: ws.id }],
      ['removeMember', `mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) }`, { w: ws.id, u: userIdOf(ws, 'owner') }],
      ['createWorkspace', `mutation { createWorkspace(name: "mine", plan: ENTERPRISE) { id } }`, {}],
    ];
    const recordsBefore = await sql(t, 'SELECT COUNT(*) AS n FROM usage_record');
    for (const [what, query, variables] of refused) {
      const result = await t.gql(query, variables, token);
      expect({ what, data: result.data ?? null }).toEqual({ what, data: null });
      expectCode(result, 'FORBIDDEN');
    }
    // nothing changed: still a workspace with no key, on ENTERPRISE, with its members, its calls, its token live
    const status = dataOf(await t.gql(`query($w: ID!) { workspace(id: $w) { plan byokFallback aiInferenceKey { configured } } }`, { w: ws.id }, ws.tokens.owner)).workspace;
    expect(status).toEqual({ plan: 'ENTERPRISE', byokFallback: 'NONE', aiInferenceKey: { configured: false } });
    expect(await sql(t, 'SELECT COUNT(*) AS n FROM usage_record')).toEqual(recordsBefore);
    const members = await sql(t, 'SELECT user_id FROM member WHERE workspace_id = ?', [ws.id]);
    expect(members.map((row) => row.user_id)).not.toContain('intruder');
    expect(members).toHaveLength(4);
    const listed = dataOf(await t.gql(LIST, { w: ws.id }, ws.tokens.owner)).partnerTokens.find((row: { id: string }) => row.id === id);
    expect(listed.revokedAt).toBeNull();
    // the service token cannot pass for a partner, nor a partner token for the service
    expect((await recordCall(t, callInput(ws.id, { occurredAt: '2026-03-12T00:00:00.000Z' }), token)).errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });

  it('sets lastUsedAt when the token is used', async () => {
    const { token, id } = await create(ws, 'usage-tracker');
    const find = async () => dataOf(await t.gql(LIST, { w: ws.id }, ws.tokens.billing)).partnerTokens.find((row: { id: string }) => row.id === id);
    const before = await find();
    expect(before.lastUsedAt).toBeNull();
    const start = Date.now();
    dataOf(await t.gql(BILLING_SUMMARY, { w: ws.id, month: MONTH }, token));
    const after = await find();
    expect(after.lastUsedAt).not.toBeNull();
    expect(Date.parse(after.lastUsedAt)).toBeGreaterThanOrEqual(Math.min(start, Date.parse(before.createdAt)) - 1);
    expect(Date.parse(after.lastUsedAt)).toBeLessThanOrEqual(Date.now() + 1);
    // a second use within the minute keeps the stamp: a busy integration does not write on every read
    dataOf(await t.gql(USAGE_PAGE, { w: ws.id, ...RANGE }, token));
    expect((await find()).lastUsedAt).toBe(after.lastUsedAt);
  });

  it('once revoked, authenticates nothing; revoking is idempotent and only for Manage billing holders of its workspace', async () => {
    const { token, id } = await create(ws, 'to-revoke');
    const { token: sibling } = await create(ws, 'sibling');
    dataOf(await t.gql(BILLING_SUMMARY, { w: ws.id, month: MONTH }, token));

    for (const [who, caller, code] of [
      ['member', ws.tokens.member, 'FORBIDDEN'],
      ['outsider', ws.tokens.outsider, 'FORBIDDEN'],
      ['owner of another workspace', other.tokens.owner, 'FORBIDDEN'],
      ['billing manager of another workspace', other.tokens.billing, 'FORBIDDEN'],
      ['service', TEST_SERVICE_TOKEN, 'FORBIDDEN'],
      ['the token itself', token, 'FORBIDDEN'],
      ['anonymous', undefined, 'UNAUTHENTICATED'],
    ] as Array<[string, string | undefined, string]>) {
      const result = await t.gql(REVOKE, { id }, caller);
      expect({ who, data: result.data ?? null }).toEqual({ who, data: null });
      expectCode(result, code);
    }
    // an unknown id answers as a token of someone else's would
    expectCode(await t.gql(REVOKE, { id: '00000000-0000-7000-8000-000000000000' }, ws.tokens.owner), 'FORBIDDEN');
    dataOf(await t.gql(BILLING_SUMMARY, { w: ws.id, month: MONTH }, token));

    const first = dataOf(await t.gql(REVOKE, { id }, ws.tokens.billing)).revokePartnerToken;
    expect(first).toMatchObject({ id, workspaceId: ws.id, name: 'to-revoke' });
    expect(first.revokedAt).not.toBeNull();
    const again = dataOf(await t.gql(REVOKE, { id }, ws.tokens.owner)).revokePartnerToken;
    expect(again.revokedAt).toBe(first.revokedAt);
    expect(dataOf(await t.gql(LIST, { w: ws.id }, ws.tokens.owner)).partnerTokens.find((row: { id: string }) => row.id === id).revokedAt).toBe(first.revokedAt);

    const everything: Array<[string, Record<string, unknown>]> = [
      [USAGE_PAGE, { w: ws.id, ...RANGE }],
      [BILLING_SUMMARY, { w: ws.id, month: MONTH }],
      [LLM_ANALYTICS, { w: ws.id, ...RANGE, groupBy: 'TIER' }],
      [BILLING_SUMMARY, { w: other.id, month: MONTH }],
      [`{ viewer { userId } }`, {}],
      [`{ tierPrices { tier } }`, {}],
      [LIST, { w: ws.id }],
      [REVOKE, { id }],
      [`mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }`, { w: ws.id, k: sampleKey('r') }],
      [`mutation($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { id } }`, { input: callInput(ws.id) }],
    ];
    for (const [query, variables] of everything) {
      const result = await t.gql(query, variables, token);
      expect({ query, data: result.data ?? null }).toEqual({ query, data: null });
      expectCode(result, 'UNAUTHENTICATED');
    }
    // the revocation was of that token only
    expect(dataOf(await t.gql(BILLING_SUMMARY, { w: ws.id, month: MONTH }, sibling)).billingSummary.calls).toBe(2);
    // and a made-up token, or a live one altered, is no better
    for (const fake of [`mpt_${'A'.repeat(43)}`, `${sibling.slice(0, -1)}${sibling.endsWith('A') ? 'B' : 'A'}`, 'mpt_', `${sibling}x`]) {
      expectCode(await t.gql(BILLING_SUMMARY, { w: ws.id, month: MONTH }, fake), 'UNAUTHENTICATED');
    }
  });
});
