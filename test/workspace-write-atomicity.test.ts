import { InferencePath } from '../src/modules/usage/usage.enums';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { SAVE_KEY } from './support/documents';
import { expectData } from './support/expectations';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';
import { queryOutside } from './support/test-database';
import { BILLING_SUMMARY } from './support/usage-calls';

/**
 * Every write goes through the transaction runner. On SQLite TypeORM shares one connection: a
 * write made beside the runner while one of its transactions is open runs inside that transaction,
 * and is lost when it rolls back. Through the runner it waits its turn and lands.
 */

const HOUR = 3_600_000;
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ overrides: { keyRecheckIntervalMs: HOUR } });
});

afterAll(() => t.close());

/** A transaction that writes, waits until released, then fails. */
async function failingTransaction(workspaceId: string): Promise<{ release: () => void; done: Promise<unknown> }> {
  let release!: () => void;
  const held = new Promise<void>((resolveHeld) => (release = resolveHeld));
  let started!: () => void;
  const running = new Promise<void>((resolveRunning) => (started = resolveRunning));
  const done = t.app.seam.transactions.run(async (manager) => {
    await manager.query('UPDATE workspace SET name = ? WHERE id = ?', ['half-written', workspaceId]);
    started();
    await held;
    throw new Error('failed mid-way');
  });
  await running;
  return { release, done };
}

it('writes made while another transaction is open all land, and the failed transaction leaves nothing', async () => {
  const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Atomic');
  expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.owner));
  const partner = expectData(
    await t.gql('mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "atomic") { token partnerToken { id } } }', { w: ws.id }, ws.tokens.billing),
  ).createPartnerToken;
  const later = new Date(Date.now() + 2 * HOUR);

  const failing = await failingTransaction(ws.id);
  const writes = Promise.all([
    t.gql('mutation { createWorkspace(name: "Landed beside a failure", plan: PRO) { id } }', {}, ws.adminToken),
    t.app.seam.refusedCalls.count({ workspaceId: ws.id, path: InferencePath.AGENT_RUN, actorUserId: 'atomic', cause: 'BUDGET_EXCEEDED' }),
    t.gql(BILLING_SUMMARY, { w: ws.id, month: '2026-03' }, partner.token),
    t.app.seam.keyHealth.claimRecheck(ws.id, 'atomic-worker', later, 60_000, HOUR),
  ]);
  // Long enough for a write made beside the runner to reach the open transaction.
  await new Promise((resolveWait) => setTimeout(resolveWait, 300));
  failing.release();
  await expect(failing.done).rejects.toThrow('failed mid-way');
  const [created, , summary, claimed] = await writes;
  const createdId = expectData(created).createWorkspace.id as string;
  expectData(summary);
  expect(claimed).toBe(true);

  expect(await queryOutside(t.db, 'SELECT name FROM workspace WHERE id IN (?, ?) ORDER BY name', [ws.id, createdId])).toEqual([
    { name: 'Atomic' },
    { name: 'Landed beside a failure' },
  ]);
  const [counter] = await queryOutside<{ refused: number | string }>(t.db, 'SELECT refused FROM refused_call_counter WHERE workspace_id = ? AND actor_key = ?', [ws.id, 'atomic']);
  expect(Number(counter?.refused)).toBe(1);
  const [token] = await queryOutside<{ last_used_at: unknown }>(t.db, 'SELECT last_used_at FROM partner_token WHERE id = ?', [partner.partnerToken.id]);
  expect(token.last_used_at).not.toBeNull();
  expect(await queryOutside(t.db, 'SELECT recheck_lease_owner FROM inference_key WHERE workspace_id = ?', [ws.id])).toEqual([{ recheck_lease_owner: 'atomic-worker' }]);
});

it('concurrent workspace creations and refusal counts all land', async () => {
  const ws = await seedWorkspace(t, Plan.PRO, 'Concurrent');
  const created = await Promise.all(
    Array.from({ length: 20 }, (_, i) => t.gql('mutation($n: String!) { createWorkspace(name: $n, plan: PRO) { id } }', { n: `concurrent-${i}` }, ws.adminToken)),
  );
  await Promise.all(Array.from({ length: 20 }, () => t.app.seam.refusedCalls.count({ workspaceId: ws.id, path: InferencePath.AGENT_RUN, actorUserId: 'many', cause: 'BUDGET_EXCEEDED' })));
  const ids = created.map((result) => expectData(result).createWorkspace.id as string);
  const [stored] = await queryOutside<{ n: number | string }>(t.db, `SELECT COUNT(*) AS n FROM workspace WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
  expect(Number(stored.n)).toBe(20);
  const [counter] = await queryOutside<{ refused: number | string }>(t.db, 'SELECT refused FROM refused_call_counter WHERE workspace_id = ? AND actor_key = ?', [ws.id, 'many']);
  expect(Number(counter.refused)).toBe(20);
});
