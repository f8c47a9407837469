import type { KeyStatusChange } from '../src/modules/inference-key/key-health.service';
import { KeyStatus } from '../src/modules/inference-key/inference-key.enums';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { KEY_STATUS, SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { FakeOpenRouter } from './support/fake-openrouter';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { CHAT_BODY, callGateway, eventually } from './support/gateway-client';
import { freshRequestId } from './support/gateway-setup';
import { canaryKey } from './support/leak-search';
import { startTestApp, TestApp } from './support/test-app';

/**
 * SPEC.md "Budgets, webhooks, exports, key health": verifyKey checks a key live without saving it
 * (Manage billing, 10 a minute per workspace across workers, UPSTREAM_UNREACHABLE); stored keys are
 * re-checked every KEY_RECHECK_INTERVAL_MS by one worker at a time, LOW_CREDIT below 20 % of the
 * limit, backing off while OpenRouter cannot be asked; a successful call clears only error statuses.
 */

const VERIFY = `mutation($w: ID!, $k: String!) { verifyKey(workspaceId: $w, key: $k) { valid limitMicros limitRemainingMicros isFreeTier message } }`;
const CREATE_TOKEN = `mutation($w: ID!, $name: String!) { createPartnerToken(workspaceId: $w, name: $name) { token } }`;
const INTERVAL_MS = 400;

describe('key health', () => {
  const fake = new FakeOpenRouter();
  let t: TestApp;
  let second: TestApp;
  let unreachable: TestApp;
  const changes: KeyStatusChange[] = [];

  beforeAll(async () => {
    await fake.start();
    // Redis carries each worker's changes to the other's caches, as in production.
    const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const overrides = { openrouterBaseUrl: fake.baseUrl, openrouterVerifyKeys: true, keyRecheckIntervalMs: INTERVAL_MS, platformOpenrouterKey: canaryKey(), redisUrl };
    t = await startTestApp({ overrides });
    second = await startTestApp({ db: t.db, overrides });
    const gone = new FakeOpenRouter();
    await gone.start();
    await gone.stop();
    // A database of its own: its worker would otherwise take the others' keys and find OpenRouter down.
    unreachable = await startTestApp({ overrides: { ...overrides, openrouterBaseUrl: gone.baseUrl } });
    for (const app of [t, second]) {
      app.app.seam.keyHealth.onStatusChanged(async (_manager, change) => {
        changes.push(change);
      });
    }
  });
  afterAll(async () => {
    await unreachable.close();
    await second.close();
    await t.close();
    await fake.stop();
  });

  const statusOf = async (ws: SeededWorkspace) => expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member)).aiInferenceKey;
  const keyChecks = (key: string) => fake.requestsTo('GET', '/key').filter((request) => request.bearer === key);

  async function workspaceWithKey(limit: number | null, remaining: number | null): Promise<SeededWorkspace & { key: string }> {
    const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Health');
    const key = canaryKey();
    fake.keyInfo({ data: { limit, limit_remaining: remaining } }, { key });
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner));
    return { ...ws, key };
  }

  describe('verifyKey', () => {
    it('checks a key live without saving it: its limits, or valid false with the reason', async () => {
      const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Verify');
      const good = canaryKey();
      const bad = canaryKey();
      fake.keyInfo({ data: { limit: 50, limit_remaining: 12.5, is_free_tier: false } }, { key: good });
      fake.keyInfo({ status: 401, errorMessage: `User not found for ${bad}` }, { key: bad });
      const valid = await t.gql(VERIFY, { w: ws.id, k: ` ${good} ` }, ws.tokens.billing);
      expect(expectData(valid).verifyKey).toEqual({ valid: true, limitMicros: 50_000_000, limitRemainingMicros: 12_500_000, isFreeTier: false, message: null });
      const refused = await t.gql(VERIFY, { w: ws.id, k: bad }, ws.tokens.owner);
      expect(expectData(refused).verifyKey).toMatchObject({ valid: false, limitMicros: null, message: expect.stringContaining('rejected') });
      expect(refused.text).not.toContain(bad);
      expect(valid.text).not.toContain(good);
      expect((await statusOf(ws)).configured).toBe(false);
      expect(await t.app.dataSource.query('SELECT workspace_id FROM tenant_secret WHERE workspace_id = ?', [ws.id])).toEqual([]);
    });

    it('UPSTREAM_UNREACHABLE when OpenRouter cannot be asked; BAD_USER_INPUT for a malformed key, never sent upstream', async () => {
      const elsewhere = await seedWorkspace(unreachable, Plan.ENTERPRISE, 'Verify');
      expectErrorCode(await unreachable.gql(VERIFY, { w: elsewhere.id, k: canaryKey() }, elsewhere.tokens.billing), 'UPSTREAM_UNREACHABLE');
      const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Verify');
      const before = fake.requestsTo('GET', '/key').length;
      expectErrorCode(await t.gql(VERIFY, { w: ws.id, k: 'sk-not-a-key-0123456789' }, ws.tokens.billing), 'BAD_USER_INPUT');
      expect(fake.requestsTo('GET', '/key')).toHaveLength(before);
    });

    it('Manage billing holders only', async () => {
      const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Verify');
      const partner = expectData(await t.gql(CREATE_TOKEN, { w: ws.id, name: 'bi' }, ws.tokens.billing)).createPartnerToken.token;
      for (const token of [ws.tokens.member, ws.tokens.outsider, partner]) expectErrorCode(await t.gql(VERIFY, { w: ws.id, k: canaryKey() }, token), 'FORBIDDEN');
      expectErrorCode(await t.gql(VERIFY, { w: ws.id, k: canaryKey() }), 'UNAUTHENTICATED');
    });

    it('at most 10 a minute per workspace, counted across workers; other workspaces unaffected; the window slides', async () => {
      const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Limited');
      const other = await seedWorkspace(t, Plan.ENTERPRISE, 'Other');
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? second : t).gql(VERIFY, { w: ws.id, k: canaryKey() }, ws.tokens.billing)));
      const codes = answers.map((answer) => answer.errors?.[0]?.extensions?.code ?? 'OK');
      expect(codes.filter((code) => code === 'OK')).toHaveLength(10);
      expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(2);
      expectData(await t.gql(VERIFY, { w: other.id, k: canaryKey() }, other.tokens.billing));
      // A minute later the attempts have left the window.
      await t.app.dataSource.query('UPDATE key_verification_attempt SET attempted_at = ? WHERE workspace_id = ?', [new Date(Date.now() - 61_000).toISOString().replace('T', ' ').replace('Z', ''), ws.id]);
      expectData(await second.gql(VERIFY, { w: ws.id, k: canaryKey() }, ws.tokens.billing));
    });
  });

  describe('periodic re-check', () => {
    it('keeps the remaining credit fresh: LOW_CREDIT below 20 % of the limit, ACTIVE again above, the change told to listeners', async () => {
      const ws = await workspaceWithKey(100, 90);
      expect(await statusOf(ws)).toMatchObject({ status: 'ACTIVE', limitMicros: 100_000_000, limitRemainingMicros: 90_000_000 });
      fake.keyInfo({ data: { limit: 100, limit_remaining: 19.99 } }, { key: ws.key });
      await eventually(async () => ((await statusOf(ws)).status === 'LOW_CREDIT' ? true : undefined), 5_000, 'LOW_CREDIT');
      expect(await statusOf(ws)).toMatchObject({ limitRemainingMicros: 19_990_000 });
      expect(changes).toContainEqual(expect.objectContaining({ workspaceId: ws.id, from: 'ACTIVE', to: 'LOW_CREDIT' }));
      // 20 % exactly is not below 20 %
      fake.keyInfo({ data: { limit: 100, limit_remaining: 20 } }, { key: ws.key });
      await eventually(async () => ((await statusOf(ws)).status === 'ACTIVE' ? true : undefined), 5_000, 'ACTIVE again');
      expect(changes).toContainEqual(expect.objectContaining({ workspaceId: ws.id, from: 'LOW_CREDIT', to: 'ACTIVE' }));
    });

    it('a successful call clears error statuses, never LOW_CREDIT', async () => {
      const ws = await workspaceWithKey(100, 5);
      expect((await statusOf(ws)).status).toBe('LOW_CREDIT');
      const call = async () => {
        const answer = await callGateway(t, { workspaceId: ws.id, requestId: freshRequestId('health'), path: 'AGENT_RUN', body: CHAT_BODY });
        expect(answer.status).toBe(200);
        await t.app.seam.usageRecorder.settled(ws.id);
      };
      await call();
      expect((await statusOf(ws)).status).toBe('LOW_CREDIT');
      await t.app.seam.keyHealth.mark(ws.id, (await t.app.seam.secrets.findRow(t.app.dataSource.manager, ws.id))!.updatedAt, KeyStatus.OUT_OF_CREDITS);
      await call();
      expect((await statusOf(ws)).status).toBe('ACTIVE');
    });

    it('a key OpenRouter refuses on re-check is marked INVALID', async () => {
      const ws = await workspaceWithKey(null, null);
      fake.keyInfo({ status: 401 }, { key: ws.key });
      await eventually(async () => ((await statusOf(ws)).status === 'INVALID' ? true : undefined), 5_000, 'INVALID');
    });

    it('backs off while OpenRouter errors: the status stays, each wait doubles', async () => {
      const ws = await workspaceWithKey(100, 90);
      fake.keyInfo({ status: 500 }, { key: ws.key });
      const schedule = async () =>
        (await t.app.dataSource.query('SELECT recheck_failures AS failures FROM inference_key WHERE workspace_id = ?', [ws.id]))[0] as { failures: number | string };
      await eventually(async () => (Number((await schedule()).failures) >= 2 ? true : undefined), 5_000, 'two failures');
      const checks = keyChecks(ws.key).map((request) => request.receivedAt);
      // after the save: one interval, then 2, then 4 intervals (±10 %)
      expect(checks.length).toBeGreaterThanOrEqual(3);
      expect(checks[2] - checks[1]).toBeGreaterThanOrEqual(2 * INTERVAL_MS * 0.9);
      expect((await statusOf(ws)).status).toBe('ACTIVE');
      fake.keyInfo({ data: { limit: 100, limit_remaining: 80 } }, { key: ws.key });
    });

    it('two workers on one database: one check per key per interval, never two at once', async () => {
      const ws = await workspaceWithKey(100, 90);
      fake.keyInfo({ data: { limit: 100, limit_remaining: 90 }, delayMs: 100 }, { key: ws.key });
      await new Promise((resolveWait) => setTimeout(resolveWait, 8 * INTERVAL_MS));
      const checks = keyChecks(ws.key).map((request) => request.receivedAt);
      expect(checks.length).toBeGreaterThanOrEqual(4);
      const gaps = checks.slice(1).map((at, i) => at - checks[i]);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(INTERVAL_MS * 0.9);
    });
  });
});
