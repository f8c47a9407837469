import { Plan } from '../src/modules/workspace/workspace.enums';
import { AUDIT_EVENTS, KEY_STATUS, REPLACE_KEY, SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { FakeOpenRouter } from './support/fake-openrouter';
import { eventually } from './support/gateway-client';
import { sampleKey, SeededWorkspace, seedWorkspace } from './support/fixtures';
import { canaryKey, findLeak } from './support/leak-search';
import { startTestApp, TestApp } from './support/test-app';

/**
 * SPEC.md "Inference gateway": on save and replace the key is checked live with
 * `GET ${OPENROUTER_BASE_URL}/key`. Three servers share one database: one verifying against the
 * fake, one whose OpenRouter is down, and one with the check turned off.
 */

const REJECTED_MESSAGE = 'OpenRouter rejected this key';
/** openrouter-key.verifier.ts: how long the live check waits for GET /key. */
const VERIFY_TIMEOUT_MS = 3_000;

describe('live key verification', () => {
  const fake = new FakeOpenRouter();
  let t: TestApp;
  let unreachable: TestApp;
  let unverified: TestApp;

  beforeAll(async () => {
    await fake.start();
    t = await startTestApp({ overrides: { openrouterBaseUrl: fake.baseUrl, openrouterVerifyKeys: true } });
    // A real address where nothing listens any more: connection refused.
    const gone = new FakeOpenRouter();
    await gone.start();
    await gone.stop();
    unreachable = await startTestApp({ db: t.db, overrides: { openrouterBaseUrl: gone.baseUrl, openrouterVerifyKeys: true } });
    unverified = await startTestApp({ db: t.db, overrides: { openrouterBaseUrl: fake.baseUrl, openrouterVerifyKeys: false } });
  });
  beforeEach(() => fake.reset());
  afterAll(async () => {
    await unverified.close();
    await unreachable.close();
    await t.close();
    await fake.stop();
  });

  const statusOf = async (app: TestApp, ws: SeededWorkspace) => expectData(await app.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member)).aiInferenceKey;
  /** The key's audit trail (seeding the workspace's members is audited too). */
  const auditActions = async (ws: SeededWorkspace) =>
    expectData(await t.gql(AUDIT_EVENTS, { w: ws.id }, ws.tokens.owner))
      .auditEvents.nodes.map((event: { action: string }) => event.action)
      .filter((action: string) => action.startsWith('KEY_'));
  const storedRows = (ws: SeededWorkspace) => t.app.dataSource.query('SELECT workspace_id FROM tenant_secret WHERE workspace_id = ?', [ws.id]);

  it('refuses a key OpenRouter answers 401 for, with the exact message, and stores nothing', async () => {
    const ws = await seedWorkspace(t);
    const key = canaryKey();
    fake.keyInfo({ status: 401 }, { key });

    const saved = await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner);

    expectErrorCode(saved, 'BAD_USER_INPUT');
    expect(saved.errors?.[0].message).toBe(REJECTED_MESSAGE);
    expect(saved.text).not.toContain(key);
    expect(await statusOf(t, ws)).toMatchObject({ configured: false, maskedHint: null, status: null });
    expect(await storedRows(ws)).toEqual([]);
    expect(await auditActions(ws)).toEqual([]);
    expect(fake.requestsTo('GET', '/key')).toHaveLength(1);
    expect(findLeak(t.logs.text, key)).toBeUndefined();
  });

  it('sends the trimmed key as `Authorization: Bearer <key>` to GET /key, and nothing else', async () => {
    const ws = await seedWorkspace(t);
    const key = sampleKey('bear');

    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: `  ${key}\n` }, ws.tokens.owner));

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/key', search: '', authorization: `Bearer ${key}`, body: undefined });
  });

  it('stores ACTIVE with the limit, remaining limit and free-tier flag in micro-USD', async () => {
    const ws = await seedWorkspace(t);
    const key = sampleKey('good');
    fake.keyInfo({ data: { limit: 12.5, limit_remaining: 3.25, usage: 9.25, is_free_tier: true } }, { key });
    const before = Date.now();

    const saved = expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner)).saveKey;

    const expected = { configured: true, status: 'ACTIVE', limitMicros: 12_500_000, limitRemainingMicros: 3_250_000, isFreeTier: true };
    expect(saved).toMatchObject(expected);
    // Read back in a new request, so it comes from the database.
    const stored = await statusOf(t, ws);
    expect(stored).toMatchObject(expected);
    expect(Date.parse(stored.lastCheckedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(await auditActions(ws)).toEqual(['KEY_SAVED']);
  });

  it('stores ACTIVE with no limits for a key without a limit', async () => {
    const ws = await seedWorkspace(t);

    const saved = expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('free') }, ws.tokens.owner)).saveKey;

    expect(saved).toMatchObject({ status: 'ACTIVE', limitMicros: null, limitRemainingMicros: null, isFreeTier: false });
  });

  it('saves the key as UNVERIFIED when OpenRouter cannot be reached', async () => {
    const ws = await seedWorkspace(unreachable);

    const saved = expectData(await unreachable.gql(SAVE_KEY, { w: ws.id, k: sampleKey('down') }, ws.tokens.owner)).saveKey;

    expect(saved).toMatchObject({ configured: true, status: 'UNVERIFIED', limitMicros: null, limitRemainingMicros: null, isFreeTier: null });
    expect(await statusOf(unreachable, ws)).toMatchObject({ configured: true, status: 'UNVERIFIED' });
    expect(await auditActions(ws)).toEqual(['KEY_SAVED']);
  });

  it.each([
    ['drops the connection', { drop: true }],
    ['answers 500', { status: 500 }],
    ['answers 503', { status: 503 }],
  ])('saves the key as UNVERIFIED when OpenRouter %s', async (_name, answer) => {
    const ws = await seedWorkspace(t);
    fake.keyInfo(answer);

    const saved = expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('flky') }, ws.tokens.owner)).saveKey;

    expect(saved).toMatchObject({ configured: true, status: 'UNVERIFIED' });
    expect(fake.requestsTo('GET', '/key')).toHaveLength(1);
  });

  it('gives up on an OpenRouter slower than the timeout: the key is saved UNVERIFIED, and the save does not wait longer', async () => {
    const ws = await seedWorkspace(t);
    // Far beyond the timeout, so only the service's own deadline can end the wait.
    fake.keyInfo({ delayMs: VERIFY_TIMEOUT_MS * 4, data: { limit: 5 } });

    const started = Date.now();
    const saved = expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('slow') }, ws.tokens.owner)).saveKey;
    const elapsed = Date.now() - started;

    expect(saved).toMatchObject({ configured: true, status: 'UNVERIFIED', limitMicros: null, limitRemainingMicros: null, isFreeTier: null });
    expect(await statusOf(t, ws)).toMatchObject({ configured: true, status: 'UNVERIFIED' });
    expect(await auditActions(ws)).toEqual(['KEY_SAVED']);
    // It waited for OpenRouter (this is the timeout, not a refused connection), then no longer than
    // the timeout plus room for a loaded machine.
    expect(elapsed).toBeGreaterThanOrEqual(VERIFY_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(VERIFY_TIMEOUT_MS + 2_000);
    // The service hung up on the slow request rather than leaving it open.
    const [request] = fake.requestsTo('GET', '/key');
    await eventually(async () => (request.aborted ? true : undefined), 2_000, 'the slow GET /key to be abandoned');
  });

  it('makes no request and saves UNVERIFIED when the check is turned off', async () => {
    const ws = await seedWorkspace(unverified);
    fake.keyInfo({ status: 401 });

    const saved = expectData(await unverified.gql(SAVE_KEY, { w: ws.id, k: sampleKey('skip') }, ws.tokens.owner)).saveKey;
    const replaced = expectData(await unverified.gql(REPLACE_KEY, { w: ws.id, k: sampleKey('skp2') }, ws.tokens.owner)).replaceKey;

    expect(saved).toMatchObject({ configured: true, status: 'UNVERIFIED' });
    expect(replaced).toMatchObject({ configured: true, status: 'UNVERIFIED' });
    expect(fake.requests).toEqual([]);
  });

  it('checks again on replace: a rejected replacement keeps the old key, an accepted one updates the figures', async () => {
    const ws = await seedWorkspace(t);
    const [first, rejected, second, third] = ['aaaa', 'bbbb', 'cccc', 'dddd'].map((suffix) => `${canaryKey()}${suffix}`);
    fake.keyInfo({ data: { limit: 5 } }, { key: first });
    fake.keyInfo({ status: 401 }, { key: rejected });
    fake.keyInfo({ data: { limit: 20, limit_remaining: 19.999999 } }, { key: second });
    fake.keyInfo({ status: 502 }, { key: third });
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: first }, ws.tokens.owner));

    const refused = await t.gql(REPLACE_KEY, { w: ws.id, k: rejected }, ws.tokens.owner);
    expectErrorCode(refused, 'BAD_USER_INPUT');
    expect(refused.errors?.[0].message).toBe(REJECTED_MESSAGE);
    expect(await statusOf(t, ws)).toMatchObject({ maskedHint: 'sk-or-v1…aaaa', status: 'ACTIVE', limitMicros: 5_000_000 });

    expect(expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: second }, ws.tokens.owner)).replaceKey).toMatchObject({
      maskedHint: 'sk-or-v1…cccc',
      status: 'ACTIVE',
      limitMicros: 20_000_000,
      limitRemainingMicros: 19_999_999,
    });
    // An unverifiable replacement must not inherit the figures of the key it replaced.
    expect(expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: third }, ws.tokens.owner)).replaceKey).toMatchObject({
      maskedHint: 'sk-or-v1…dddd',
      status: 'UNVERIFIED',
      limitMicros: null,
      limitRemainingMicros: null,
      isFreeTier: null,
    });

    expect(fake.requestsTo('GET', '/key').map((request) => request.bearer)).toEqual([first, rejected, second, third]);
    expect(await auditActions(ws)).toEqual(['KEY_REPLACED', 'KEY_REPLACED', 'KEY_SAVED']);
    // Whatever OpenRouter answered, no key it was asked about reached a log line.
    for (const key of [first, rejected, second, third]) expect(findLeak(t.logs.text, key)).toBeUndefined();
  });

  it('does not ask OpenRouter about a key the service would refuse anyway', async () => {
    const enterprise = await seedWorkspace(t);
    const pro = await seedWorkspace(t, Plan.PRO);
    expectData(await t.gql(SAVE_KEY, { w: enterprise.id, k: sampleKey('have') }, enterprise.tokens.owner));
    fake.reset();

    expectErrorCode(await t.gql(SAVE_KEY, { w: pro.id, k: sampleKey() }, pro.tokens.owner), 'ENTERPRISE_REQUIRED');
    expectErrorCode(await t.gql(SAVE_KEY, { w: enterprise.id, k: sampleKey() }, enterprise.tokens.owner), 'KEY_ALREADY_CONFIGURED');
    expectErrorCode(await t.gql(REPLACE_KEY, { w: enterprise.id, k: sampleKey() }, enterprise.tokens.member), 'FORBIDDEN');
    expectErrorCode(await t.gql(REPLACE_KEY, { w: enterprise.id, k: 'sk-or-short' }, enterprise.tokens.owner), 'BAD_USER_INPUT');

    expect(fake.requests).toEqual([]);
  });
});
