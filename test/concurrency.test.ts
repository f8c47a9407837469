import { InferenceKeyRecordEntity } from '../src/modules/inference-key/inference-key-record.entity';
import { TenantSecretEntity } from '../src/modules/secrets/tenant-secret.entity';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { MemberRole } from '../src/auth/member-role';
import { ADD_MEMBER, AUDIT_EVENTS, CHANGE_PLAN, CREATE_WORKSPACE, KEY_STATUS, REMOVE_KEY, REPLACE_KEY, SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { GraphQLResult, startTestApp, TestApp } from './support/test-app';

/**
 * Racing requests against one workspace. Every change locks the workspace row (MySQL) or queues
 * its transaction (SQLite); these tests check the outcome is as if the requests ran one by one.
 */

const hintOf = (key: string) => `${key.slice(0, 8)}…${key.slice(-4)}`;
const codesOf = (result: GraphQLResult) => (result.errors ?? []).map((error) => error.extensions?.code);

describe('concurrency', () => {
  let t: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestApp();
    adminToken = await t.token('platform-admin', { admin: true });
  });
  afterAll(() => t.close());

  /** The key's audit trail (the member changes that set the workspace up are audited too). */
  const auditOf = async (workspaceId: string, token: string) =>
    (expectData(await t.gql(AUDIT_EVENTS, { w: workspaceId, first: 100 }, token)).auditEvents.nodes as Array<{ action: string; maskedHint: string }>).filter(
      (event) => event.action.startsWith('KEY_'),
    );

  const storedKeyOf = async (workspaceId: string) => {
    const row = await t.app.dataSource.getRepository(TenantSecretEntity).findOneBy({ workspaceId });
    const record = await t.app.dataSource.getRepository(InferenceKeyRecordEntity).findOneBy({ workspaceId });
    return row && { hint: record?.openrouterMaskedHint, key: t.app.seam.secrets.decryptOrThrow(row).openrouterKey };
  };

  it('20 concurrent replaceKey calls leave exactly one of the 20 keys, hint and ciphertext agreeing, and 20 audit events', async () => {
    const ws = await seedWorkspace(t);
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('orig') }, ws.tokens.owner));
    const keys = Array.from({ length: 20 }, (_, i) => sampleKey(`r${String(i).padStart(3, '0')}`));

    const results = await Promise.all(keys.map((key) => t.gql(REPLACE_KEY, { w: ws.id, k: key }, ws.tokens.owner)));

    for (const result of results) expectData(result);
    const status = expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member)).aiInferenceKey;
    expect(keys.map(hintOf)).toContain(status.maskedHint);
    const stored = await storedKeyOf(ws.id);
    expect(keys).toContain(stored?.key);
    expect(stored?.hint).toBe(hintOf(stored!.key!));
    expect(status.maskedHint).toBe(stored?.hint);
    const events = await auditOf(ws.id, ws.tokens.owner);
    const replaced = events.filter((event) => event.action === 'KEY_REPLACED');
    expect(replaced).toHaveLength(20);
    expect(replaced.map((event) => event.maskedHint).sort()).toEqual(keys.map(hintOf).sort());
    expect(events.filter((event) => event.action !== 'KEY_REPLACED').map((event) => event.action)).toEqual(['KEY_SAVED']);
  });

  it('10 concurrent saveKey calls on a workspace without a key: one wins, the rest are KEY_ALREADY_CONFIGURED', async () => {
    const ws = await seedWorkspace(t);
    const keys = Array.from({ length: 10 }, (_, i) => sampleKey(`s${String(i).padStart(3, '0')}`));

    const results = await Promise.all(keys.map((key) => t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner)));

    const winners = results.filter((result) => !result.errors);
    expect(winners).toHaveLength(1);
    for (const loser of results.filter((result) => result.errors)) expectErrorCode(loser, 'KEY_ALREADY_CONFIGURED');
    const winningHint = winners[0].data?.saveKey.maskedHint;
    expect((await storedKeyOf(ws.id))?.hint).toBe(winningHint);
    expect(await auditOf(ws.id, ws.tokens.owner)).toEqual([expect.objectContaining({ action: 'KEY_SAVED', maskedHint: winningHint })]);
  });

  it('10 concurrent removeKey calls remove once and record one KEY_REMOVED', async () => {
    const ws = await seedWorkspace(t);
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('gone') }, ws.tokens.owner));

    const results = await Promise.all(Array.from({ length: 10 }, () => t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.admin)));

    for (const result of results) expect(expectData(result).removeKey.configured).toBe(false);
    expect(await storedKeyOf(ws.id)).toBeNull();
    expect((await auditOf(ws.id, ws.tokens.owner)).map((event) => event.action)).toEqual(['KEY_REMOVED', 'KEY_SAVED']);
  });

  it('saveKey racing changePlan(PRO), 50 times: never a key on a non-Enterprise workspace, and the audit trail matches', async () => {
    const ownerToken = await t.token('racer');
    const outcomes = { savedThenRemoved: 0, refused: 0 };

    for (let i = 0; i < 50; i++) {
      const workspaceId = expectData(await t.gql(CREATE_WORKSPACE, { name: `Race ${i}`, plan: Plan.ENTERPRISE }, adminToken)).createWorkspace.id;
      expectData(await t.gql(ADD_MEMBER, { w: workspaceId, u: 'racer', r: MemberRole.OWNER }, adminToken));
      const key = sampleKey(`x${String(i).padStart(3, '0')}`);
      const save = () => t.gql(SAVE_KEY, { w: workspaceId, k: key }, ownerToken);
      const downgrade = () => t.gql(CHANGE_PLAN, { w: workspaceId, plan: Plan.PRO }, adminToken);

      // Alternate which request leaves first, and by how much (0 to 9 ms), so that both orders
      // happen, and the two also meet at the lock in between.
      const after = <T>(ms: number, send: () => Promise<T>) => new Promise<T>((resolveLater) => setTimeout(() => resolveLater(send()), ms));
      const lead = i % 10;
      const [saved, changed] = i % 2 === 0 ? await Promise.all([save(), after(lead, downgrade)]) : (await Promise.all([downgrade(), after(lead, save)])).reverse();

      expect(expectData(changed).changePlan.plan).toBe('PRO');
      const keysOnNonEnterprise = await t.app.dataSource.query(
        `SELECT s.workspace_id FROM tenant_secret s JOIN workspace w ON w.id = s.workspace_id WHERE w.plan <> 'ENTERPRISE'
         UNION SELECT k.workspace_id FROM inference_key k JOIN workspace w ON w.id = k.workspace_id WHERE w.plan <> 'ENTERPRISE'`,
      );
      expect(keysOnNonEnterprise).toEqual([]);
      const actions = (await auditOf(workspaceId, adminToken)).map((event) => [event.action, event.maskedHint]);
      if (saved.errors) {
        // The downgrade came first: the save is refused and leaves no trace.
        expectErrorCode(saved, 'ENTERPRISE_REQUIRED');
        expect(actions).toEqual([]);
        outcomes.refused += 1;
      } else {
        // The save came first: the downgrade removed the key in its own transaction, and said so.
        expect(codesOf(saved)).toEqual([]);
        expect(actions.sort()).toEqual([
          ['KEY_REMOVED_PLAN_CHANGE', hintOf(key)],
          ['KEY_SAVED', hintOf(key)],
        ]);
        outcomes.savedThenRemoved += 1;
      }
      expect(expectData(await t.gql(KEY_STATUS, { w: workspaceId }, ownerToken)).aiInferenceKey).toMatchObject({ configured: false, eligible: false });
    }

    expect(outcomes.savedThenRemoved).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.savedThenRemoved + outcomes.refused).toBe(50);
  });
});
