import { Plan } from '../src/modules/workspace/workspace.enums';
import { SAVE_KEY } from './support/documents';
import { expectData } from './support/expectations';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

/**
 * SPEC.md "Budgets, webhooks, exports, key health": one re-check per key per interval across
 * workers. A worker lists the due keys, then claims each: the claim must see that another worker
 * checked the key and gave its lease back meanwhile. Times are passed explicitly, an hour ahead,
 * so the app's own worker (interval one hour) never takes part.
 */

const HOUR = 3_600_000;
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ overrides: { keyRecheckIntervalMs: HOUR } });
});

afterAll(() => t.close());

it('a key another worker re-checked since it was listed as due is not claimed again', async () => {
  const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Claims');
  expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.owner));
  const health = t.app.seam.keyHealth;
  const later = new Date(Date.now() + 2 * HOUR);

  // Both workers list the key as due; A claims it, checks it and gives the lease back.
  expect(await health.dueForRecheck(later, HOUR, 100)).toContain(ws.id);
  expect(await health.claimRecheck(ws.id, 'worker-a', later, 60_000, HOUR)).toBe(true);
  expect(await health.claimRecheck(ws.id, 'worker-b', later, 60_000, HOUR)).toBe(false);
  await health.releaseRecheck(ws.id, 'worker-a', new Date(later.getTime() + HOUR), 0);

  // B's claim, from its older list, comes after the release: the key is not due any more.
  expect(await health.claimRecheck(ws.id, 'worker-b', later, 60_000, HOUR)).toBe(false);
  expect(await health.dueForRecheck(later, HOUR, 100)).not.toContain(ws.id);
  // Once its next check is due, whoever asks first takes it.
  const next = new Date(later.getTime() + HOUR + 1);
  expect(await health.claimRecheck(ws.id, 'worker-b', next, 60_000, HOUR)).toBe(true);
});
