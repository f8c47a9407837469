import type { AppConfig } from '../src/config/config';
import { unknownStoredKeyIds } from '../src/modules/secrets/key-id.check';
import { WebhookEndpointEntity } from '../src/modules/webhook/webhook-endpoint.entity';
import { WebhookSecrets } from '../src/modules/webhook/webhook.service';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData } from './support/expectations';
import { seedWorkspace } from './support/fixtures';
import { cipherFor, startTestApp, TestApp } from './support/test-app';
import { queryOutside, TestDatabase } from './support/test-database';

const PHRASE_A = 'webhook key ids: phrase A, the one the secrets were sealed under';
const PHRASE_B = 'webhook key ids: phrase B, the one the service is restarted with';
const PHRASE_C = 'webhook key ids: phrase C, which no deployment here is given';

/** Rejects after `ms` instead of waiting on: a start-up or query that never settles fails the test rather than hanging it. */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** How a start-up ended: its error's message, or "started" (the service is stopped again at once). */
async function startUpOutcome(db: TestDatabase, overrides: Partial<AppConfig>): Promise<{ outcome: string; logs: string }> {
  return within(
    30_000,
    'start-up',
    startTestApp({ db, overrides }).then(
      async (started) => {
        await started.close();
        return { outcome: 'started', logs: started.logs.text };
      },
      (error: Error) => ({ outcome: error.message, logs: '' }),
    ),
  );
}

describe('webhook signing secrets in the start-up key-id check', () => {
  let t: TestApp;
  let keyIdA: string;
  let keyIdC: string;
  let endpointId: string;

  beforeAll(async () => {
    [keyIdA, keyIdC] = await Promise.all([cipherFor(PHRASE_A), cipherFor(PHRASE_C)]).then((ciphers) => ciphers.map((cipher) => cipher.currentKeyId));
    t = await startTestApp({ overrides: { secretsPhrase: PHRASE_A } });
    const ws = await seedWorkspace(t, Plan.PRO, 'Sealed hooks');
    endpointId = expectData(
      await t.gql('mutation($w: ID!) { createWebhookEndpoint(workspaceId: $w, url: "http://127.0.0.1:9/hooks") { endpoint { id } } }', { w: ws.id }, ws.tokens.billing),
    ).createWebhookEndpoint.endpoint.id;
    await t.app.stop();
  }, 120_000);
  afterAll(() => t.db.drop());

  it('has no tenant-secrets blob to find: only the webhook secret carries key id A', async () => {
    const tenantKeyIds = await queryOutside<{ key_id: string }>(t.db, 'SELECT key_id FROM tenant_secret');
    expect(tenantKeyIds.map((row) => row.key_id)).not.toContain(keyIdA);
    const row = await queryOutside<{ n: number | string }>(t.db, 'SELECT COUNT(*) AS n FROM webhook_endpoint WHERE id = ?', [endpointId]);
    expect(Number(row[0].n)).toBe(1);
  });

  it('names the key id of a webhook secret that no phrase held derives, and nothing once the previous phrase is given', async () => {
    const dataSource = t.app.dataSource;
    await within(10_000, 'initialize', dataSource.initialize());
    try {
      expect(await within(10_000, 'check under B', unknownStoredKeyIds(dataSource, await cipherFor(PHRASE_B)))).toEqual([keyIdA]);
      expect(await within(10_000, 'check under B and A', unknownStoredKeyIds(dataSource, await cipherFor(PHRASE_B, PHRASE_A)))).toEqual([]);

      // A rotation's previous secret, still signing, counts too.
      const sealedUnderC = new WebhookSecrets(await cipherFor(PHRASE_C)).seal('any workspace', 'whsec_previous');
      const repository = dataSource.getRepository(WebhookEndpointEntity);
      await repository.update({ id: endpointId }, { previousSecret: sealedUnderC, previousSecretUntil: new Date(Date.now() + 3600_000) });
      expect(await within(10_000, 'check under A', unknownStoredKeyIds(dataSource, await cipherFor(PHRASE_A)))).toEqual([keyIdC]);
      expect(await within(10_000, 'check under B', unknownStoredKeyIds(dataSource, await cipherFor(PHRASE_B)))).toEqual([keyIdA, keyIdC].sort());
      await repository.update({ id: endpointId }, { previousSecret: null, previousSecretUntil: null });
    } finally {
      await dataSource.destroy();
    }
  });

  it('makes production start-up under another phrase refuse, naming the webhook secret key id', async () => {
    const { outcome } = await startUpOutcome(t.db, { nodeEnv: 'production', secretsPhrase: PHRASE_B });
    expect(outcome).toContain(keyIdA);
    expect(outcome).toContain('webhook signing secrets');
  });

  it('only warns in development, naming the key id', async () => {
    const { outcome, logs } = await startUpOutcome(t.db, { nodeEnv: 'development', secretsPhrase: PHRASE_B });
    expect(outcome).toBe('started');
    const warning = logs
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((line) => line.msg.includes(keyIdA));
    expect(warning).toMatchObject({ level: 40 });
  });

  it('starts in production with the previous phrase given', async () => {
    const { outcome } = await startUpOutcome(t.db, { nodeEnv: 'production', secretsPhrase: PHRASE_B, secretsPhrasePrevious: PHRASE_A });
    expect(outcome).toBe('started');
  });
});
