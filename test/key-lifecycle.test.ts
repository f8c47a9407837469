import { TenantSecretEntity } from '../src/modules/secrets/tenant-secret.entity';
import { Plan } from '../src/modules/workspace/workspace.enums';
import { AUDIT_EVENTS, CHANGE_PLAN, KEY_STATUS, REMOVE_KEY, REPLACE_KEY, SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { sampleKey, SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

/** SPEC.md, "The key: rules": save, replace, remove, validation, plan changes and the audit trail. */

const PREFIX_MESSAGE = "OpenRouter keys must start with 'sk-or-'";
const CHARACTERS_MESSAGE = "OpenRouter keys may contain only letters, digits, '-' and '_' after 'sk-or-'";

/** The SPEC's own example: this key's hint is `sk-or-v1…9f3a`. */
const SPEC_EXAMPLE_KEY = `sk-or-v1-${'5'.repeat(60)}9f3a`;

function hintOf(key: string): string {
  return `${key.slice(0, 8)}…${key.slice(-4)}`;
}

/** Every shape rule 3 refuses. Each value is long enough that finding it in a response means it was echoed. */
const INVALID_KEYS: ReadonlyArray<{ name: string; key: string; message?: string }> = [
  { name: 'too short (19 characters)', key: `sk-or-${'a'.repeat(13)}` },
  { name: 'too short once trimmed (19 characters inside spaces)', key: `   sk-or-${'b'.repeat(13)}   ` },
  { name: 'too long (257 characters)', key: `sk-or-${'c'.repeat(251)}` },
  { name: 'an inner space', key: 'sk-or-v1-0123456789 abcdef0123456789' },
  { name: 'a tab inside', key: 'sk-or-v1-0123456789\tabcdef0123456789' },
  { name: 'a line break inside', key: 'sk-or-v1-0123456789\nabcdef0123456789' },
  { name: 'a non-ASCII character', key: 'sk-or-v1-0123456789abcdéf0123456789' },
  { name: 'a NUL control character', key: 'sk-or-v1-0123456789\u0000abcdef0123456789' },
  { name: 'an ESC control character', key: 'sk-or-v1-0123456789\u001babcdef0123456789' },
  { name: 'a DEL control character', key: 'sk-or-v1-0123456789\u007fabcdef0123456789' },
  { name: 'a Cyrillic look-alike prefix (U+0455)', key: '\u0455k-or-v1-0123456789abcdef0123456789', message: PREFIX_MESSAGE },
  { name: 'another vendor prefix', key: 'sk-ant-api03-0123456789abcdef0123456789', message: PREFIX_MESSAGE },
  { name: 'an upper-case prefix', key: 'SK-OR-V1-0123456789abcdef0123456789', message: PREFIX_MESSAGE },
  { name: 'a 1 MB string', key: `sk-or-${'d'.repeat(1024 * 1024)}` },
  // Printable ASCII, but no character a key of letters, digits, '-' and '_' has a use for.
  ...['"', "'", '\\', '/', '%', '+', '=', '.', '~', ':', '<', '>', '&', '{', '`', '$'].map((character) => ({
    name: `the character ${character} after the prefix`,
    key: `sk-or-v1-0123456789${character}abcdef0123456789`,
    message: CHARACTERS_MESSAGE,
  })),
  { name: 'a percent-encoded key', key: 'sk-or-v1-0123456789%2Dabcdef0123456789', message: CHARACTERS_MESSAGE },
  { name: 'base64 padding', key: 'sk-or-v1-0123456789abcdef0123456789==', message: CHARACTERS_MESSAGE },
];

/** The value as it would appear in a JSON response if echoed: raw, and with JSON escapes. */
function echoesOf(value: string): string[] {
  return [value, JSON.stringify(value).slice(1, -1)];
}

describe('the key: rules (SPEC.md)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const status = async (ws: SeededWorkspace, token = ws.tokens.owner) =>
    expectData(await t.gql(KEY_STATUS, { w: ws.id }, token)).aiInferenceKey;

  const allAuditEvents = async (ws: SeededWorkspace) =>
    expectData(await t.gql(AUDIT_EVENTS, { w: ws.id, first: 100 }, ws.tokens.owner)).auditEvents.nodes as Array<Record<string, any>>;
  /** The key's audit trail: seeding the workspace's members is audited too, and is not what these rules are about. */
  const auditEvents = async (ws: SeededWorkspace) => (await allAuditEvents(ws)).filter((event) => event.action.startsWith('KEY_'));

  const storedRow = (workspaceId: string) => t.app.dataSource.getRepository(TenantSecretEntity).findOneBy({ workspaceId });

  describe('save, replace, remove', () => {
    it('saves a key, shows only `first 8 + … + last 4`, and audits the save with actor and hint', async () => {
      const ws = await seedWorkspace(t);

      const saved = expectData(await t.gql(SAVE_KEY, { w: ws.id, k: SPEC_EXAMPLE_KEY }, ws.tokens.owner)).saveKey;

      expect(saved).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…9f3a', eligible: true, canManage: true, updatedBy: ws.userIds.owner });
      // Any member reads the status; only the hint comes back.
      const seenByMember = await status(ws, ws.tokens.member);
      expect(seenByMember).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…9f3a', canManage: false });
      expect(JSON.stringify(seenByMember)).not.toContain(SPEC_EXAMPLE_KEY);
      const events = await auditEvents(ws);
      expect(events).toEqual([expect.objectContaining({ workspaceId: ws.id, action: 'KEY_SAVED', actorUserId: ws.userIds.owner, maskedHint: 'sk-or-v1…9f3a' })]);
    });

    it('refuses a second save with KEY_ALREADY_CONFIGURED and keeps the first key', async () => {
      const ws = await seedWorkspace(t);
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('first') }, ws.tokens.owner));
      const before = await status(ws);

      const second = await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('second') }, ws.tokens.admin);

      expectErrorCode(second, 'KEY_ALREADY_CONFIGURED');
      expect(await status(ws)).toEqual(before);
      expect((await auditEvents(ws)).map((event) => event.action)).toEqual(['KEY_SAVED']);
    });

    it('refuses replaceKey with KEY_NOT_CONFIGURED when there is no key, storing nothing', async () => {
      const ws = await seedWorkspace(t);

      const replaced = await t.gql(REPLACE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.owner);

      expectErrorCode(replaced, 'KEY_NOT_CONFIGURED');
      expect(await status(ws)).toMatchObject({ configured: false, maskedHint: null, status: null });
      expect(await storedRow(ws.id)).toBeNull();
      expect(await auditEvents(ws)).toEqual([]);
    });

    it('replaces a key and audits the replacement with the new hint', async () => {
      const ws = await seedWorkspace(t);
      const first = sampleKey('1111');
      const second = `sk-or-v1-${'7'.repeat(40)}beef`;
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: first }, ws.tokens.owner));

      const replaced = expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: second }, ws.tokens.billing)).replaceKey;

      expect(replaced).toMatchObject({ configured: true, maskedHint: 'sk-or-v1…beef', updatedBy: ws.userIds.billing });
      expect(await status(ws)).toMatchObject({ maskedHint: 'sk-or-v1…beef' });
      const stored = await storedRow(ws.id);
      expect(t.app.seam.secrets.decryptOrThrow(stored!).openrouterKey).toBe(second);
      const events = await auditEvents(ws);
      expect(events.map((event) => [event.action, event.actorUserId, event.maskedHint])).toEqual([
        ['KEY_REPLACED', ws.userIds.billing, 'sk-or-v1…beef'],
        ['KEY_SAVED', ws.userIds.owner, hintOf(first)],
      ]);
    });

    it('removes a key, audits the removal once, and removing again is a harmless no-op', async () => {
      const ws = await seedWorkspace(t);
      const key = sampleKey('rm01');
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner));

      const removed = expectData(await t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.admin)).removeKey;
      const removedAgain = expectData(await t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.admin)).removeKey;

      for (const answer of [removed, removedAgain, await status(ws)]) {
        expect(answer).toMatchObject({ configured: false, maskedHint: null, status: null, eligible: true });
      }
      expect(await storedRow(ws.id)).toBeNull();
      const events = await auditEvents(ws);
      expect(events.map((event) => [event.action, event.actorUserId, event.maskedHint])).toEqual([
        ['KEY_REMOVED', ws.userIds.admin, hintOf(key)],
        ['KEY_SAVED', ws.userIds.owner, hintOf(key)],
      ]);
    });

    it('removeKey on a workspace that never had a key succeeds and records nothing', async () => {
      const ws = await seedWorkspace(t);

      const removed = expectData(await t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.owner)).removeKey;

      expect(removed).toMatchObject({ configured: false, maskedHint: null });
      expect(await auditEvents(ws)).toEqual([]);
    });

    it('trims surrounding white space before validating, hinting and storing', async () => {
      const ws = await seedWorkspace(t);
      const key = sampleKey('trim');

      const saved = expectData(await t.gql(SAVE_KEY, { w: ws.id, k: ` \t\n${key}\r\n  ` }, ws.tokens.owner)).saveKey;

      expect(saved.maskedHint).toBe(hintOf(key));
      expect(t.app.seam.secrets.decryptOrThrow((await storedRow(ws.id))!).openrouterKey).toBe(key);
    });

    it.each([
      ['20 characters, the shortest allowed', `sk-or-${'e'.repeat(14)}`],
      ['256 characters, the longest allowed', `sk-or-${'f'.repeat(250)}`],
      ['256 characters once trimmed', `  sk-or-${'g'.repeat(250)}\n`],
      ['letters of both cases, digits, dashes and underscores', 'sk-or-v1_AbC-xyz_0123456789-Z_z'],
    ])('accepts a key of %s', async (_name, key) => {
      const ws = await seedWorkspace(t);

      const saved = expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner)).saveKey;

      expect(saved).toMatchObject({ configured: true, maskedHint: hintOf(key.trim()) });
    });
  });

  describe('Enterprise only', () => {
    it.each([Plan.PLUS, Plan.PRO])('refuses saveKey and replaceKey on %s with ENTERPRISE_REQUIRED, while the status still answers', async (plan) => {
      const ws = await seedWorkspace(t, plan);

      expectErrorCode(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.owner), 'ENTERPRISE_REQUIRED');
      expectErrorCode(await t.gql(REPLACE_KEY, { w: ws.id, k: sampleKey() }, ws.tokens.owner), 'ENTERPRISE_REQUIRED');
      // The plan decides before the key's shape: no key at all is welcome here.
      expectErrorCode(await t.gql(SAVE_KEY, { w: ws.id, k: 'not-a-key' }, ws.tokens.owner), 'ENTERPRISE_REQUIRED');

      for (const token of [ws.tokens.owner, ws.tokens.member]) {
        expect(await status(ws, token)).toMatchObject({ workspaceId: ws.id, eligible: false, configured: false, maskedHint: null });
      }
      expect(await storedRow(ws.id)).toBeNull();
      expect(await auditEvents(ws)).toEqual([]);
    });
  });

  describe('validation (rule 3)', () => {
    let empty: SeededWorkspace;
    let withKey: SeededWorkspace;
    beforeAll(async () => {
      empty = await seedWorkspace(t, Plan.ENTERPRISE, 'Empty');
      withKey = await seedWorkspace(t, Plan.ENTERPRISE, 'WithKey');
      expectData(await t.gql(SAVE_KEY, { w: withKey.id, k: sampleKey('keep') }, withKey.tokens.owner));
    });

    it.each(['', '   ', 'sk-', 'or-v1-0123456789abcdef0123456789', 'sk_or_v1_0123456789abcdef0123456789'])(
      'answers a missing or wrong prefix (%j) with the exact message',
      async (key) => {
        const saved = await t.gql(SAVE_KEY, { w: empty.id, k: key }, empty.tokens.owner);

        expectErrorCode(saved, 'BAD_USER_INPUT');
        expect(saved.errors?.[0].message).toBe(PREFIX_MESSAGE);
      },
    );

    it.each(INVALID_KEYS)('refuses $name with BAD_USER_INPUT, changes nothing and never echoes it', async ({ key, message }) => {
      const statusBefore = [await status(empty), await status(withKey)];
      const auditBefore = [await auditEvents(empty), await auditEvents(withKey)];

      const attempts = [
        await t.gql(SAVE_KEY, { w: empty.id, k: key }, empty.tokens.owner),
        await t.gql(REPLACE_KEY, { w: withKey.id, k: key }, withKey.tokens.owner),
      ];

      for (const attempt of attempts) {
        expectErrorCode(attempt, 'BAD_USER_INPUT');
        if (message) expect(attempt.errors?.[0].message).toBe(message);
        for (const echo of echoesOf(key)) expect(attempt.text).not.toContain(echo);
      }
      expect([await status(empty), await status(withKey)]).toEqual(statusBefore);
      expect([await auditEvents(empty), await auditEvents(withKey)]).toEqual(auditBefore);
    });
  });

  describe('audit log pagination', () => {
    it('pages through more than three events newest first, without skipping or repeating', async () => {
      const ws = await seedWorkspace(t);
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].map((suffix) => sampleKey(suffix));
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: keys[0] }, ws.tokens.owner));
      for (const key of keys.slice(1)) expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: key }, ws.tokens.owner));
      expectData(await t.gql(REMOVE_KEY, { w: ws.id }, ws.tokens.owner));
      expect((await auditEvents(ws)).map((event) => [event.action, event.maskedHint])).toEqual([
        ['KEY_REMOVED', hintOf(keys[5])],
        ...keys
          .slice(1)
          .reverse()
          .map((key) => ['KEY_REPLACED', hintOf(key)]),
        ['KEY_SAVED', hintOf(keys[0])],
      ]);
      const all = await allAuditEvents(ws);

      for (const pageSize of [1, 2, 3]) {
        const seen: string[] = [];
        let after: string | null = null;
        let pages = 0;
        for (;;) {
          const page: Record<string, any> = expectData(await t.gql(AUDIT_EVENTS, { w: ws.id, first: pageSize, after }, ws.tokens.billing)).auditEvents;
          pages += 1;
          expect(page.nodes.length).toBeLessThanOrEqual(pageSize);
          seen.push(...page.nodes.map((event: { id: string }) => event.id));
          if (!page.pageInfo.hasNextPage) break;
          after = page.pageInfo.endCursor;
          expect(pages).toBeLessThan(all.length + 1);
        }
        expect(seen).toEqual(all.map((event) => event.id));
        expect(pages).toBe(Math.ceil(all.length / pageSize));
      }
    });

    it('refuses a malformed cursor or page size as BAD_USER_INPUT', async () => {
      const ws = await seedWorkspace(t);

      expectErrorCode(await t.gql(AUDIT_EVENTS, { w: ws.id, first: 2, after: 'not-a-cursor' }, ws.tokens.owner), 'BAD_USER_INPUT');
      expectErrorCode(await t.gql(AUDIT_EVENTS, { w: ws.id, first: 0 }, ws.tokens.owner), 'BAD_USER_INPUT');
      expectErrorCode(await t.gql(AUDIT_EVENTS, { w: ws.id, first: 101 }, ws.tokens.owner), 'BAD_USER_INPUT');
    });
  });

  describe('leaving ENTERPRISE (rule 6)', () => {
    it.each([Plan.PRO, Plan.PLUS])('deletes the key on a change to %s, audits why, and coming back does not restore it', async (plan) => {
      const ws = await seedWorkspace(t);
      const key = sampleKey('plan');
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner));

      expect(expectData(await t.gql(CHANGE_PLAN, { w: ws.id, plan }, ws.adminToken)).changePlan.plan).toBe(plan);

      expect(await status(ws)).toMatchObject({ configured: false, maskedHint: null, eligible: false });
      expect(await storedRow(ws.id)).toBeNull();
      const [removal] = await auditEvents(ws);
      expect(removal).toMatchObject({ action: 'KEY_REMOVED_PLAN_CHANGE', actorUserId: 'platform-admin', maskedHint: hintOf(key) });

      expectData(await t.gql(CHANGE_PLAN, { w: ws.id, plan: Plan.ENTERPRISE }, ws.adminToken));

      expect(await status(ws)).toMatchObject({ configured: false, maskedHint: null, eligible: true });
      expect(await storedRow(ws.id)).toBeNull();
      expect((await auditEvents(ws)).map((event) => event.action)).toEqual(['KEY_REMOVED_PLAN_CHANGE', 'KEY_SAVED']);
      // Back on ENTERPRISE a key is a fresh save, not a replacement of a remembered one.
      expectErrorCode(await t.gql(REPLACE_KEY, { w: ws.id, k: key }, ws.tokens.owner), 'KEY_NOT_CONFIGURED');
      expect(expectData(await t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner)).saveKey.configured).toBe(true);
    });

    it('records nothing when a workspace without a key leaves ENTERPRISE', async () => {
      const ws = await seedWorkspace(t);

      expectData(await t.gql(CHANGE_PLAN, { w: ws.id, plan: Plan.PRO }, ws.adminToken));

      expect(await auditEvents(ws)).toEqual([]);
    });

    it('keeps the key on a change that stays on ENTERPRISE', async () => {
      const ws = await seedWorkspace(t);
      expectData(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey('stay') }, ws.tokens.owner));

      expectData(await t.gql(CHANGE_PLAN, { w: ws.id, plan: Plan.ENTERPRISE }, ws.adminToken));

      expect(await status(ws)).toMatchObject({ configured: true, maskedHint: hintOf(sampleKey('stay')) });
      expect((await auditEvents(ws)).map((event) => event.action)).toEqual(['KEY_SAVED']);
    });
  });
});
