import { isPublicAddress, WebhookAddressError, WebhookAddressPolicy, HostResolver } from '../src/modules/webhook/webhook-address.policy';
import { sendPinned } from '../src/modules/webhook/webhook-sender';
import { WebhookDispatcher } from '../src/modules/webhook/webhook-dispatcher';
import { WebhookOutbox } from '../src/modules/webhook/webhook-outbox';
import { WebhookSecrets, WebhookService } from '../src/modules/webhook/webhook.service';
import { createLogger } from '../src/logging/logger';
import type { RequestContext } from '../src/request-context';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData, expectErrorCode } from './support/expectations';
import { seedWorkspace } from './support/fixtures';
import { cipherFor, startTestApp, TEST_SECRETS_PHRASE, TestApp } from './support/test-app';
import { WebhookReceiver } from './support/webhook-receiver';

const CREATE_ENDPOINT = `mutation($w: ID!, $url: String!) {
  createWebhookEndpoint(workspaceId: $w, url: $url) { secret endpoint { id url } }
}`;

/** A resolver that answers from a script, one answer per lookup (the last one repeats). */
function scriptedResolver(...answers: string[][]): HostResolver {
  let call = 0;
  return async () => {
    const answer = answers[Math.min(call++, answers.length - 1)];
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

describe('webhook addresses in production', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ overrides: { nodeEnv: 'production' } });
  });
  afterAll(() => t.close());

  it.each([
    ['http://example.com/hooks', 'https only'],
    ['https://127.0.0.1/hooks', 'loopback'],
    ['https://10.1.2.3/hooks', 'private'],
    ['https://192.168.1.10/hooks', 'private'],
    ['https://169.254.169.254/latest/meta-data', 'metadata (link-local)'],
    ['https://[::1]/hooks', 'IPv6 loopback'],
    ['https://[::ffff:127.0.0.1]/hooks', 'IPv4-mapped loopback'],
    ['https://[fd00:ec2::254]/hooks', 'IPv6 unique local (AWS metadata)'],
    ['https://localhost/hooks', 'a name resolving to loopback'],
    ['https://user:pass@example.com/hooks', 'credentials in the URL'],
  ])('refuses %s on save (%s), without echoing it', async (url) => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Ssrf');
    const result = await t.gql(CREATE_ENDPOINT, { w: ws.id, url }, ws.tokens.billing);
    expectErrorCode(result, 'BAD_USER_INPUT');
    expect(result.errors![0].message).not.toContain(new URL(url).hostname);
  });
});

describe('the address policy', () => {
  it('classifies addresses', () => {
    for (const address of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00:ec2::254', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe']) {
      expect([address, isPublicAddress(address)]).toEqual([address, false]);
    }
    for (const address of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111']) expect([address, isPublicAddress(address)]).toEqual([address, true]);
  });

  it('refuses a name that resolves to a public address on save and to loopback on delivery', async () => {
    const policy = new WebhookAddressPolicy(true, scriptedResolver(['93.184.216.34'], ['127.0.0.1']));
    const url = policy.parseOrThrow('https://rebinding.example/hooks');
    await expect(policy.pinOrThrow(url)).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    await expect(policy.pinOrThrow(url)).rejects.toThrow(WebhookAddressError);
  });

  it('refuses a name with any non-public address among its answers', async () => {
    const policy = new WebhookAddressPolicy(true, scriptedResolver(['93.184.216.34', '10.0.0.7']));
    await expect(policy.pinOrThrow(policy.parseOrThrow('https://mixed.example/'))).rejects.toThrow(WebhookAddressError);
  });

  it('connects to the address it checked, never asking DNS again', async () => {
    const receiver = new WebhookReceiver();
    await receiver.start();
    try {
      const port = new URL(receiver.url).port;
      // `.invalid` never resolves (RFC 6761): the delivery can only arrive through the pinned address.
      const policy = new WebhookAddressPolicy(false, scriptedResolver(['127.0.0.1']));
      const url = policy.parseOrThrow(`http://pinned.invalid:${port}/hooks`);
      const outcome = await sendPinned(url, await policy.pinOrThrow(url), { 'webhook-id': 'msg_pinned' }, '{}');
      expect(outcome).toEqual({ status: 200 });
      expect(receiver.received[0].headers.host).toBe(`pinned.invalid:${port}`);
    } finally {
      await receiver.stop();
    }
  });
});

describe('delivery across a restart', () => {
  it('keeps one webhook-id for the cause when the service restarts mid-backoff', async () => {
    const receiver = new WebhookReceiver();
    await receiver.start();
    const first = await startTestApp({ overrides: { webhookRetryBaseMs: 1_500 } });
    let second: TestApp | undefined;
    try {
      const ws = await seedWorkspace(first, Plan.PRO, 'Restart');
      const created = expectData(await first.gql(CREATE_ENDPOINT, { w: ws.id, url: receiver.url }, ws.tokens.billing)).createWebhookEndpoint;
      receiver.answer(500);
      expectData(await first.gql('mutation($w: ID!, $id: ID!) { sendTestEvent(workspaceId: $w, id: $id) }', { w: ws.id, id: created.endpoint.id }, ws.tokens.billing));
      await receiver.waitFor((got) => got.length === 1);
      await first.app.stop();
      second = await startTestApp({ db: first.db, overrides: { webhookRetryBaseMs: 1_500 } });
      await receiver.waitFor((got) => got.length === 2);
      expect(receiver.received.map((hook) => hook.status)).toEqual([500, 200]);
      expect(new Set(receiver.received.map((hook) => hook.headers['webhook-id'])).size).toBe(1);
      await new Promise((resolveWait) => setTimeout(resolveWait, 500));
      expect(receiver.received).toHaveLength(2);
    } finally {
      await second?.close();
      await first.db.drop();
      await receiver.stop();
    }
  });
});

describe('a name that resolves differently on delivery', () => {
  it('is refused by the dispatcher when its address is checked again, and nothing is sent', async () => {
    const t = await startTestApp({ overrides: { webhookRetryBaseMs: 60_000 } });
    // The service's own dispatcher resolves with the system's DNS: this case needs one that rebinds.
    await t.app.seam.webhookDispatcher.stop();
    const resolver = scriptedResolver(['93.184.216.34'], ['127.0.0.1']);
    const policy = new WebhookAddressPolicy(true, resolver);
    const { transactions, dialect } = t.app.seam;
    const outbox = new WebhookOutbox(dialect);
    const secrets = new WebhookSecrets(await cipherFor(TEST_SECRETS_PHRASE));
    const dispatcher = new WebhookDispatcher(transactions, dialect, outbox, secrets, policy, 60_000, createLogger('silent'));
    try {
      const ws = await seedWorkspace(t, Plan.PRO, 'Rebinding');
      const endpoints = new WebhookService(transactions, outbox, secrets, policy);
      const { endpoint } = await endpoints.create({ auth: { userId: 'u' } } as unknown as RequestContext, ws.id, 'https://rebinding.example/hooks', null);
      await endpoints.sendTestEvent(ws.id, endpoint.id);
      dispatcher.start();
      const delivery = async () => (await endpoints.deliveries(ws.id, endpoint.id, 1))[0];
      for (let wait = 0; wait < 100 && (await delivery()).attempts === 0; wait++) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
      expect(await delivery()).toMatchObject({ attempts: 1, lastStatus: null, deliveredAt: null, lastError: expect.stringMatching(/^refused: .*loopback/) });
    } finally {
      await dispatcher.stop();
      await t.close();
    }
  });
});
