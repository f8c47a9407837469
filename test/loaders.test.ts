import { createLoaders } from '../src/modules/workspace/workspace.loaders';
import { WorkspaceEntity } from '../src/modules/workspace/workspace.entity';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectGraphQLError } from './support/errors';
import { sampleKey, SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

/**
 * DataLoaders cache rows for the life of one request. Made once per process instead, they would
 * serve stale plans and key states, and one workspace's rows to another caller.
 */
describe('per-request DataLoaders', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  const WORKSPACE_STATUS = 'query($w: ID!) { workspace(id: $w) { plan aiInferenceKey { configured eligible maskedHint } } }';

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Loaders');
  });
  afterAll(() => t.close());

  it('a request sees the plan a previous request changed', async () => {
    const before = await t.gql(WORKSPACE_STATUS, { w: ws.id }, ws.tokens.member);
    expect(before.data?.workspace).toMatchObject({ plan: 'ENTERPRISE', aiInferenceKey: { eligible: true } });

    const changed = await t.gql('mutation($w: ID!) { changePlan(workspaceId: $w, plan: PRO) { plan } }', { w: ws.id }, ws.adminToken);
    expect(changed.data?.changePlan.plan).toBe('PRO');

    const after = await t.gql(WORKSPACE_STATUS, { w: ws.id }, ws.tokens.member);
    expect(after.data?.workspace).toMatchObject({ plan: 'PRO', aiInferenceKey: { eligible: false } });

    await t.gql('mutation($w: ID!) { changePlan(workspaceId: $w, plan: ENTERPRISE) { plan } }', { w: ws.id }, ws.adminToken);
    const back = await t.gql(WORKSPACE_STATUS, { w: ws.id }, ws.tokens.member);
    expect(back.data?.workspace.plan).toBe('ENTERPRISE');
  });

  it('a request sees the key another request saved', async () => {
    const before = await t.gql(WORKSPACE_STATUS, { w: ws.id }, ws.tokens.member);
    expect(before.data?.workspace.aiInferenceKey).toMatchObject({ configured: false, maskedHint: null });
    const saved = await t.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: ws.id, k: sampleKey('l') }, ws.tokens.owner);
    expect(saved.errors).toBeUndefined();
    const after = await t.gql(WORKSPACE_STATUS, { w: ws.id }, ws.tokens.member);
    expect(after.data?.workspace.aiInferenceKey).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…defl' });
  });

  it("concurrent requests by a member and an outsider: the member's loaded rows never answer the outsider", async () => {
    const [member, outsider] = await Promise.all([
      t.gql(WORKSPACE_STATUS, { w: ws.id }, ws.tokens.member),
      t.gql(WORKSPACE_STATUS, { w: ws.id }, ws.tokens.outsider),
    ]);
    expect(member.data?.workspace.plan).toBe('ENTERPRISE');
    expectGraphQLError(outsider, 'FORBIDDEN');
    expect(outsider.text).not.toContain('ENTERPRISE');
  });

  it('caches within one set of loaders, and a new set reads the database afresh', async () => {
    const first = createLoaders(t.app.dataSource);
    expect((await first.workspaceById.load(ws.id))?.name).toBe('Loaders');
    await t.app.dataSource.getRepository(WorkspaceEntity).update({ id: ws.id }, { name: 'Loaders renamed' });
    // the same request keeps a consistent view of the row it already read…
    expect((await first.workspaceById.load(ws.id))?.name).toBe('Loaders');
    // …while the next request's loaders see the change
    const second = createLoaders(t.app.dataSource);
    expect(second.workspaceById).not.toBe(first.workspaceById);
    expect((await second.workspaceById.load(ws.id))?.name).toBe('Loaders renamed');
  });

  it('answers a batch in key order, with null for an unknown id', async () => {
    const other = await seedWorkspace(t, Plan.PLUS, 'Loaders other');
    const loaders = createLoaders(t.app.dataSource);
    const rows = await loaders.workspaceById.loadMany([other.id, 'no-such-workspace', ws.id]);
    expect(rows.map((row) => (row instanceof Error ? row : row?.id ?? null))).toEqual([other.id, null, ws.id]);
  });
});
