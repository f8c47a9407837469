import { Plan } from '../src/modules/workspace/workspace.enums';
import { CHAT_BODY, callGateway, openGateway, readAnswer, recordFor } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, replaceKey, startGatewayWorld, tierPrice } from './support/gateway-setup';
import { canaryKey } from './support/leak-search';
import { expectData } from './support/expectations';
import { seedWorkspace } from './support/fixtures';
import { findLeak } from './support/leak-search';
import { TEST_SERVICE_TOKEN } from './support/test-app';

/** More of OpenRouter's behaviour, as the gateway meets it: streams, fairness between workspaces. */
describe('gateway and OpenRouter', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    world = await startGatewayWorld({ gatewayMaxConcurrentPerWorkspace: 2 });
  });
  afterAll(() => world.close());

  /** POST /v1/embeddings as the inference runtime sends it. */
  async function embed(workspaceId: string, path: string, requestId: string, body: unknown = { model: 'openai/text-embedding-3-small', input: ['first', 'second'] }) {
    const answer = await fetch(`${world.t.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_SERVICE_TOKEN}`, 'content-type': 'application/json', 'x-workspace-id': workspaceId, 'x-inference-path': path, 'x-request-id': requestId },
      body: JSON.stringify(body),
    });
    const text = await answer.text();
    return { status: answer.status, headers: answer.headers, text, json: JSON.parse(text) as Record<string, any> };
  }

  it("relays embeddings on the workspace's key for user paths and records them, tokens and cost from the answer's usage", async () => {
    const ws = await byokWorkspace(world.t);
    world.fake.embeddings({ usage: { prompt_tokens: 40, total_tokens: 40, cost: 0.00002 } }, { key: ws.key });
    const requestId = freshRequestId('embed-byok');
    const answer = await embed(ws.id, 'SEMANTIC_SEARCH', requestId);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-key-source')).toBe('BYOK');
    expect(answer.json.data).toHaveLength(2);
    expect(findLeak(answer.text, ws.key)).toBeUndefined();
    const upstream = world.fake.requestsTo('POST', '/embeddings').at(-1)!;
    expect(upstream.bearer).toBe(ws.key);
    expect(upstream.body).toEqual({ model: 'openai/text-embedding-3-small', input: ['first', 'second'] });
    const record = await recordFor(world.t, ws.id, requestId);
    expect(record).toMatchObject({ path: 'SEMANTIC_SEARCH', keySource: 'BYOK', model: 'openai/text-embedding-3-small', inputTokens: 40, outputTokens: 0, rawCostMicros: 20, flagged: false });
    expect(record.billedMicros).toBe(Math.max(0, tierPrice(record.tier, 40, 0) - 20));
    // the same id and body again: the kept answer, not a second call
    expect((await embed(ws.id, 'SEMANTIC_SEARCH', requestId)).text).toBe(answer.text);
    expect(world.fake.requestsTo('POST', '/embeddings').filter((request) => request.headers['x-request-id'] === requestId)).toHaveLength(1);
  });

  it('relays embeddings on the platform key for background paths and for workspaces without a key', async () => {
    const ws = await byokWorkspace(world.t);
    const pro = await seedWorkspace(world.t, Plan.PRO, 'Pro');
    for (const [workspaceId, path] of [
      [ws.id, 'MENTION_EMBEDDING_CACHE'],
      [pro.id, 'SEMANTIC_SEARCH'],
    ]) {
      const requestId = freshRequestId('embed-platform');
      const answer = await embed(workspaceId, path, requestId, { model: 'openai/text-embedding-3-small', input: 'one' });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-key-source')).toBe('PLATFORM');
      expect(world.fake.requestsTo('POST', '/embeddings').at(-1)!.bearer).toBe(world.platformKey);
      const record = await recordFor(world.t, workspaceId, requestId);
      expect(record).toMatchObject({ path, keySource: 'PLATFORM', inputTokens: 8, outputTokens: 0 });
      expect(record.billedMicros).toBe(tierPrice(record.tier, 8, 0));
    }
  });

  it('refuses an embeddings body without a model or an input, before OpenRouter', async () => {
    const ws = await byokWorkspace(world.t);
    const before = world.fake.requestsTo('POST', '/embeddings').length;
    for (const body of [{ input: 'x' }, { model: 'openai/text-embedding-3-small' }]) {
      const answer = await embed(ws.id, 'SEMANTIC_SEARCH', freshRequestId('embed-bad'), body);
      expect(answer.status).toBe(400);
      expect(answer.json.error.code).toBe('BAD_REQUEST');
      expect(answer.headers.get('x-should-retry')).toBe('false');
    }
    expect(world.fake.requestsTo('POST', '/embeddings')).toHaveLength(before);
  });

  const LAST_REFUSAL = 'query($w: ID!) { aiInferenceKey(workspaceId: $w) { status lastRefusal { model reason at } } }';
  const SET_FALLBACK = 'mutation($w: ID!, $f: ByokFallback!) { setByokFallback(workspaceId: $w, fallback: $f) { id byokFallback } }';

  it("OpenRouter's 404 'No allowed providers' on the workspace's key: diagnosed into lastRefusal and named in the answer, the key's status unchanged", async () => {
    const ws = await byokWorkspace(world.t);
    expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(200);
    const model = 'anthropic/claude-opus-4';
    world.fake.chatCompletion({ status: 404, errorMessage: 'No allowed providers are available for the selected model.' }, { times: 1, key: ws.key });
    const before = Date.now();
    const refused = await callGateway(world.t, { workspaceId: ws.id, body: { ...CHAT_BODY, model } });
    expect(refused.status).toBe(404);
    expect(refused.json?.error?.code).toBe('BYOK_MODEL_REFUSED');
    expect(refused.json?.error?.message).toContain(model);
    expect(refused.json?.error?.message).toMatch(/provider settings/);
    expect(refused.headers['x-should-retry']).toBe('false');
    expect(refused.headers['x-key-source']).toBe('BYOK');

    const key = expectData(await world.t.gql(LAST_REFUSAL, { w: ws.id }, ws.tokens.member)).aiInferenceKey;
    expect(key.status).toBe('ACTIVE');
    expect(key.lastRefusal).toMatchObject({ model, reason: expect.stringMatching(/^No allowed providers/) });
    expect(new Date(key.lastRefusal.at).getTime()).toBeGreaterThanOrEqual(before - 1000);
    // another model still works on the key
    expect((await callGateway(world.t, { workspaceId: ws.id })).headers['x-key-source']).toBe('BYOK');

    // opt-in fallback: the platform key answers
    expectData(await world.t.gql(SET_FALLBACK, { w: ws.id, f: 'PLATFORM' }, ws.tokens.billing));
    world.fake.chatCompletion({ status: 404, errorMessage: 'No allowed providers are available for the selected model.' }, { times: 1, key: ws.key });
    const fellBack = await callGateway(world.t, { workspaceId: ws.id, body: { ...CHAT_BODY, model } });
    expect(fellBack.status).toBe(200);
    expect(fellBack.headers['x-key-source']).toBe('PLATFORM');

    // a refusal of the previous key is not shown for the new one
    await replaceKey(world.t, ws, canaryKey());
    expect(expectData(await world.t.gql(LAST_REFUSAL, { w: ws.id }, ws.tokens.member)).aiInferenceKey.lastRefusal).toBeNull();
  });

  it('a 404 for another reason is relayed as it is, and noted nowhere', async () => {
    const ws = await byokWorkspace(world.t);
    world.fake.chatCompletion({ status: 404, errorMessage: 'Model not found' }, { times: 1, key: ws.key });
    const answer = await callGateway(world.t, { workspaceId: ws.id });
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: { code: 404, message: 'Model not found' } });
    expect(expectData(await world.t.gql(LAST_REFUSAL, { w: ws.id }, ws.tokens.member)).aiInferenceKey.lastRefusal).toBeNull();
  });

  it('streams carry X-Accel-Buffering: no, and a stream whose chunks name no model is recorded under the model asked for', async () => {
    const ws = await byokWorkspace(world.t);
    const requestId = freshRequestId('no-model');
    world.fake.chatCompletion({ omitModel: true }, { times: 1 });
    const answer = await callGateway(world.t, { workspaceId: ws.id, requestId, body: { ...CHAT_BODY, model: 'mistralai/mistral-small', stream: true } });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-accel-buffering']).toBe('no');
    expect(answer.text).not.toContain('mistralai/mistral-small');
    expect((await recordFor(world.t, ws.id, requestId)).model).toBe('mistralai/mistral-small');
    // not streamed: nothing to say to a buffering proxy
    expect((await callGateway(world.t, { workspaceId: ws.id })).headers['x-accel-buffering']).toBeUndefined();
  });

  it('at most GATEWAY_MAX_CONCURRENT_PER_WORKSPACE calls of one workspace at once: beyond, 429 CONCURRENCY_LIMIT with Retry-After, other workspaces unaffected', async () => {
    const busy = await byokWorkspace(world.t, undefined, 'Busy');
    const other = await byokWorkspace(world.t, undefined, 'Other');
    let release!: () => void;
    const held = new Promise<void>((resolveHeld) => (release = resolveHeld));
    world.fake.chatCompletion({ holdAfterEvents: 1, release: held }, { key: busy.key });
    const streams = await Promise.all([1, 2].map(() => openGateway(world.t, { workspaceId: busy.id, body: { ...CHAT_BODY, stream: true } })));
    expect(streams.map((stream) => stream.response.statusCode)).toEqual([200, 200]);

    const refused = await callGateway(world.t, { workspaceId: busy.id });
    expect(refused.status).toBe(429);
    expect(refused.json?.error?.code).toBe('CONCURRENCY_LIMIT');
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['x-should-retry']).toBeUndefined();
    expect((await callGateway(world.t, { workspaceId: other.id })).status).toBe(200);

    release();
    await Promise.all(streams.map((stream) => readAnswer(stream.response)));
    world.fake.reset();
    expect((await callGateway(world.t, { workspaceId: busy.id })).status).toBe(200);
  });
});
