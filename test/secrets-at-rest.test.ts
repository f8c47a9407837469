import { TenantSecretEntity } from '../src/modules/secrets/tenant-secret.entity';
import { appErrorFrom, expectGraphQLError } from './support/errors';
import { KEY_STATUS_FIELDS, sampleKey, SeededWorkspace, seedWorkspace } from './support/fixtures';
import { cipherFor, startTestApp, TestApp } from './support/test-app';

/**
 * Encryption at rest against the real database: blobs are moved and damaged with direct SQL, the
 * way an attacker with database access (or a bad restore) would, and the service must fail closed.
 */
describe('tenant secrets at rest', () => {
  let t: TestApp;
  let victim: SeededWorkspace;
  let donor: SeededWorkspace;
  const victimKey = sampleKey('v');
  const donorKey = sampleKey('d');

  const rowOf = (workspaceId: string) => t.app.dataSource.getRepository(TenantSecretEntity).findOneByOrFail({ workspaceId });
  const overwriteBlob = (workspaceId: string, ciphertext: Buffer, keyId: string) =>
    t.app.dataSource.query('UPDATE tenant_secret SET ciphertext = ?, key_id = ? WHERE workspace_id = ?', [ciphertext, keyId, workspaceId]);
  const status = (ws: SeededWorkspace) =>
    t.gql(`query($w: ID!) { aiInferenceKey(workspaceId: $w) { ${KEY_STATUS_FIELDS} } }`, { w: ws.id }, ws.tokens.member);
  const auditActions = async (ws: SeededWorkspace) =>
    (await t.gql(`query($w: ID!) { auditEvents(workspaceId: $w) { nodes { action maskedHint } } }`, { w: ws.id }, ws.tokens.owner)).data?.auditEvents.nodes;

  beforeAll(async () => {
    t = await startTestApp();
    victim = await seedWorkspace(t, undefined, 'Victim');
    donor = await seedWorkspace(t, undefined, 'Donor');
    for (const [ws, key] of [[victim, victimKey], [donor, donorKey]] as const) {
      const saved = await t.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: ws.id, k: key }, ws.tokens.owner);
      expect(saved.errors).toBeUndefined();
    }
  });
  afterAll(() => t.close());

  it('stores only ciphertext under the current key id, which the store reads back', async () => {
    const row = await rowOf(victim.id);
    expect(Buffer.isBuffer(row.ciphertext)).toBe(true);
    expect(row.ciphertext.includes(Buffer.from('sk-or-'))).toBe(false);
    expect(row.keyId).toBe(t.app.cipher.currentKeyId);
    expect(t.app.seam.secrets.decryptOrThrow(row)).toEqual({ openrouterKey: victimKey });
  });

  it('writes a different ciphertext each time the same key is stored (a fresh nonce per write)', async () => {
    const ws = await seedWorkspace(t, undefined, 'Same key twice');
    const key = sampleKey('same');
    const storedBlob = async () => {
      const row = await rowOf(ws.id);
      expect(t.app.seam.secrets.decryptOrThrow(row)).toEqual({ openrouterKey: key });
      return row.ciphertext.toString('hex');
    };
    const keyMutation = (name: 'saveKey' | 'replaceKey') => t.gql(`mutation($w: ID!, $k: String!) { ${name}(workspaceId: $w, key: $k) { configured } }`, { w: ws.id, k: key }, ws.tokens.owner);
    expect((await keyMutation('saveKey')).errors).toBeUndefined();
    const saved = await storedBlob();
    expect((await keyMutation('replaceKey')).errors).toBeUndefined();
    const replaced = await storedBlob();
    expect((await t.gql('mutation($w: ID!) { removeKey(workspaceId: $w) { configured } }', { w: ws.id }, ws.tokens.owner)).errors).toBeUndefined();
    expect((await keyMutation('saveKey')).errors).toBeUndefined();
    const savedAgain = await storedBlob();
    expect(new Set([saved, replaced, savedAgain]).size).toBe(3);
  });

  describe("a blob copied onto another workspace's row", () => {
    let swappedRow: TenantSecretEntity;
    beforeAll(async () => {
      const donorRow = await rowOf(donor.id);
      await overwriteBlob(victim.id, donorRow.ciphertext, donorRow.keyId);
      swappedRow = await rowOf(victim.id);
    });

    it("fails closed with KEY_UNAVAILABLE instead of yielding the other workspace's key", () => {
      const error = appErrorFrom(() => t.app.seam.secrets.decryptOrThrow(swappedRow), 'KEY_UNAVAILABLE');
      expect(error.message).not.toContain(donorKey);
      expect(error.message).not.toContain(victimKey);
    });

    it('leaves the status readable, since the status never decrypts', async () => {
      const answer = await status(victim);
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.aiInferenceKey).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…defv' });
    });

    it('still answers saveKey with KEY_ALREADY_CONFIGURED: preconditions never need the blob', async () => {
      const again = await t.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: victim.id, k: sampleKey('x') }, victim.tokens.owner);
      expectGraphQLError(again, 'KEY_ALREADY_CONFIGURED');
    });

    it('lets a Manage billing holder recover by replacing the key, which overwrites the blob', async () => {
      const replacement = sampleKey('r');
      const replaced = await t.gql(
        `mutation($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { ${KEY_STATUS_FIELDS} } }`,
        { w: victim.id, k: replacement },
        victim.tokens.billing,
      );
      expect(replaced.errors).toBeUndefined();
      expect(replaced.data?.replaceKey).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…defr' });
      expect(t.app.seam.secrets.decryptOrThrow(await rowOf(victim.id))).toEqual({ openrouterKey: replacement });
      // the donor's own row was only read by the attacker, never changed
      expect(t.app.seam.secrets.decryptOrThrow(await rowOf(donor.id))).toEqual({ openrouterKey: donorKey });
      expect(t.logs.text).toContain('unreadable tenant-secrets blob overwritten by a new key');
    });
  });

  describe('a damaged blob', () => {
    let tamperedRow: TenantSecretEntity;
    beforeAll(async () => {
      const row = await rowOf(victim.id);
      const damaged = Buffer.from(row.ciphertext);
      damaged[damaged.length - 20] ^= 0x80; // inside the ciphertext body, before the tag
      await overwriteBlob(victim.id, damaged, row.keyId);
      tamperedRow = await rowOf(victim.id);
    });

    it('is KEY_UNAVAILABLE where the service decrypts', () => {
      const error = appErrorFrom(() => t.app.seam.secrets.decryptOrThrow(tamperedRow), 'KEY_UNAVAILABLE');
      expect(error.message).not.toMatch(/sk-or-/);
    });

    it('can still be removed: removeKey succeeds and records the removal', async () => {
      const removed = await t.gql(`mutation($w: ID!) { removeKey(workspaceId: $w) { ${KEY_STATUS_FIELDS} } }`, { w: victim.id }, victim.tokens.owner);
      expect(removed.errors).toBeUndefined();
      expect(removed.data?.removeKey).toMatchObject({ configured: false, maskedHint: null });
      expect(await t.app.dataSource.getRepository(TenantSecretEntity).countBy({ workspaceId: victim.id })).toBe(0);
      expect((await auditActions(victim))?.[0]).toEqual({ action: 'KEY_REMOVED', maskedHint: 'sk-or-v1…defr' });
      const after = await status(victim);
      expect(after.data?.aiInferenceKey).toMatchObject({ configured: false, maskedHint: null });
    });
  });

  describe('other unreadable blobs on a real row', () => {
    const withBlob = async (ciphertext: Buffer, keyId: string): Promise<TenantSecretEntity> => {
      await overwriteBlob(donor.id, ciphertext, keyId);
      return rowOf(donor.id);
    };

    it.each([
      ['an empty blob', () => Buffer.alloc(0)],
      ['a blob in an unknown format', () => Buffer.concat([Buffer.from([0x02]), Buffer.alloc(40)])],
    ])('is KEY_UNAVAILABLE for %s', async (_label, blobOf) => {
      const row = await withBlob(blobOf(), t.app.cipher.currentKeyId);
      appErrorFrom(() => t.app.seam.secrets.decryptOrThrow(row), 'KEY_UNAVAILABLE');
    });

    it('is KEY_UNAVAILABLE for a blob written under a phrase this process does not hold', async () => {
      const stranger = await cipherFor('a phrase this service was never given, 32+ chars');
      const row = await withBlob(stranger.encrypt(donor.id, Buffer.from('{"v":1,"openrouterKey":"sk-or-x"}')), stranger.currentKeyId);
      appErrorFrom(() => t.app.seam.secrets.decryptOrThrow(row), 'KEY_UNAVAILABLE');
    });

    // Authentic ciphertext whose contents are not a payload this version understands must not
    // be half-read (e.g. as "no key"): it is unavailable like any other unreadable blob.
    it.each([
      ['text that is not JSON', 'not json at all'],
      ['a payload of another version', '{"v":2,"openrouterKey":"sk-or-v2-future"}'],
    ])('is KEY_UNAVAILABLE for authentic ciphertext of %s', async (_label, plaintext) => {
      const row = await withBlob(t.app.cipher.encrypt(donor.id, Buffer.from(plaintext)), t.app.cipher.currentKeyId);
      appErrorFrom(() => t.app.seam.secrets.decryptOrThrow(row), 'KEY_UNAVAILABLE');
    });
  });
});
