import { WorkspaceAccessCache, WorkspaceAccess } from '../src/modules/workspace/workspace-access.cache';
import { MemberEntity } from '../src/modules/workspace/member.entity';
import { WorkspaceEntity } from '../src/modules/workspace/workspace.entity';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { MemberRole } from '../src/auth/member-role';
import { ADD_MEMBER, CHANGE_PLAN, KEY_STATUS, REMOVE_MEMBER, SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

function access(plan: Plan, role: MemberRole | null): WorkspaceAccess {
  return {
    workspace: Object.assign(new WorkspaceEntity(), { id: 'w1', plan }),
    key: null,
    membership: role ? Object.assign(new MemberEntity(), { workspaceId: 'w1', userId: 'u1', role }) : null,
  };
}

describe('WorkspaceAccessCache', () => {
  it('serves an entry until its TTL, per user', () => {
    let now = 0;
    const cache = new WorkspaceAccessCache(1000, () => now);
    cache.put('w1', 'u1', access(Plan.ENTERPRISE, MemberRole.MEMBER), cache.generation('w1'));
    expect(cache.get('w1', 'u1')?.membership?.role).toBe(MemberRole.MEMBER);
    expect(cache.get('w1', 'u2')).toBeUndefined();
    now = 999;
    expect(cache.get('w1', 'u1')).toBeDefined();
    now = 1000;
    expect(cache.get('w1', 'u1')).toBeUndefined();
  });

  it('remembers that a user is not a member', () => {
    const cache = new WorkspaceAccessCache(1000);
    cache.put('w1', 'u1', access(Plan.PRO, null), cache.generation('w1'));
    expect(cache.get('w1', 'u1')).toEqual(expect.objectContaining({ membership: null }));
  });

  it('drops everything about a workspace on invalidate, and refuses a read that raced it', () => {
    const cache = new WorkspaceAccessCache(1000);
    const before = cache.generation('w1');
    cache.put('w1', 'u1', access(Plan.ENTERPRISE, MemberRole.OWNER), before);
    cache.invalidate('w1');
    expect(cache.get('w1', 'u1')).toBeUndefined();
    cache.put('w1', 'u1', access(Plan.ENTERPRISE, MemberRole.OWNER), before);
    expect(cache.get('w1', 'u1')).toBeUndefined();
  });

  it('never caches with a TTL of 0', () => {
    const cache = new WorkspaceAccessCache(0);
    cache.put('w1', 'u1', access(Plan.ENTERPRISE, MemberRole.OWNER), cache.generation('w1'));
    expect(cache.get('w1', 'u1')).toBeUndefined();
  });
});

describe('cached workspace access over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('a change through the API is seen by the very next read', async () => {
    const ws = await seedWorkspace(t);
    expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member));
    expect(expectData(await t.gql(CHANGE_PLAN, { w: ws.id, plan: 'PRO' }, ws.adminToken))).toBeTruthy();
    const afterPlan = expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member));
    expect(afterPlan.aiInferenceKey.eligible).toBe(false);

    expectData(await t.gql(REMOVE_MEMBER, { w: ws.id, u: ws.userIds.member }, ws.adminToken));
    expectErrorCode(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member), 'FORBIDDEN');
    expectData(await t.gql(ADD_MEMBER, { w: ws.id, u: ws.userIds.member, r: 'BILLING_MANAGER' }, ws.adminToken));
    expect(expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member)).aiInferenceKey.canManage).toBe(true);
  });

  it('keeps the key’s metadata in the worker’s cache, never its ciphertext', async () => {
    const ws = await seedWorkspace(t);
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.owner));
    const status = expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member));
    expect(status.aiInferenceKey.configured).toBe(true);
    const cached = t.app.seam.directory.access.get(ws.id, ws.userIds.member);
    expect(cached?.key?.openrouterMaskedHint).toBe(status.aiInferenceKey.maskedHint);
    expect(cached?.key).not.toHaveProperty('ciphertext');
  });

  it('writes authorise against the database, not the cache', async () => {
    const ws = await seedWorkspace(t);
    // Warm this worker's cache with the billing manager's membership, then remove it behind the
    // service's back: a read may still be answered from the cache, a write must not be.
    expect(expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.billing)).aiInferenceKey.canManage).toBe(true);
    await t.app.dataSource.getRepository(MemberEntity).delete({ workspaceId: ws.id, userId: ws.userIds.billing });
    expectErrorCode(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.billing), 'FORBIDDEN');
    const status = expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.owner));
    expect(status.aiInferenceKey.configured).toBe(false);
  });
});
