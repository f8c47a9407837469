import { Webhook } from 'standardwebhooks';
import { expectData } from './support/expectations';
import { callGateway } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld } from './support/gateway-setup';
import { WebhookReceiver } from './support/webhook-receiver';

const CREATE_ENDPOINT = `mutation($w: ID!, $url: String!, $events: [String!]) {
  createWebhookEndpoint(workspaceId: $w, url: $url, events: $events) { secret endpoint { id } }
}`;

describe('webhook events raised by the gateway and settlement', () => {
  let world: GatewayWorld;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    world = await startGatewayWorld({ webhookRetryBaseMs: 50 });
    receiver = new WebhookReceiver();
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
    await world.close();
  });

  it('raises key.status_changed when the status written changes, usage.flagged for a flagged call and usage.settled when it is settled', async () => {
    const { t, fake } = world;
    const ws = await byokWorkspace(t);
    const { secret } = expectData(
      await t.gql(CREATE_ENDPOINT, { w: ws.id, url: receiver.url, events: ['key.status_changed', 'usage.flagged', 'usage.settled'] }, ws.tokens.billing),
    ).createWebhookEndpoint;
    const data = (type: string) => receiver.ofType(type).map((hook) => (new Webhook(secret).verify(hook.body, hook.headers as Record<string, string>) as { data: Record<string, unknown> }).data);

    fake.chatCompletion({ status: 401 }, { times: 2 });
    for (let call = 0; call < 2; call++) expect((await callGateway(t, { workspaceId: ws.id, requestId: freshRequestId() })).status).toBe(401);
    await receiver.waitFor(() => receiver.ofType('key.status_changed').length === 1);

    fake.chatCompletion({ usage: { cost: 'not a number' } }, { times: 1 });
    expect((await callGateway(t, { workspaceId: ws.id, requestId: freshRequestId() })).status).toBe(200);
    await receiver.waitFor(() => receiver.ofType('usage.flagged').length === 1);
    const flagged = data('usage.flagged')[0];
    expect(flagged).toEqual({ workspaceId: ws.id, usageRecordId: expect.any(String), requestId: expect.any(String), keySource: 'BYOK', path: 'AGENT_RUN' });

    expectData(await t.gql('mutation($id: ID!) { settleUsageRecord(id: $id, rawCostUsd: "0.001") { id } }', { id: flagged.usageRecordId }, ws.adminToken));
    await receiver.waitFor(() => receiver.ofType('usage.settled').length === 1);
    expect(data('usage.settled')[0]).toEqual({ workspaceId: ws.id, usageRecordId: flagged.usageRecordId, rawCostMicros: 1_000, billedMicros: expect.any(Number) });

    // the success above cleared INVALID: that is a change too; the second 401 was not
    await receiver.waitFor(() => receiver.ofType('key.status_changed').length >= 2);
    const statuses = data('key.status_changed').map((event) => event.status);
    expect(statuses).toEqual(['INVALID', 'ACTIVE']);
    expect(data('key.status_changed')).toEqual(statuses.map((status) => ({ workspaceId: ws.id, status })));
    // one event per cause: nothing raised twice by the time the last one arrived
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    expect(receiver.ofType('usage.flagged')).toHaveLength(1);
    expect(receiver.ofType('usage.settled')).toHaveLength(1);
    expect(receiver.ofType('key.status_changed')).toHaveLength(2);
    expect(new Set(receiver.received.map((hook) => hook.headers['webhook-id'])).size).toBe(receiver.received.length);
    for (const hook of receiver.received) expect(hook.body).not.toContain(ws.key.slice(12));
  });
});
