import { expectErrorCode } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { startTestApp, TEST_SERVICE_TOKEN, TestApp } from './support/test-app';
import { callInput, dataOf, recordCall } from './support/usage-calls';

/**
 * Least exposure (SPEC.md, "The domain": who reads usage figures): everyone who reads usage sees a
 * call's `actorUserId`; `actor` (the membership: role, Manage billing) only those who may read the
 * workspace's members. A partner token sees no roles, and the service token, which names any user
 * id it likes, cannot use recordInferenceCall's answer to learn who is a member with which role.
 */

const ACTOR_FIELDS = 'requestId actorUserId actor { workspaceId userId role canManageBilling }';
const RECORD = `mutation($input: RecordInferenceCallInput!) { recordInferenceCall(input: $input) { ${ACTOR_FIELDS} } }`;
const USAGE = `query($w: ID!, $from: DateTime!, $to: DateTime!) { usage(workspaceId: $w, from: $from, to: $to, first: 10) { nodes { ${ACTOR_FIELDS} } } }`;
const CREATE_TOKEN = `mutation($w: ID!) { createPartnerToken(workspaceId: $w, name: "reader") { token } }`;

const RANGE = { from: '2026-05-01T00:00:00.000Z', to: '2026-06-01T00:00:00.000Z' };

describe('usage actors', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  let partnerToken: string;
  /** what recordInferenceCall answered the service token, by actor */
  const recorded = new Map<string, Record<string, unknown>>();

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t, undefined, 'Actors');
    partnerToken = dataOf(await t.gql(CREATE_TOKEN, { w: ws.id }, ws.tokens.owner)).createPartnerToken.token;
    const actors: Array<[string, string]> = [
      ['req-by-member', ws.userIds.member],
      ['req-by-billing', ws.userIds.billing],
      ['req-by-stranger', 'not-a-member'],
    ];
    for (const [requestId, actorUserId] of actors) {
      const input = callInput(ws.id, { requestId, actorUserId, occurredAt: '2026-05-10T10:00:00.000Z' });
      recorded.set(actorUserId, dataOf(await t.gql(RECORD, { input }, TEST_SERVICE_TOKEN)).recordInferenceCall);
    }
    dataOf(await recordCall(t, callInput(ws.id, { requestId: 'req-by-nobody', occurredAt: '2026-05-09T10:00:00.000Z' })));
  });
  afterAll(() => t.close());

  const readUsage = (token: string | undefined) => t.gql(USAGE, { w: ws.id, ...RANGE }, token);
  const byRequest = (nodes: Array<Record<string, any>>) => Object.fromEntries(nodes.map((node) => [node.requestId, { actorUserId: node.actorUserId, actor: node.actor }]));

  it('the service token gets the actor id it sent back, and no membership: a member and a stranger answer alike', () => {
    expect(recorded.get(ws.userIds.member)).toEqual({ requestId: 'req-by-member', actorUserId: ws.userIds.member, actor: null });
    expect(recorded.get(ws.userIds.billing)).toEqual({ requestId: 'req-by-billing', actorUserId: ws.userIds.billing, actor: null });
    expect(recorded.get('not-a-member')).toEqual({ requestId: 'req-by-stranger', actorUserId: 'not-a-member', actor: null });
  });

  it('a retry answers the service token the same way', async () => {
    const input = callInput(ws.id, { requestId: 'req-by-member', actorUserId: ws.userIds.member, occurredAt: '2026-05-10T10:00:00.000Z' });
    const retry = dataOf(await t.gql(RECORD, { input }, TEST_SERVICE_TOKEN));
    expect(retry.recordInferenceCall).toEqual(recorded.get(ws.userIds.member));
  });

  it.each([
    ['a billing manager', 'billing'],
    ['an ADMIN', 'admin'],
    ['an OWNER', 'owner'],
    ['a platform admin', 'platformAdmin'],
  ] as const)('%s sees each actor id and, for members, the membership', async (_name, who) => {
    const token = who === 'platformAdmin' ? ws.adminToken : ws.tokens[who];

    const nodes = dataOf(await readUsage(token)).usage.nodes;

    expect(byRequest(nodes)).toEqual({
      'req-by-member': { actorUserId: ws.userIds.member, actor: { workspaceId: ws.id, userId: ws.userIds.member, role: 'MEMBER', canManageBilling: false } },
      'req-by-billing': { actorUserId: ws.userIds.billing, actor: { workspaceId: ws.id, userId: ws.userIds.billing, role: 'BILLING_MANAGER', canManageBilling: true } },
      'req-by-stranger': { actorUserId: 'not-a-member', actor: null },
      'req-by-nobody': { actorUserId: null, actor: null },
    });
  });

  it('a partner token sees each actor id, and no role or membership', async () => {
    const nodes = dataOf(await readUsage(partnerToken)).usage.nodes;

    expect(byRequest(nodes)).toEqual({
      'req-by-member': { actorUserId: ws.userIds.member, actor: null },
      'req-by-billing': { actorUserId: ws.userIds.billing, actor: null },
      'req-by-stranger': { actorUserId: 'not-a-member', actor: null },
      'req-by-nobody': { actorUserId: null, actor: null },
    });
  });

  it.each<[string, () => string | undefined, string]>([
    ['a MEMBER', () => ws.tokens.member, 'FORBIDDEN'],
    ['the service token', () => TEST_SERVICE_TOKEN, 'FORBIDDEN'],
    ['an anonymous caller', () => undefined, 'UNAUTHENTICATED'],
  ])('%s does not read usage at all', async (_name, token, code) => {
    expectErrorCode(await readUsage(token()), code);
  });
});
