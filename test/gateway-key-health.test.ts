import { Plan } from '../src/modules/workspace/workspace.enums';
import { KEY_STATUS, SAVE_KEY } from './support/documents';
import { expectData, expectErrorCode } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { CHAT_BODY, callGateway, openGateway, readAnswer, recordFor, storedRecords } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, replaceKey, startGatewayWorld, tierPrice } from './support/gateway-setup';
import { canaryKey } from './support/leak-search';

/**
 * SPEC.md "Inference gateway": what OpenRouter's refusal of a workspace's key does. The key is
 * marked INVALID / OUT_OF_CREDITS / LIMIT_EXCEEDED where members can see it, the caller gets the
 * upstream status with a message that names cause and fix (never OpenRouter's own body), the mark
 * clears on the next success or a replacement, and the opt-in fallback retries once on the
 * platform key. Keys are verified live on save here, so a saved key starts ACTIVE.
 */

const SET_FALLBACK = `mutation($w: ID!, $f: ByokFallback!) { setByokFallback(workspaceId: $w, fallback: $f) { id byokFallback } }`;
const FALLBACK_OF = `query($id: ID!) { workspace(id: $id) { byokFallback } }`;

interface Refusal {
  status: number;
  upstreamMessage: string;
  keyStatus: string;
  code: string;
  /** what the gateway's message must say: the cause, and every part of the fix */
  cause: RegExp;
  fix: RegExp[];
}

const REFUSALS: Array<[string, Refusal]> = [
  [
    '401 invalid key',
    { status: 401, upstreamMessage: 'User not found.', keyStatus: 'INVALID', code: 'BYOK_KEY_INVALID', cause: /invalid or disabled/i, fix: [/replace it/i, /remove it/i] },
  ],
  [
    '402 out of credits',
    {
      status: 402,
      upstreamMessage: 'Insufficient credits. Add more using https://openrouter.ai/credits',
      keyStatus: 'OUT_OF_CREDITS',
      code: 'BYOK_OUT_OF_CREDITS',
      cause: /out of credits/i,
      fix: [/top up/i, /credits/i, /remove the key/i],
    },
  ],
  [
    '403 key limit exceeded',
    {
      status: 403,
      upstreamMessage: 'Key limit exceeded (total limit). Manage it using https://openrouter.ai/settings/keys',
      keyStatus: 'LIMIT_EXCEEDED',
      code: 'BYOK_LIMIT_EXCEEDED',
      cause: /limit/i,
      fix: [/raise the key's limit/i, /remove the key/i],
    },
  ],
];

describe('gateway: key health', () => {
  let world: GatewayWorld;

  beforeAll(async () => {
    world = await startGatewayWorld({ openrouterVerifyKeys: true });
  });
  afterAll(() => world.close());

  const statusSeenBy = async (ws: SeededWorkspace, token = ws.tokens.member) =>
    expectData(await world.t.gql(KEY_STATUS, { w: ws.id }, token)).aiInferenceKey;

  const chatRequestsFor = (workspaceRequestId: string) =>
    world.fake.requestsTo('POST', '/chat/completions').filter((request) => request.headers['x-request-id'] === workspaceRequestId);

  /** Programs the fake to refuse `key` the next time it is used, with a body the client must never see. */
  const refuseOnce = (key: string, refusal: Refusal, marker: string) =>
    world.fake.chatCompletion({ status: refusal.status, errorMessage: `${refusal.upstreamMessage} ${marker}` }, { key, times: 1 });

  describe.each(REFUSALS)('%s', (_label, refusal) => {
    it(`marks the key ${refusal.keyStatus}, answers ${refusal.status} with cause and fix, relays nothing of OpenRouter's body`, async () => {
      const ws = await byokWorkspace(world.t);
      expect((await statusSeenBy(ws)).status).toBe('ACTIVE');
      const marker = `upstream-detail-${freshRequestId()}`;
      refuseOnce(ws.key, refusal, marker);
      const requestId = freshRequestId('refused');
      const answer = await callGateway(world.t, { workspaceId: ws.id, requestId, actorUserId: ws.userIds.member });

      expect(answer.status).toBe(refusal.status);
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers['x-key-source']).toBe('BYOK');
      expect(answer.json?.error?.code).toBe(refusal.code);
      const message: string = answer.json?.error?.message ?? '';
      expect(message).toMatch(refusal.cause);
      for (const part of refusal.fix) expect(message).toMatch(part);
      expect(answer.text).not.toContain(marker);
      expect(answer.text).not.toContain(refusal.upstreamMessage);
      expect(answer.text).not.toContain(ws.key);

      // Exactly one upstream request (no fallback by default), nothing recorded.
      expect(chatRequestsFor(requestId)).toHaveLength(1);
      expect(chatRequestsFor(requestId)[0].bearer).toBe(ws.key);
      expect(await storedRecords(world.t, ws.id)).toEqual([]);

      const seen = await statusSeenBy(ws);
      expect(seen).toMatchObject({ configured: true, status: refusal.keyStatus, canManage: false });
      expect(seen.lastCheckedAt).toEqual(expect.any(String));

      // The next success clears it.
      const next = freshRequestId('recovered');
      const ok = await callGateway(world.t, { workspaceId: ws.id, requestId: next });
      expect(ok.status).toBe(200);
      expect(ok.headers['x-key-source']).toBe('BYOK');
      await recordFor(world.t, ws.id, next);
      expect((await statusSeenBy(ws)).status).toBe('ACTIVE');
    });

    it(`a streaming request refused the same way is marked ${refusal.keyStatus} too`, async () => {
      const ws = await byokWorkspace(world.t);
      refuseOnce(ws.key, refusal, 'stream-marker');
      const { response } = await openGateway(world.t, { workspaceId: ws.id, body: { ...CHAT_BODY, stream: true } });
      const answer = await readAnswer(response);
      expect(answer.status).toBe(refusal.status);
      expect(answer.json?.error?.code).toBe(refusal.code);
      expect(answer.text).not.toContain('stream-marker');
      expect((await statusSeenBy(ws)).status).toBe(refusal.keyStatus);
    });

    it('replaceKey clears the mark', async () => {
      const ws = await byokWorkspace(world.t);
      refuseOnce(ws.key, refusal, 'replace-marker');
      expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(refusal.status);
      expect((await statusSeenBy(ws)).status).toBe(refusal.keyStatus);
      const replacement = canaryKey();
      await replaceKey(world.t, ws, replacement);
      expect((await statusSeenBy(ws)).status).toBe('ACTIVE');
      const answer = await callGateway(world.t, { workspaceId: ws.id });
      expect(answer.status).toBe(200);
      expect(world.fake.lastRequest?.bearer).toBe(replacement);
      expect((await statusSeenBy(ws)).status).toBe('ACTIVE');
    });

    it('a fallback change reaches the very next call, though the gateway keeps a copy of the workspace', async () => {
      const ws = await byokWorkspace(world.t);
      // The gateway now holds the workspace as it was: no fallback.
      expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(200);
      expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.billing));
      refuseOnce(ws.key, refusal, 'copy-marker');
      world.fake.chatCompletion({ usage: { prompt_tokens: 1000, completion_tokens: 500, cost: 0.004 } }, { key: world.platformKey, times: 1 });
      const answer = await callGateway(world.t, { workspaceId: ws.id });
      expect(answer.status).toBe(200);
      expect(answer.headers['x-key-source']).toBe('PLATFORM');
    });

    it('with byokFallback PLATFORM the call is retried once on the platform key and billed as a platform call', async () => {
      const ws = await byokWorkspace(world.t);
      expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.billing));
      refuseOnce(ws.key, refusal, 'fallback-marker');
      world.fake.chatCompletion({ usage: { prompt_tokens: 1000, completion_tokens: 500, cost: 0.004 } }, { key: world.platformKey, times: 1 });
      const requestId = freshRequestId('fallback');
      const body = { ...CHAT_BODY, temperature: 0.5 };
      const answer = await callGateway(world.t, { workspaceId: ws.id, requestId, body });

      expect(answer.status).toBe(200);
      expect(answer.headers['x-key-source']).toBe('PLATFORM');
      expect(answer.text).not.toContain('fallback-marker');
      expect(answer.json?.choices?.[0]?.message?.content).toEqual(expect.any(String));
      const upstream = chatRequestsFor(requestId);
      expect(upstream.map((request) => request.bearer)).toEqual([ws.key, world.platformKey]);
      expect(upstream[1].body).toEqual(upstream[0].body);
      expect(upstream[1].body).toEqual({ ...body, usage: { include: true } });

      const record = await recordFor(world.t, ws.id, requestId);
      expect(record).toMatchObject({ keySource: 'PLATFORM', tierPriceMicros: tierPrice('BALANCED', 1000, 500), billedMicros: tierPrice('BALANCED', 1000, 500), rawCostMicros: 4000 });
      expect(await storedRecords(world.t, ws.id)).toHaveLength(1);
      // The refusal is still reported to the members.
      expect((await statusSeenBy(ws)).status).toBe(refusal.keyStatus);
    });
  });

  it('byokFallback defaults to NONE, and only Manage billing holders may change it', async () => {
    const ws = await byokWorkspace(world.t);
    expect(expectData(await world.t.gql(FALLBACK_OF, { id: ws.id }, ws.tokens.member)).workspace.byokFallback).toBe('NONE');
    for (const token of [ws.tokens.member, ws.tokens.outsider]) {
      expectErrorCode(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, token), 'FORBIDDEN');
    }
    expectErrorCode(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }), 'UNAUTHENTICATED');
    expect(expectData(await world.t.gql(FALLBACK_OF, { id: ws.id }, ws.tokens.member)).workspace.byokFallback).toBe('NONE');

    for (const [token, value] of [
      [ws.tokens.owner, 'PLATFORM'],
      [ws.tokens.admin, 'NONE'],
      [ws.tokens.billing, 'PLATFORM'],
    ] as const) {
      expect(expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: value }, token)).setByokFallback).toEqual({ id: ws.id, byokFallback: value });
      expect(expectData(await world.t.gql(FALLBACK_OF, { id: ws.id }, ws.tokens.member)).workspace.byokFallback).toBe(value);
    }
    expectErrorCode(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'SOMETIMES' }, ws.tokens.owner), 'BAD_USER_INPUT');
  });

  it('with fallback NONE a refusal is not retried: exactly one upstream request', async () => {
    const ws = await byokWorkspace(world.t);
    expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.owner));
    expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'NONE' }, ws.tokens.owner));
    world.fake.chatCompletion({ status: 402 }, { key: ws.key, times: 1 });
    const requestId = freshRequestId('no-fallback');
    const answer = await callGateway(world.t, { workspaceId: ws.id, requestId });
    expect(answer.status).toBe(402);
    expect(answer.headers['x-key-source']).toBe('BYOK');
    expect(chatRequestsFor(requestId).map((request) => request.bearer)).toEqual([ws.key]);
    expect(await storedRecords(world.t, ws.id)).toEqual([]);
  });

  it('fallback retries once only: when the platform key fails too, its answer is relayed and nothing is recorded', async () => {
    const ws = await byokWorkspace(world.t);
    expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.billing));
    world.fake.chatCompletion({ status: 401 }, { key: ws.key, times: 1 });
    world.fake.chatCompletion({ status: 503, errorMessage: 'platform outage' }, { key: world.platformKey, times: 1 });
    const requestId = freshRequestId('both-fail');
    const answer = await callGateway(world.t, { workspaceId: ws.id, requestId });
    expect(answer.status).toBe(503);
    expect(answer.headers['x-key-source']).toBe('PLATFORM');
    expect(chatRequestsFor(requestId).map((request) => request.bearer)).toEqual([ws.key, world.platformKey]);
    expect(await storedRecords(world.t, ws.id)).toEqual([]);
    expect((await statusSeenBy(ws)).status).toBe('INVALID');
  });

  it('fallback applies to key refusals only: an upstream 5xx or another 403 on the workspace key is relayed, not retried', async () => {
    const ws = await byokWorkspace(world.t);
    expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.billing));
    world.fake.chatCompletion({ status: 502, errorMessage: 'Provider returned error' }, { key: ws.key, times: 1 });
    const first = freshRequestId('5xx');
    const answer = await callGateway(world.t, { workspaceId: ws.id, requestId: first });
    expect(answer.status).toBe(502);
    expect(answer.json).toEqual({ error: { code: 502, message: 'Provider returned error' } });
    expect(chatRequestsFor(first)).toHaveLength(1);

    // A 403 that is not about the key's limit (e.g. moderation) says nothing about the key.
    const moderation = { error: { code: 403, message: 'Your input was flagged by moderation', metadata: { reasons: ['violence'] } } };
    world.fake.chatCompletion({ status: 403, body: moderation }, { key: ws.key, times: 1 });
    const second = freshRequestId('moderated');
    const moderated = await callGateway(world.t, { workspaceId: ws.id, requestId: second });
    expect(moderated.status).toBe(403);
    expect(moderated.json).toEqual(moderation);
    expect(moderated.headers['x-key-source']).toBe('BYOK');
    expect(chatRequestsFor(second)).toHaveLength(1);
    expect((await statusSeenBy(ws)).status).toBe('ACTIVE');
    expect(await storedRecords(world.t, ws.id)).toEqual([]);
  });

  it('a refusal of the platform key marks nothing and is relayed as OpenRouter sent it', async () => {
    const ws = await seedWorkspace(world.t, Plan.PRO, 'Platform refused');
    world.fake.chatCompletion({ status: 402 }, { key: world.platformKey, times: 1 });
    const answer = await callGateway(world.t, { workspaceId: ws.id });
    expect(answer.status).toBe(402);
    expect(answer.headers['x-key-source']).toBe('PLATFORM');
    expect(answer.json?.error?.code).toBe(402);
    expect((await statusSeenBy(ws)).status).toBeNull();
    expect(await storedRecords(world.t, ws.id)).toEqual([]);
  });

  it('a key saved while OpenRouter was unreachable is UNVERIFIED until its first success', async () => {
    const ws = await seedWorkspace(world.t, Plan.ENTERPRISE, 'Unverified');
    const key = canaryKey();
    world.fake.keyInfo({ status: 503 }, { key, times: 1 });
    expectData(await world.t.gql(SAVE_KEY, { w: ws.id, k: key }, ws.tokens.owner));
    expect((await statusSeenBy(ws)).status).toBe('UNVERIFIED');
    expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(200);
    expect(world.fake.lastRequest?.bearer).toBe(key);
    expect((await statusSeenBy(ws)).status).toBe('ACTIVE');
  });

  it("a refusal of a key that was replaced meanwhile does not land on the replacement", async () => {
    const ws = await byokWorkspace(world.t);
    const replacement = canaryKey();
    world.fake.chatCompletion({ status: 401, delayMs: 600 }, { key: ws.key, times: 1 });
    const already = world.fake.requests.length;
    const slow = callGateway(world.t, { workspaceId: ws.id });
    const [inFlight] = (await world.fake.waitForRequests(already + 1)).slice(already);
    expect(inFlight.bearer).toBe(ws.key);
    await replaceKey(world.t, ws, replacement);
    const refused = await slow;
    expect(refused.status).toBe(401);
    // The verdict was about the old key: the new one keeps its own status.
    expect((await statusSeenBy(ws)).status).toBe('ACTIVE');
    const next = await callGateway(world.t, { workspaceId: ws.id });
    expect(next.status).toBe(200);
    expect(world.fake.lastRequest?.bearer).toBe(replacement);
  });
});
