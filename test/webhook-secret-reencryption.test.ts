import { WebhookEndpointEntity } from '../src/modules/webhook/webhook-endpoint.entity';
import { reencryptWebhookSecrets } from '../src/modules/webhook/webhook-secret-reencryption';
import { WebhookSecrets } from '../src/modules/webhook/webhook.service';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { expectData } from './support/expectations';
import { seedWorkspace } from './support/fixtures';
import { cipherFor, startTestApp, TEST_SECRETS_PHRASE, TestApp } from './support/test-app';

const PHRASE_B = 'the next secrets phrase, also long enough for production';

describe('webhook signing secrets and the re-encryption command', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('reseals the current and the previous secret under the new phrase, once', async () => {
    const ws = await seedWorkspace(t, Plan.PRO, 'Reencrypted');
    const created = expectData(
      await t.gql('mutation($w: ID!) { createWebhookEndpoint(workspaceId: $w, url: "http://127.0.0.1:9/hooks") { secret endpoint { id } } }', { w: ws.id }, ws.tokens.billing),
    ).createWebhookEndpoint;
    const rotated = expectData(
      await t.gql('mutation($w: ID!, $id: ID!) { rotateWebhookSecret(workspaceId: $w, id: $id) { secret } }', { w: ws.id, id: created.endpoint.id }, ws.tokens.billing),
    ).rotateWebhookSecret;

    const underB = new WebhookSecrets(await cipherFor(PHRASE_B, TEST_SECRETS_PHRASE));
    const dry = await reencryptWebhookSecrets(t.app.seam.transactions, t.app.seam.dialect, underB, { dryRun: true });
    expect(dry.rewritten).toContain(created.endpoint.id);
    const first = await reencryptWebhookSecrets(t.app.seam.transactions, t.app.seam.dialect, underB, { dryRun: false });
    expect(first).toMatchObject({ rewritten: [created.endpoint.id], failed: [] });
    const second = await reencryptWebhookSecrets(t.app.seam.transactions, t.app.seam.dialect, underB, { dryRun: false });
    expect(second).toMatchObject({ rewritten: [], alreadyCurrent: [created.endpoint.id], failed: [] });

    const onlyB = new WebhookSecrets(await cipherFor(PHRASE_B));
    const row = await t.app.dataSource.getRepository(WebhookEndpointEntity).findOneByOrFail({ id: created.endpoint.id });
    expect(onlyB.open(ws.id, row.secret)).toBe(rotated.secret);
    expect(onlyB.open(ws.id, row.previousSecret!)).toBe(created.secret);
  });
});
