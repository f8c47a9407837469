import { storedKeyStatus, storeKeyDirectly } from './support/stored-key';
import { reencryptAll } from '../src/modules/secrets/reencryption';
import { TenantSecretEntity } from '../src/modules/secrets/tenant-secret.entity';
import { TenantSecretStore } from '../src/modules/secrets/tenant-secret.store';
import type { AppConfig } from '../src/config/config';
import { buildOnce, runCompiled } from './support/build';
import { appErrorFrom, expectGraphQLError } from './support/errors';
import { KEY_STATUS_FIELDS, sampleKey, SeededWorkspace, seedWorkspace } from './support/fixtures';
import { cipherFor, startTestApp, TEST_JWT_SECRET, TestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Key rotation end to end, as an operator would do it: phrase A → restart with B and previous A →
 * re-encrypt (in process and with the CLI) → restart with B alone. The tests are the steps of one
 * story on one database, so they run in order and each builds on the one before.
 */

const PHRASE_A = 'rotation test phrase A: the one being retired, 32+ chars';
const PHRASE_B = 'rotation test phrase B: the one taking over, 32+ characters';
const REENCRYPT = 'src/cli/reencrypt.js';

describe('secrets phrase rotation', () => {
  let db: TestDatabase;
  let t: TestApp | undefined;
  let keyIdA: string;
  let keyIdB: string;
  const workspaces: SeededWorkspace[] = [];
  /** what each workspace's blob should decrypt to, by workspace id */
  const expectedKey = new Map<string, string>();

  const app = (): TestApp => {
    if (!t) throw new Error('no app running');
    return t;
  };
  const start = async (overrides: Partial<AppConfig>): Promise<TestApp> => {
    await t?.close();
    t = undefined;
    t = await startTestApp({ db, overrides });
    return t;
  };
  const rows = () => app().app.dataSource.getRepository(TenantSecretEntity).find({ order: { workspaceId: 'ASC' } });
  const storedStatus = (workspaceId: string) => storedKeyStatus(app().app.dataSource.manager, workspaceId);
  const snapshot = async () => (await rows()).map((row) => `${row.workspaceId} ${row.keyId} ${row.ciphertext.toString('hex')}`);
  const overwriteBlob = (workspaceId: string, ciphertext: Buffer) =>
    app().app.dataSource.query('UPDATE tenant_secret SET ciphertext = ? WHERE workspace_id = ?', [ciphertext, workspaceId]);
  const status = (ws: SeededWorkspace) => app().gql(`query($w: ID!) { aiInferenceKey(workspaceId: $w) { ${KEY_STATUS_FIELDS} } }`, { w: ws.id }, ws.tokens.member);
  const cli = (args: string[], phrases: { current: string; previous?: string }) =>
    runCompiled(REENCRYPT, args, {
      NODE_ENV: 'test',
      DATA_DIR: db.dataDir,
      DATABASE_URL: db.databaseUrl,
      SECRETS_PHRASE: phrases.current,
      SECRETS_PHRASE_PREVIOUS: phrases.previous,
      JWT_SECRET: TEST_JWT_SECRET,
    });
  const rotating = { current: PHRASE_B, previous: PHRASE_A };

  /** Rows still under phrase A, in the order the re-encryption visits them. */
  let underA: string[];

  // The first compile of a clean checkout takes a while; later ones are incremental no-ops.
  beforeAll(async () => {
    buildOnce();
    db = await createTestDatabase();
    [keyIdA, keyIdB] = await Promise.all([cipherFor(PHRASE_A), cipherFor(PHRASE_B)]).then((ciphers) => ciphers.map((c) => c.currentKeyId));
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('under phrase A: three workspaces save keys, all written under key id A', async () => {
    const t = await start({ secretsPhrase: PHRASE_A });
    for (const n of ['1', '2', '3']) {
      const ws = await seedWorkspace(t, undefined, `Rotating ${n}`);
      const saved = await t.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: ws.id, k: sampleKey(n) }, ws.tokens.owner);
      expect(saved.errors).toBeUndefined();
      workspaces.push(ws);
      expectedKey.set(ws.id, sampleKey(n));
    }
    expect((await rows()).map((row) => row.keyId)).toEqual([keyIdA, keyIdA, keyIdA]);
  });

  it('restarted with B and previous A: statuses read, old blobs decrypt, and replace writes under B', async () => {
    const t = await start({ secretsPhrase: PHRASE_B, secretsPhrasePrevious: PHRASE_A });
    for (const ws of workspaces) {
      const answer = await status(ws);
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.aiInferenceKey.configured).toBe(true);
    }
    const replaced = await t.gql('mutation($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { maskedHint } }', { w: workspaces[0].id, k: sampleKey('R') }, workspaces[0].tokens.billing);
    expect(replaced.errors).toBeUndefined();
    expectedKey.set(workspaces[0].id, sampleKey('R'));

    const stored = await rows();
    for (const row of stored) {
      expect(row.keyId).toBe(row.workspaceId === workspaces[0].id ? keyIdB : keyIdA);
      expect(t.app.seam.secrets.decryptOrThrow(row).openrouterKey).toBe(expectedKey.get(row.workspaceId));
    }
    underA = stored.filter((row) => row.keyId === keyIdA).map((row) => row.workspaceId);
    expect(underA).toHaveLength(2);
  });

  it('a dry run in process reports what it would rewrite and changes nothing', async () => {
    const before = await snapshot();
    const report = await reencryptAll(app().app.seam.transactions, app().app.seam.dialect, app().app.seam.secrets, { dryRun: true, unreadable: app().app.seam.keyHealth });
    expect(report).toEqual({ rewritten: underA, alreadyCurrent: [workspaces[0].id], failed: [] });
    expect(await snapshot()).toEqual(before);
  });

  it('the CLI dry run names each row it would rewrite, exits 0 and changes nothing', async () => {
    const before = await snapshot();
    const run = await cli(['--dry-run'], rotating);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('would rewrite 2, already current 1, failed 0');
    for (const id of underA) expect(run.stdout).toContain(`would rewrite: workspace ${id}`);
    expect(await snapshot()).toEqual(before);
  });

  describe('with one row damaged', () => {
    let original: Buffer;
    const [damagedIndex, healthyIndex] = [0, 1];
    beforeAll(async () => {
      // Damage the row visited first, so the run has to carry on past it to reach the other.
      const row = (await rows()).find((r) => r.workspaceId === underA[damagedIndex])!;
      original = Buffer.from(row.ciphertext);
      const damaged = Buffer.from(original);
      damaged[damaged.length - 1] ^= 0xff;
      await overwriteBlob(row.workspaceId, damaged);
    });

    it('a dry run names the damaged row as failed and, changing nothing, leaves its status alone', async () => {
      const before = await snapshot();
      const report = await reencryptAll(app().app.seam.transactions, app().app.seam.dialect, app().app.seam.secrets, { dryRun: true, unreadable: app().app.seam.keyHealth });
      expect(report.failed).toEqual([{ workspaceId: underA[damagedIndex], reason: expect.stringContaining('cannot be read') }]);
      expect(await storedStatus(underA[damagedIndex])).toBe('UNVERIFIED');
      expect(await snapshot()).toEqual(before);
    });

    it('the CLI names the failing row, carries on past it and exits non-zero', async () => {
      const run = await cli([], rotating);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('rewrote 1, already current 1, failed 1');
      expect(run.stdout).toContain(`FAILED: workspace ${underA[damagedIndex]}`);
      expect(run.stdout).toContain(`rewrote: workspace ${underA[healthyIndex]}`);
      // The failure reason is the client-safe message: no key material in operator output either.
      expect(run.stdout).not.toMatch(/sk-or-/);
      // The unreadable blob is on record for members, logged (to stderr, beside the report) once.
      expect(await storedStatus(underA[damagedIndex])).toBe('KEY_UNAVAILABLE');
      expect(await storedStatus(underA[healthyIndex])).toBe('UNVERIFIED');
      expect(run.stderr.match(/marked KEY_UNAVAILABLE/g)).toHaveLength(1);
      expect(run.stderr).not.toMatch(/sk-or-/);

      const byId = new Map((await rows()).map((row) => [row.workspaceId, row]));
      expect(byId.get(underA[healthyIndex])?.keyId).toBe(keyIdB);
      expect(app().app.seam.secrets.decryptOrThrow(byId.get(underA[healthyIndex])!).openrouterKey).toBe(expectedKey.get(underA[healthyIndex]));
      expect(byId.get(underA[damagedIndex])?.keyId).toBe(keyIdA);
    });

    it('in process the damaged row is reported as failed with its reason, and KEY_UNAVAILABLE in the store', async () => {
      const report = await reencryptAll(app().app.seam.transactions, app().app.seam.dialect, app().app.seam.secrets, { dryRun: false, unreadable: app().app.seam.keyHealth });
      expect(report.rewritten).toEqual([]);
      expect(report.failed).toEqual([{ workspaceId: underA[damagedIndex], reason: expect.stringContaining('cannot be read') }]);
      expect(report.alreadyCurrent.sort()).toEqual([workspaces[0].id, underA[healthyIndex]].sort());
      const damaged = (await rows()).find((row) => row.workspaceId === underA[damagedIndex])!;
      appErrorFrom(() => app().app.seam.secrets.decryptOrThrow(damaged), 'KEY_UNAVAILABLE');
      // Already on record from the CLI's run: not marked, nor logged, a second time.
      expect(await storedStatus(damaged.workspaceId)).toBe('KEY_UNAVAILABLE');
      expect(app().logs.text).not.toContain('marked KEY_UNAVAILABLE');
    });

    it('once repaired, a clean CLI run rewrites just that row and exits 0', async () => {
      await overwriteBlob(underA[damagedIndex], original);
      const run = await cli([], rotating);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('rewrote 1, already current 2, failed 0');
      expect(run.stdout).toContain(`rewrote: workspace ${underA[damagedIndex]}`);
    });
  });

  describe('after a clean run', () => {
    it('a second run changes nothing: every row is already current', async () => {
      const before = await snapshot();
      const run = await cli([], rotating);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('rewrote 0, already current 3, failed 0');
      expect(run.stdout).not.toContain('rewrote: workspace');
      const report = await reencryptAll(app().app.seam.transactions, app().app.seam.dialect, app().app.seam.secrets, { dryRun: false, unreadable: app().app.seam.keyHealth });
      expect(report).toEqual({ rewritten: [], alreadyCurrent: workspaces.map((ws) => ws.id).sort(), failed: [] });
      expect(await snapshot()).toEqual(before);
    });

    it('phrase A can be dropped: production starts with B alone and every blob reads', async () => {
      const t = await start({ nodeEnv: 'production', secretsPhrase: PHRASE_B });
      const stored = await rows();
      expect(stored.map((row) => row.keyId)).toEqual([keyIdB, keyIdB, keyIdB]);
      for (const row of stored) expect(t.app.seam.secrets.decryptOrThrow(row).openrouterKey).toBe(expectedKey.get(row.workspaceId));
      const replaced = await t.gql('mutation($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { configured } }', { w: workspaces[1].id, k: sampleKey('S') }, workspaces[1].tokens.owner);
      expect(replaced.errors).toBeUndefined();
    });
  });

  describe('a row left under A once A is dropped', () => {
    let leftover: SeededWorkspace;
    beforeAll(async () => {
      // Written straight through a store holding only A: what a run that was skipped leaves behind.
      leftover = await seedWorkspace(app(), undefined, 'Leftover');
      const key = sampleKey('L');
      await storeKeyDirectly(app().app.dataSource.manager, new TenantSecretStore(await cipherFor(PHRASE_A)), leftover.id, key);
    });

    it('fails closed with KEY_UNAVAILABLE in the store, while its status still reads', async () => {
      const row = (await rows()).find((r) => r.workspaceId === leftover.id)!;
      expect(row.keyId).toBe(keyIdA);
      appErrorFrom(() => app().app.seam.secrets.decryptOrThrow(row), 'KEY_UNAVAILABLE');
      const answer = await status(leftover);
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.aiInferenceKey).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…defL' });
    });

    it('is named as failed by a re-encryption run holding B alone', async () => {
      const report = await reencryptAll(app().app.seam.transactions, app().app.seam.dialect, app().app.seam.secrets, { dryRun: false, unreadable: app().app.seam.keyHealth });
      expect(report.failed).toEqual([{ workspaceId: leftover.id, reason: expect.stringContaining('cannot be read') }]);
      expect(report.alreadyCurrent).toHaveLength(3);
    });

    it('makes production start-up refuse, naming the key id', async () => {
      await t?.close();
      t = undefined;
      await expect(startTestApp({ db, overrides: { nodeEnv: 'production', secretsPhrase: PHRASE_B } })).rejects.toThrow(keyIdA);
    });

    it('only warns in development, naming the key id, and the service still answers', async () => {
      const t = await start({ nodeEnv: 'development', secretsPhrase: PHRASE_B });
      const warning = t.logs.lines.map((line) => JSON.parse(line) as { level: number; msg: string }).find((line) => line.msg.includes(keyIdA));
      expect(warning).toMatchObject({ level: 40 });
      const saveAgain = await t.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: leftover.id, k: sampleKey('M') }, leftover.tokens.owner);
      expectGraphQLError(saveAgain, 'KEY_ALREADY_CONFIGURED');
      // Replacing is how a member recovers the workspace: the blob is rewritten under B.
      const replaced = await t.gql('mutation($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { configured } }', { w: leftover.id, k: sampleKey('M') }, leftover.tokens.owner);
      expect(replaced.errors).toBeUndefined();
      expect((await rows()).every((row) => row.keyId === keyIdB)).toBe(true);
    });
  });
});
