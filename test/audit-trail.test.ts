import { AUDIT_TRAIL } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

/**
 * BYOK fallback changes and partner-token creation and revocation are audit events, written in the
 * change's own transaction (SPEC.md, "The domain"; issue 7): who, when, what; never a token.
 */

const SET_FALLBACK = `mutation($w: ID!, $f: ByokFallback!) { setByokFallback(workspaceId: $w, fallback: $f) { id byokFallback } }`;
const CREATE_TOKEN = `mutation($w: ID!, $name: String!) { createPartnerToken(workspaceId: $w, name: $name) { token partnerToken { id } } }`;
const REVOKE_TOKEN = `mutation($id: ID!) { revokePartnerToken(id: $id) { id revokedAt } }`;

interface Event {
  action: string;
  actorUserId: string | null;
  targetUserId: string | null;
  fromRole: string | null;
  toRole: string | null;
  maskedHint: string | null;
  detail: string | null;
}

describe('audit trail of fallback and partner-token changes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  /** Newest first, without the member additions that seeded the workspace. */
  const events = async (ws: SeededWorkspace): Promise<Event[]> =>
    (expectData(await t.gql(AUDIT_TRAIL, { w: ws.id }, ws.tokens.billing)).auditEvents.nodes as Event[]).filter((event) => event.action !== 'MEMBER_ADDED');

  const fallbackOf = async (ws: SeededWorkspace) =>
    (await t.app.dataSource.query('SELECT byok_fallback AS fallback FROM workspace WHERE id = ?', [ws.id]))[0].fallback as string;

  it('a BYOK fallback change is audited with who and what changed; setting the value it already has audits nothing', async () => {
    const ws = await seedWorkspace(t);

    expectData(await t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.billing));
    expectData(await t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.owner));
    expectData(await t.gql(SET_FALLBACK, { w: ws.id, f: 'NONE' }, ws.tokens.admin));

    const base = { targetUserId: null, fromRole: null, toRole: null, maskedHint: null };
    expect(await events(ws)).toEqual([
      { ...base, action: 'BYOK_FALLBACK_CHANGED', actorUserId: ws.userIds.admin, detail: 'BYOK fallback changed from PLATFORM to NONE' },
      { ...base, action: 'BYOK_FALLBACK_CHANGED', actorUserId: ws.userIds.billing, detail: 'BYOK fallback changed from NONE to PLATFORM' },
    ]);
    expect(await fallbackOf(ws)).toBe('NONE');
  });

  it('a refused fallback change is not audited and changes nothing', async () => {
    const ws = await seedWorkspace(t);

    expectErrorCode(await t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.member), 'FORBIDDEN');

    expect(await events(ws)).toEqual([]);
    expect(await fallbackOf(ws)).toBe('NONE');
  });

  it('a fallback change and its audit event commit together: when the event cannot be written, the fallback is unchanged', async () => {
    const ws = await seedWorkspace(t);
    await t.app.dataSource.query('ALTER TABLE audit_event RENAME TO audit_event_away');
    let answer;
    try {
      answer = await t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.owner);
    } finally {
      await t.app.dataSource.query('ALTER TABLE audit_event_away RENAME TO audit_event');
    }
    // The database failed under the change: an internal error, masked, is the honest answer.
    expect(answer.errors?.map((error) => error.extensions?.code)).toEqual(['INTERNAL_SERVER_ERROR']);
    expect(await fallbackOf(ws)).toBe('NONE');
  });

  it('partner-token creation and revocation are audited with the token id and name, never the token; a second revocation audits nothing', async () => {
    const ws = await seedWorkspace(t);
    const created = expectData(await t.gql(CREATE_TOKEN, { w: ws.id, name: 'acme-bi' }, ws.tokens.billing)).createPartnerToken;
    const id = created.partnerToken.id as string;

    expectData(await t.gql(REVOKE_TOKEN, { id }, ws.tokens.owner));
    expectData(await t.gql(REVOKE_TOKEN, { id }, ws.tokens.admin));

    const base = { targetUserId: null, fromRole: null, toRole: null, maskedHint: null, detail: `partner token ${id} "acme-bi"` };
    const trail = await events(ws);
    expect(trail).toEqual([
      { ...base, action: 'PARTNER_TOKEN_REVOKED', actorUserId: ws.userIds.owner },
      { ...base, action: 'PARTNER_TOKEN_CREATED', actorUserId: ws.userIds.billing },
    ]);
    expect(JSON.stringify(trail)).not.toContain(created.token);
    const rows = await t.app.dataSource.query('SELECT * FROM audit_event WHERE workspace_id = ?', [ws.id]);
    expect(JSON.stringify(rows)).not.toContain(created.token);
  });

  it('a refused revocation is not audited', async () => {
    const ws = await seedWorkspace(t);
    const id = expectData(await t.gql(CREATE_TOKEN, { w: ws.id, name: 'kept' }, ws.tokens.owner)).createPartnerToken.partnerToken.id;

    expectErrorCode(await t.gql(REVOKE_TOKEN, { id }, ws.tokens.member), 'FORBIDDEN');

    expect((await events(ws)).map((event) => event.action)).toEqual(['PARTNER_TOKEN_CREATED']);
  });
});
