import { Webhook } from 'standardwebhooks';
import { WebhookEndpointEntity } from '../src/modules/webhook/webhook-endpoint.entity';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { createHash } from 'node:crypto';
import { WebhookDeliveryEntity } from '../src/modules/webhook/webhook-delivery.entity';
import { CHANGE_PLAN, REPLACE_KEY, SAVE_KEY, REMOVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { sampleKey, seedWorkspace, SeededWorkspace } from './support/fixtures';
import { queryOutside } from './support/test-database';
import { startTestApp, TestApp } from './support/test-app';
import { callInput, recordOk } from './support/usage-calls';
import { WebhookReceiver } from './support/webhook-receiver';

const ENDPOINT_FIELDS = 'id url events enabled disabledReason createdAt';
export const CREATE_ENDPOINT = `mutation($w: ID!, $url: String!, $events: [String!]) {
  createWebhookEndpoint(workspaceId: $w, url: $url, events: $events) { secret endpoint { ${ENDPOINT_FIELDS} } }
}`;
const ENDPOINTS = `query($w: ID!) { webhookEndpoints(workspaceId: $w) { ${ENDPOINT_FIELDS} } }`;
const SET_ENABLED = `mutation($w: ID!, $id: ID!, $on: Boolean!) { setWebhookEndpointEnabled(workspaceId: $w, id: $id, enabled: $on) { ${ENDPOINT_FIELDS} } }`;
const ROTATE = `mutation($w: ID!, $id: ID!) { rotateWebhookSecret(workspaceId: $w, id: $id) { secret endpoint { id } } }`;
const DELETE = 'mutation($w: ID!, $id: ID!) { deleteWebhookEndpoint(workspaceId: $w, id: $id) }';
const SEND_TEST = 'mutation($w: ID!, $id: ID!) { sendTestEvent(workspaceId: $w, id: $id) }';
const DELIVERIES = 'query($w: ID!, $e: ID!) { webhookDeliveries(workspaceId: $w, endpointId: $e) { id eventType attempts lastStatus deliveredAt nextAttemptAt } }';
const SET_BUDGET = 'mutation($w: ID!, $limit: SafeInt!) { setAiBudget(workspaceId: $w, monthlyLimitMicros: $limit) { spentMicros } }';

/** Verifies a delivery as a receiver would, with the standardwebhooks package; throws when no signature matches. */
function verify(secret: string, hook: { headers: Record<string, unknown>; body: string }): { type: string; data: Record<string, unknown> } {
  return new Webhook(secret).verify(hook.body, hook.headers as Record<string, string>) as { type: string; data: Record<string, unknown> };
}

async function endpointFor(t: TestApp, ws: SeededWorkspace, url: string, events?: string[]): Promise<{ id: string; secret: string }> {
  const created = expectData(await t.gql(CREATE_ENDPOINT, { w: ws.id, url, events }, ws.tokens.billing)).createWebhookEndpoint;
  return { id: created.endpoint.id, secret: created.secret };
}

const pause = (ms: number) => new Promise((resolveWait) => setTimeout(resolveWait, ms));
const hint = (key: string) => `${key.slice(0, 8)}…${key.slice(-4)}`;

describe('webhooks', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    t = await startTestApp({ overrides: { webhookRetryBaseMs: 50 } });
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    receiver = new WebhookReceiver();
    await receiver.start();
  });
  afterEach(() => receiver.stop());

  it('manages endpoints for Manage billing holders: secret shown once, list, disable, enable, delete', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Hooks');
    const created = expectData(await t.gql(CREATE_ENDPOINT, { w: ws.id, url: receiver.url, events: ['key.saved', 'webhook.test'] }, ws.tokens.billing)).createWebhookEndpoint;
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.endpoint).toMatchObject({ url: receiver.url, events: ['key.saved', 'webhook.test'], enabled: true, disabledReason: null });
    const listed = expectData(await t.gql(ENDPOINTS, { w: ws.id }, ws.tokens.owner)).webhookEndpoints;
    expect(listed).toEqual([created.endpoint]);
    expect(JSON.stringify(listed)).not.toContain(created.secret.slice(6));
    expect(expectData(await t.gql(ENDPOINTS, { w: ws.id }, ws.adminToken)).webhookEndpoints).toHaveLength(1);

    const off = expectData(await t.gql(SET_ENABLED, { w: ws.id, id: created.endpoint.id, on: false }, ws.tokens.admin)).setWebhookEndpointEnabled;
    expect(off).toMatchObject({ enabled: false, disabledReason: 'disabled by a member' });
    const on = expectData(await t.gql(SET_ENABLED, { w: ws.id, id: created.endpoint.id, on: true }, ws.tokens.admin)).setWebhookEndpointEnabled;
    expect(on).toMatchObject({ enabled: true, disabledReason: null });

    for (const token of [ws.tokens.member, ws.tokens.outsider]) {
      expectErrorCode(await t.gql(ENDPOINTS, { w: ws.id }, token), 'FORBIDDEN');
      expectErrorCode(await t.gql(CREATE_ENDPOINT, { w: ws.id, url: receiver.url }, token), 'FORBIDDEN');
      expectErrorCode(await t.gql(SEND_TEST, { w: ws.id, id: created.endpoint.id }, token), 'FORBIDDEN');
    }
    expectErrorCode(await t.gql(CREATE_ENDPOINT, { w: ws.id, url: receiver.url }, ws.adminToken), 'FORBIDDEN');
    expectErrorCode(await t.gql(CREATE_ENDPOINT, { w: ws.id, url: receiver.url, events: ['key.exploded'] }, ws.tokens.billing), 'BAD_USER_INPUT');
    expectErrorCode(await t.gql(CREATE_ENDPOINT, { w: ws.id, url: 'ftp://example.com/x' }, ws.tokens.billing), 'BAD_USER_INPUT');
    const other = await seedWorkspace(t, Plan.PRO, 'Elsewhere');
    expectErrorCode(await t.gql(SEND_TEST, { w: other.id, id: created.endpoint.id }, other.tokens.billing), 'NOT_FOUND');

    expect(expectData(await t.gql(DELETE, { w: ws.id, id: created.endpoint.id }, ws.tokens.billing)).deleteWebhookEndpoint).toBe(true);
    expect(expectData(await t.gql(DELETE, { w: ws.id, id: created.endpoint.id }, ws.tokens.billing)).deleteWebhookEndpoint).toBe(true);
    expect(expectData(await t.gql(ENDPOINTS, { w: ws.id }, ws.tokens.owner)).webhookEndpoints).toEqual([]);
  });

  it('sends webhook.test signed per Standard Webhooks, and lists the delivery', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Test event');
    const endpoint = await endpointFor(t, ws, receiver.url);
    expect(expectData(await t.gql(SEND_TEST, { w: ws.id, id: endpoint.id }, ws.tokens.billing)).sendTestEvent).toBe(true);
    await receiver.waitFor((got) => got.length === 1);
    const message = verify(endpoint.secret, receiver.received[0]);
    expect(message).toMatchObject({ type: 'webhook.test', data: { workspaceId: ws.id, endpointId: endpoint.id } });
    expect(receiver.received[0].headers['webhook-id']).toMatch(/^msg_/);
    expect(() => verify(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, receiver.received[0])).toThrow();
    const deliveries = expectData(await t.gql(DELIVERIES, { w: ws.id, e: endpoint.id }, ws.tokens.billing)).webhookDeliveries;
    expect(deliveries).toEqual([expect.objectContaining({ eventType: 'webhook.test', attempts: 1, lastStatus: 200, nextAttemptAt: null })]);
    expect(deliveries[0].deliveredAt).toBeTruthy();
  });

  it('delivers each cause under one webhook-id, retrying after 500s, with ids and masked hints only', async () => {
    const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Key events');
    const endpoint = await endpointFor(t, ws, receiver.url);
    receiver.answer(500, 500);
    const key = sampleKey('webhooks');
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 3);
    expectData(await t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 4);
    const ids = receiver.received.map((hook) => hook.headers['webhook-id']);
    expect(new Set(ids).size).toBe(2);
    for (const hook of receiver.received) expect(hook.body).not.toContain(key.slice(10));
    const delivered = receiver.received.filter((hook) => hook.status === 200).map((hook) => verify(endpoint.secret, hook));
    expect(delivered.map((message) => message.type).sort()).toEqual(['key.removed', 'key.saved']);
    expect(delivered.find((message) => message.type === 'key.saved')!.data).toEqual({ workspaceId: ws.id, actorUserId: ws.userIds.billing, maskedHint: `${key.slice(0, 8)}…${key.slice(-4)}` });
    expect(delivered.find((message) => message.type === 'key.removed')!.data).toEqual({ workspaceId: ws.id, actorUserId: ws.userIds.billing, maskedHint: hint(key) });
    expect(receiver.received.map((hook) => hook.status)).toEqual([500, 500, 200, 200]);
    expect(receiver.received.filter((hook) => hook.headers['webhook-id'] === ids[0]).map((hook) => hook.status)).toEqual([500, 500, 200]);
  });

  it('raises key.removed_by_plan_change in the plan change, and skips endpoints that did not subscribe', async () => {
    const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Downgraded');
    const key = sampleKey('downgrade');
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.billing));
    const endpoint = await endpointFor(t, ws, receiver.url, ['key.removed_by_plan_change']);
    expectData(await t.gql(CHANGE_PLAN, { w: ws.id, plan: 'PRO' }, ws.adminToken));
    await receiver.waitFor((got) => got.length === 1);
    expect(verify(endpoint.secret, receiver.received[0])).toEqual({
      type: 'key.removed_by_plan_change',
      timestamp: expect.any(String),
      data: { workspaceId: ws.id, actorUserId: 'platform-admin', maskedHint: `${key.slice(0, 8)}…${key.slice(-4)}` },
    });
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    expect(receiver.received).toHaveLength(1);
  });

  it('counts a delivery whose signing secret cannot be opened as a failed attempt (backoff as any failure, never sent unsigned)', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Unreadable secret');
    const endpoint = await endpointFor(t, ws, receiver.url);
    const sealed = await t.app.dataSource.getRepository(WebhookEndpointEntity).findOneByOrFail({ id: endpoint.id });
    sealed.secret[sealed.secret.length - 1] ^= 0xff;
    await t.app.dataSource.getRepository(WebhookEndpointEntity).update({ id: endpoint.id }, { secret: sealed.secret });
    expectData(await t.gql(SEND_TEST, { w: ws.id, id: endpoint.id }, ws.tokens.billing));
    const first = async () => expectData(await t.gql(DELIVERIES, { w: ws.id, e: endpoint.id }, ws.tokens.billing)).webhookDeliveries[0];
    for (let wait = 0; wait < 50 && (await first()).attempts === 0; wait++) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    expect(await first()).toMatchObject({ attempts: expect.any(Number), lastStatus: null, deliveredAt: null });
    expect((await first()).attempts).toBeGreaterThan(0);
    expect(receiver.received).toEqual([]);
  });

  it('raises nothing when the causing transaction rolls back', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Rollback');
    await endpointFor(t, ws, receiver.url);
    const { transactions, webhookOutbox } = t.app.seam;
    await expect(
      transactions.run(async (manager) => {
        await webhookOutbox.enqueue(manager, ws.id, 'partner_token.created', { workspaceId: ws.id });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    const rows = await queryOutside<{ n: number | string }>(t.db, 'SELECT COUNT(*) AS n FROM webhook_event WHERE workspace_id = ?', [ws.id]);
    expect(Number(rows[0].n)).toBe(0);
    expectData(await t.gql('mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "n") { token } }', { w: ws.id }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 1);
    expect(JSON.parse(receiver.received[0].body).type).toBe('partner_token.created');
  });

  it('signs with both secrets for 24 h after a rotation, then with the new one only', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Rotation');
    const endpoint = await endpointFor(t, ws, receiver.url);
    const rotated = expectData(await t.gql(ROTATE, { w: ws.id, id: endpoint.id }, ws.tokens.billing)).rotateWebhookSecret;
    expect(rotated.secret).not.toBe(endpoint.secret);
    expectData(await t.gql(SEND_TEST, { w: ws.id, id: endpoint.id }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 1);
    expect(String(receiver.received[0].headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(endpoint.secret, receiver.received[0]).type).toBe('webhook.test');
    expect(verify(rotated.secret, receiver.received[0]).type).toBe('webhook.test');

    const stored = await t.app.dataSource.getRepository(WebhookEndpointEntity).findOneByOrFail({ id: endpoint.id });
    const overlapMs = stored.previousSecretUntil!.getTime() - Date.now();
    expect(overlapMs).toBeGreaterThan(23.9 * 3600_000);
    expect(overlapMs).toBeLessThanOrEqual(24 * 3600_000);
    await t.app.dataSource.getRepository(WebhookEndpointEntity).update({ id: endpoint.id }, { previousSecretUntil: new Date(Date.now() - 1000) });
    expectData(await t.gql(SEND_TEST, { w: ws.id, id: endpoint.id }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 2);
    expect(String(receiver.received[1].headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verify(rotated.secret, receiver.received[1]).type).toBe('webhook.test');
    expect(() => verify(endpoint.secret, receiver.received[1])).toThrow();
  });

  it('never follows a redirect: a 3xx is a failed attempt', async () => {
    const target = new WebhookReceiver();
    await target.start();
    try {
      const ws = await seedWorkspace(t, Plan.PRO, 'Redirect');
      const endpoint = await endpointFor(t, ws, receiver.url);
      receiver.answer(302).withHeaders(302, { location: target.url });
      expectData(await t.gql(SEND_TEST, { w: ws.id, id: endpoint.id }, ws.tokens.billing));
      await receiver.waitFor((got) => got.length === 2);
      expect(receiver.received.map((hook) => hook.status)).toEqual([302, 200]);
      expect(target.received).toEqual([]);
    } finally {
      await target.stop();
    }
  });

  it('raises budget.threshold_crossed once per threshold and month', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Budget events');
    await endpointFor(t, ws, receiver.url, ['budget.threshold_crossed']);
    expectData(await t.gql(SET_BUDGET, { w: ws.id, limit: 21_000 }, ws.tokens.billing));
    // BALANCED 1000 in / 500 out = 10,500 µ$ a call: 50 % after one, 100 % after two, nothing new after three
    for (let call = 0; call < 3; call++) {
      await recordOk(t, callInput(ws.id, { tier: 'BALANCED', inputTokens: 1000, outputTokens: 500 }));
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
    await receiver.waitFor((got) => got.length === 3);
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    const thresholds = receiver.received.map((hook) => (JSON.parse(hook.body) as { data: { threshold: number } }).data.threshold).sort((a, b) => a - b);
    expect(thresholds).toEqual([50, 80, 100]);
    const month = new Date().toISOString().slice(0, 7);
    for (const hook of receiver.received) {
      expect((JSON.parse(hook.body) as { data: unknown }).data).toEqual({
        workspaceId: ws.id,
        month,
        threshold: expect.any(Number),
        monthlyLimitMicros: 21_000,
        spentMicros: expect.any(Number),
        action: 'NOTIFY',
      });
    }
  });

  it('raises key.replaced once per replacement, with the new key\'s masked hint and never a key', async () => {
    const ws = await seedWorkspace(t, Plan.ENTERPRISE, 'Replaced');
    const keys = [sampleKey('replaced-1'), sampleKey('replaced-2'), sampleKey('replaced-3')];
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: keys[0] }, ws.tokens.billing));
    const endpoint = await endpointFor(t, ws, receiver.url, ['key.replaced']);
    receiver.answer(500);
    expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: keys[1] }, ws.tokens.billing));
    expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: keys[2] }, ws.tokens.owner));
    await receiver.waitFor((got) => got.filter((hook) => hook.status === 200).length === 2);
    await pause(300);
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((hook) => hook.headers['webhook-id'])).size).toBe(2);
    const delivered = receiver.received.filter((hook) => hook.status === 200).map((hook) => verify(endpoint.secret, hook));
    expect(delivered.map((message) => message.type)).toEqual(['key.replaced', 'key.replaced']);
    expect(delivered.map((message) => message.data)).toEqual(
      expect.arrayContaining([
        { workspaceId: ws.id, actorUserId: ws.userIds.billing, maskedHint: hint(keys[1]) },
        { workspaceId: ws.id, actorUserId: ws.userIds.owner, maskedHint: hint(keys[2]) },
      ]),
    );
    for (const hook of receiver.received) for (const key of keys) expect(hook.body).not.toContain(key.slice(10));
  });

  it('raises partner_token.created and partner_token.revoked once per cause (revoking again raises nothing), with the token id and never the token', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Partner events');
    const endpoint = await endpointFor(t, ws, receiver.url, ['partner_token.created', 'partner_token.revoked']);
    const created = expectData(
      await t.gql('mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "crm sync") { token partnerToken { id } } }', { w: ws.id }, ws.tokens.billing),
    ).createPartnerToken;
    const revoke = 'mutation($id: ID!) { revokePartnerToken(id: $id) { revokedAt } }';
    expect(expectData(await t.gql(revoke, { id: created.partnerToken.id }, ws.tokens.owner)).revokePartnerToken.revokedAt).toBeTruthy();
    expectData(await t.gql(revoke, { id: created.partnerToken.id }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 2);
    await pause(300);
    expect(receiver.received).toHaveLength(2);
    expect(new Set(receiver.received.map((hook) => hook.headers['webhook-id'])).size).toBe(2);
    const messages = receiver.received.map((hook) => verify(endpoint.secret, hook));
    const ofType = (type: string) => messages.filter((message) => message.type === type).map((message) => message.data);
    expect(ofType('partner_token.created')).toEqual([{ workspaceId: ws.id, actorUserId: ws.userIds.billing, partnerTokenId: created.partnerToken.id }]);
    expect(ofType('partner_token.revoked')).toEqual([{ workspaceId: ws.id, actorUserId: ws.userIds.owner, partnerTokenId: created.partnerToken.id }]);
    const tokenHash = createHash('sha256').update(created.token).digest('hex');
    for (const hook of receiver.received) {
      expect(hook.body).not.toContain(created.token);
      expect(hook.body).not.toContain(created.token.slice(-16));
      expect(hook.body).not.toContain(tokenHash);
      expect(hook.body).not.toContain('crm sync');
    }
  });

  it('gives a delivery up once its next retry would fall more than 24 h after the event, after retrying until then', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Given up');
    const endpoint = await endpointFor(t, ws, receiver.url);
    receiver.answer(...Array.from({ length: 100 }, () => 500));
    const { transactions, webhookOutbox } = t.app.seam;
    // The event as if raised 24 h ago less 1.5 s: with a 50 ms base the retries (50, 100, 200, 400, 800 ms…) reach the window's end in a few attempts.
    const windowEndsAt = Date.now() + 1_500;
    await transactions.run(async (manager) => {
      const eventId = await webhookOutbox.enqueue(manager, ws.id, 'usage.settled', { workspaceId: ws.id, usageRecordId: 'given-up' });
      await manager.update(WebhookDeliveryEntity, { eventId: eventId! }, { createdAt: new Date(windowEndsAt - 24 * 3600_000) });
    });
    const delivery = async () => expectData(await t.gql(DELIVERIES, { w: ws.id, e: endpoint.id }, ws.tokens.billing)).webhookDeliveries[0];
    const deadline = Date.now() + 10_000;
    let givenUp = await delivery();
    while (Date.now() < deadline && (givenUp.attempts === 0 || givenUp.nextAttemptAt !== null)) {
      await pause(50);
      givenUp = await delivery();
    }
    expect(givenUp).toMatchObject({ eventType: 'usage.settled', lastStatus: 500, deliveredAt: null, nextAttemptAt: null });
    expect(givenUp.attempts).toBeGreaterThanOrEqual(3);
    await pause(500);
    expect(receiver.received).toHaveLength(givenUp.attempts);
    expect(new Set(receiver.received.map((hook) => hook.headers['webhook-id'])).size).toBe(1);
    expect(expectData(await t.gql(ENDPOINTS, { w: ws.id }, ws.tokens.billing)).webhookEndpoints[0]).toMatchObject({ enabled: true, disabledReason: null });
  });

  it('keeps an endpoint that has failed for just under 5 days enabled, its delivery still scheduled', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Nearly failing');
    const endpoint = await endpointFor(t, ws, receiver.url);
    await t.app.dataSource.getRepository(WebhookEndpointEntity).update({ id: endpoint.id }, { failingSince: new Date(Date.now() - 5 * 24 * 3600_000 + 60_000) });
    receiver.answer(503);
    expectData(await t.gql(SEND_TEST, { w: ws.id, id: endpoint.id }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 2);
    expect(receiver.received.map((hook) => hook.status)).toEqual([503, 200]);
    const listed = expectData(await t.gql(ENDPOINTS, { w: ws.id }, ws.tokens.billing)).webhookEndpoints[0];
    expect(listed).toMatchObject({ enabled: true, disabledReason: null });
    // the success ends the failing stretch: the 5 days start again at the next failure
    const failingSince = async () => (await t.app.dataSource.getRepository(WebhookEndpointEntity).findOneByOrFail({ id: endpoint.id })).failingSince;
    for (let wait = 0; wait < 50 && (await failingSince()) !== null; wait++) await pause(50);
    expect(await failingSince()).toBeNull();
  });

  it('disables an endpoint that has failed for 5 days, with a reason', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Failing');
    const endpoint = await endpointFor(t, ws, receiver.url);
    await t.app.dataSource.getRepository(WebhookEndpointEntity).update({ id: endpoint.id }, { failingSince: new Date(Date.now() - 5 * 24 * 3600_000 - 1000) });
    receiver.answer(503);
    expectData(await t.gql(SEND_TEST, { w: ws.id, id: endpoint.id }, ws.tokens.billing));
    await receiver.waitFor((got) => got.length === 1);
    const listed = async () => expectData(await t.gql(ENDPOINTS, { w: ws.id }, ws.tokens.billing)).webhookEndpoints[0];
    for (let wait = 0; wait < 50 && (await listed()).enabled; wait++) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    const disabled = await listed();
    expect(disabled.enabled).toBe(false);
    expect(disabled.disabledReason).toMatch(/failed since .*HTTP 503/);
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    expect(receiver.received).toHaveLength(1);
  });
});
