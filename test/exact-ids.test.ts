import { ADD_MEMBER, KEY_STATUS, SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { CHAT_BODY, callGateway } from './support/gateway-client';
import { byokWorkspace, GatewayWorld, startGatewayWorld } from './support/gateway-setup';
import { callInput, dataOf, LLM_ANALYTICS, recordOk, sql } from './support/usage-calls';

/**
 * Ids, request ids and model names are compared byte for byte on every database. MySQL and
 * MariaDB would otherwise compare them as their default collation does (case- and
 * accent-insensitive, trailing spaces ignored): another user's membership for `CAROL`, one call
 * for two request ids.
 */

/** Spellings that a case-, accent- or padding-insensitive comparison would take for `id` (which starts with `o`). */
const lookalikes = (id: string) => [id.toUpperCase(), `${id} `, `ö${id.slice(1)}`];

describe('exact comparison of ids', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    world = await startGatewayWorld();
  });
  afterAll(() => world.close());

  it('a user id differing only in case, accents or a trailing space is another user, with no access', async () => {
    const { t } = world;
    const ws = await seedWorkspace(t, undefined, 'Lookalike users');
    expect(ws.userIds.owner.startsWith('o')).toBe(true);
    for (const lookalike of lookalikes(ws.userIds.owner)) {
      const token = await t.token(lookalike);
      expectErrorCode(await t.gql(KEY_STATUS, { w: ws.id }, token), 'FORBIDDEN');
      expectErrorCode(await t.gql(SAVE_KEY, { w: ws.id, k: sampleKey() }, token), 'FORBIDDEN');
    }
    expect(expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.owner)).aiInferenceKey).toMatchObject({ configured: false, canManage: true });
  });

  it('adding a lookalike user adds another member and leaves the first one as it was', async () => {
    const { t } = world;
    const ws = await seedWorkspace(t, undefined, 'Lookalike members');
    const lookalike = ws.userIds.owner.toUpperCase();
    expect(expectData(await t.gql(ADD_MEMBER, { w: ws.id, u: lookalike, r: 'MEMBER' }, ws.adminToken)).addMember).toMatchObject({ userId: lookalike, role: 'MEMBER' });
    const rows = await sql<{ user_id: string; role: string }>(t, 'SELECT user_id, role FROM member WHERE workspace_id = ? AND (user_id = ? OR user_id = ?) ORDER BY role', [ws.id, ws.userIds.owner, lookalike]);
    expect(rows.map((row) => [row.user_id, row.role])).toEqual([
      [lookalike, 'MEMBER'],
      [ws.userIds.owner, 'OWNER'],
    ]);
    expect(expectData(await t.gql(KEY_STATUS, { w: ws.id }, ws.tokens.owner)).aiInferenceKey.canManage).toBe(true);
  });

  it('request ids differing only in case or a trailing space are different calls, each recorded once', async () => {
    const { t } = world;
    const ws = await seedWorkspace(t, undefined, 'Lookalike requests');
    const requestId = `CaseX-${ws.id.slice(0, 8)}`;
    const ids = [requestId, requestId.toLowerCase(), `${requestId} `];
    const records = [];
    for (const id of ids) records.push(await recordOk(t, callInput(ws.id, { requestId: id })));
    expect(new Set(records.map((record) => record.id)).size).toBe(3);
    expect(records.map((record) => record.requestId)).toEqual(ids);
    // and a retry of each still finds its own record
    for (const [i, id] of ids.entries()) expect((await recordOk(t, callInput(ws.id, { requestId: id }))).id).toBe(records[i].id);
  });

  it('the gateway takes X-Request-Id `GW-A` and `gw-a` as two calls', async () => {
    const { t } = world;
    const ws = await byokWorkspace(t, undefined, 'Lookalike gateway ids');
    const upper = `GW-A-${ws.id.slice(0, 8)}`;
    for (const requestId of [upper, upper.toLowerCase()]) {
      expect((await callGateway(t, { workspaceId: ws.id, requestId })).status).toBe(200);
    }
    // another body under the first id: that id, and only it, is used (a same-body retry would be replayed)
    const reused = await callGateway(t, { workspaceId: ws.id, requestId: upper, body: { ...CHAT_BODY, messages: [{ role: 'user', content: 'Another question' }] } });
    expect({ status: reused.status, code: reused.json?.error?.code }).toEqual({ status: 409, code: 'REQUEST_ID_USED' });
  });

  it('analytics keeps models that differ only in case apart', async () => {
    const { t } = world;
    const ws = await seedWorkspace(t, undefined, 'Lookalike models');
    const at = '2025-06-10T10:00:00.000Z';
    for (const model of ['openai/gpt-4o', 'OpenAI/GPT-4o', 'openai/gpt-4o ']) await recordOk(t, callInput(ws.id, { model, occurredAt: at }));
    const buckets = dataOf(await t.gql(LLM_ANALYTICS, { w: ws.id, from: '2025-06-01T00:00:00.000Z', to: '2025-07-01T00:00:00.000Z', groupBy: 'MODEL' }, ws.tokens.owner)).llmAnalytics;
    const callsByModel = Object.fromEntries(buckets.map((bucket: { key: string; calls: number }) => [bucket.key, bucket.calls]));
    expect(callsByModel).toEqual({ 'openai/gpt-4o': 1, 'OpenAI/GPT-4o': 1, 'openai/gpt-4o ': 1 });
  });
});
