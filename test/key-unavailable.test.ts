import { maskedHint } from '../src/modules/inference-key/masked-hint';
import { storeKeyDirectly } from './support/stored-key';
import { TenantSecretStore } from '../src/modules/secrets/tenant-secret.store';
import { KEY_STATUS } from './support/documents';
import { expectData } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { callGateway } from './support/gateway-client';
import { byokWorkspace, GatewayWorld, replaceKey, startGatewayWorld } from './support/gateway-setup';
import { canaryKey } from './support/leak-search';
import { cipherFor, startTestApp } from './support/test-app';

/**
 * A stored blob that does not decrypt (issue 7, point 9; SPEC.md "Budgets, webhooks, exports, key
 * health"): the failure is persisted as `aiInferenceKey.status` KEY_UNAVAILABLE, where members see
 * it, instead of leaving the key looking ACTIVE. It is logged once per occurrence, not on every
 * request, and a replacement clears it.
 */

const MARKED = 'marked KEY_UNAVAILABLE';

describe('KEY_UNAVAILABLE persisted', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    world = await startGatewayWorld({ openrouterVerifyKeys: true });
  });
  afterAll(() => world.close());

  const statusOf = async (ws: SeededWorkspace) => expectData(await world.t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member)).aiInferenceKey;
  const markedLines = (ws: SeededWorkspace) => world.t.logs.lines.filter((line) => line.includes(MARKED) && line.includes(ws.id));

  /** Flips one ciphertext byte of the workspace's blob, as a damaged disk or a meddling hand would. */
  async function tamper(ws: SeededWorkspace): Promise<void> {
    const [row] = await world.t.app.dataSource.query('SELECT ciphertext FROM tenant_secret WHERE workspace_id = ?', [ws.id]);
    const blob = Buffer.from(row.ciphertext);
    blob[blob.length - 20] ^= 0x01;
    await world.t.app.dataSource.query('UPDATE tenant_secret SET ciphertext = ? WHERE workspace_id = ?', [blob, ws.id]);
    // The worker's decrypted copy would otherwise serve the old key until its TTL.
    world.t.app.seam.secretsCache.invalidate(ws.id);
  }

  it('a gateway call that meets a tampered blob marks the key KEY_UNAVAILABLE for members, logged once however many calls follow', async () => {
    const ws = await byokWorkspace(world.t);
    expect((await statusOf(ws)).status).toBe('ACTIVE');
    await tamper(ws);

    for (let i = 0; i < 3; i++) {
      const answer = await callGateway(world.t, { workspaceId: ws.id });
      expect(answer.status).toBe(503);
      expect(answer.json?.error?.code).toBe('KEY_UNAVAILABLE');
    }

    expect(await statusOf(ws)).toMatchObject({ configured: true, status: 'KEY_UNAVAILABLE', maskedHint: maskedHint(ws.key) });
    expect(markedLines(ws)).toHaveLength(1);
    expect(JSON.parse(markedLines(ws)[0])).toMatchObject({ level: 50, workspaceId: ws.id });
    expect(world.t.logs.text).not.toContain(ws.key);
  });

  it('a replacement clears it and the gateway works again; the next unreadable blob is a new occurrence, logged again', async () => {
    const ws = await byokWorkspace(world.t);
    await tamper(ws);
    expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(503);
    expect((await statusOf(ws)).status).toBe('KEY_UNAVAILABLE');

    const replacement = canaryKey();
    await replaceKey(world.t, ws, replacement);

    expect((await statusOf(ws)).status).toBe('ACTIVE');
    expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(200);
    expect(world.fake.lastRequest?.bearer).toBe(replacement);

    await tamper(ws);
    expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(503);
    expect((await statusOf(ws)).status).toBe('KEY_UNAVAILABLE');
    expect(markedLines(ws)).toHaveLength(2);
  });

  it('a verdict on a row version that has since been replaced does not land on the new key', async () => {
    const ws = await byokWorkspace(world.t);
    const [before] = await world.t.app.dataSource.query('SELECT updated_at FROM tenant_secret WHERE workspace_id = ?', [ws.id]);
    const oldVersion = world.t.app.dataSource.driver.prepareHydratedValue(
      before.updated_at,
      world.t.app.dataSource.getMetadata('TenantSecretEntity').findColumnWithPropertyName('updatedAt')!,
    ) as Date;
    await new Promise((resolveWait) => setTimeout(resolveWait, 5));
    await replaceKey(world.t, ws, canaryKey());

    await world.t.app.seam.keyHealth.markUnavailable(ws.id, oldVersion);

    expect((await statusOf(ws)).status).toBe('ACTIVE');
    expect(markedLines(ws)).toEqual([]);
  });

  it('paths on the platform key never decrypt the blob, so they neither fail nor mark it', async () => {
    const ws = await byokWorkspace(world.t);
    await tamper(ws);

    expect((await callGateway(world.t, { workspaceId: ws.id, path: 'SEARCH_INDEXER' })).status).toBe(200);

    expect((await statusOf(ws)).status).toBe('ACTIVE');
  });
});

describe('KEY_UNAVAILABLE at start-up', () => {
  const OTHER_PHRASE = 'a phrase this service was never given, 32+ characters';

  it('outside production, blobs under a key id no phrase derives are marked at start-up, once', async () => {
    const first = await startTestApp();
    const db = first.db;
    const readable = await seedWorkspace(first, undefined, 'Readable');
    expectData(await first.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: readable.id, k: canaryKey() }, readable.tokens.owner));
    const stranded = await seedWorkspace(first, undefined, 'Stranded');
    const key = canaryKey();
    // What a blob written by a deployment with another phrase looks like to this one.
    await storeKeyDirectly(first.app.dataSource.manager, new TenantSecretStore(await cipherFor(OTHER_PHRASE)), stranded.id, key, 'ACTIVE');
    await first.app.stop();

    const second = await startTestApp({ db });
    try {
      const statusOf = async (ws: SeededWorkspace) => expectData(await second.gql(KEY_STATUS, { w: ws.id }, ws.tokens.member)).aiInferenceKey.status;
      expect(await statusOf(stranded)).toBe('KEY_UNAVAILABLE');
      expect(await statusOf(readable)).toBe('UNVERIFIED');
      expect(second.logs.lines.filter((line) => line.includes(MARKED))).toHaveLength(1);
      expect(second.logs.text).not.toContain(key);
    } finally {
      await second.app.stop();
    }

    const third = await startTestApp({ db });
    try {
      expect(third.logs.lines.filter((line) => line.includes(MARKED))).toEqual([]);
    } finally {
      await third.app.stop();
      await db.drop();
    }
  });
});
