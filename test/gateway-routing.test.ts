import { KEY_POLICY, KeyPolicy } from '../src/modules/gateway/key-policy';
import { InferencePath } from '../src/modules/usage/usage.enums';
import { CHANGE_PLAN } from './support/documents';
import { expectData } from './support/expectations';
import { seedWorkspace } from './support/fixtures';
import { CHAT_BODY, callGateway, openGateway, recordFor, storedRecords } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, removeKey, replaceKey, startGatewayWorld, tierPrice } from './support/gateway-setup';
import { canaryKey } from './support/leak-search';

/**
 * SPEC.md "Which key a call uses" and "Inference gateway": the key each path runs on, what goes
 * upstream (the body unchanged, plus a request for usage accounting), what comes back (status,
 * headers that matter and body unchanged, chunk by chunk when streaming), and what is recorded.
 */

const WORKSPACE_KEY_PATHS = [
  'AGENT_RUN',
  'THREAD_REPLY_CLASSIFICATION',
  'DOCUMENT_OCR',
  'TRANSCRIPTION',
  'CANVAS_AUTOCOMPLETE',
  'MESSAGE_TRANSLATION',
  'SEMANTIC_SEARCH',
  'SEARCH_RERANKER',
];
const PLATFORM_KEY_PATHS = ['SEARCH_INDEXER', 'ATTACHMENT_TEXT_EXTRACTION', 'MENTION_EMBEDDING_CACHE'];
const ALL_PATHS: Array<[string, KeyPolicy]> = [
  ...WORKSPACE_KEY_PATHS.map((path): [string, KeyPolicy] => [path, KeyPolicy.WORKSPACE_KEY]),
  ...PLATFORM_KEY_PATHS.map((path): [string, KeyPolicy] => [path, KeyPolicy.PLATFORM_KEY]),
];

const USAGE_WITH_ACTOR = `query($w: ID!, $from: DateTime!, $to: DateTime!) {
  usage(workspaceId: $w, from: $from, to: $to) { nodes { requestId path tier keySource actor { userId role } } }
}`;

describe('gateway: which key each path uses', () => {
  let world: GatewayWorld;
  let byok: Awaited<ReturnType<typeof byokWorkspace>>;
  let keyless: Awaited<ReturnType<typeof seedWorkspace>>;

  beforeAll(async () => {
    world = await startGatewayWorld();
    byok = await byokWorkspace(world.t);
    keyless = await seedWorkspace(world.t);
  });
  afterAll(() => world.close());

  it('the policy table is the SPEC table, one row per InferencePath', () => {
    expect(Object.keys(KEY_POLICY).sort()).toEqual(Object.values(InferencePath).sort());
    expect(ALL_PATHS.map(([path]) => path).sort()).toEqual(Object.values(InferencePath).sort());
    for (const [path, policy] of ALL_PATHS) expect({ path, policy: KEY_POLICY[path as InferencePath] }).toEqual({ path, policy });
  });

  test.each(ALL_PATHS)('%s on a workspace with its own key uses the %s', async (path, policy) => {
    const requestId = freshRequestId(path);
    const answer = await callGateway(world.t, { workspaceId: byok.id, path, requestId });
    expect(answer.status).toBe(200);
    const upstream = world.fake.requestsTo('POST', '/chat/completions').find((request) => request.headers['x-request-id'] === requestId);
    expect(upstream).toBeDefined();
    const byokPath = policy === KeyPolicy.WORKSPACE_KEY;
    expect(upstream!.authorization).toBe(`Bearer ${byokPath ? byok.key : world.platformKey}`);
    expect(answer.headers['x-key-source']).toBe(byokPath ? 'BYOK' : 'PLATFORM');
    const record = await recordFor(world.t, byok.id, requestId);
    expect(record).toMatchObject({ path, keySource: byokPath ? 'BYOK' : 'PLATFORM' });
  });

  test.each(ALL_PATHS)('%s on a workspace without a key uses the platform key', async (path) => {
    const requestId = freshRequestId(path);
    const answer = await callGateway(world.t, { workspaceId: keyless.id, path, requestId });
    expect(answer.status).toBe(200);
    const upstream = world.fake.requestsTo('POST', '/chat/completions').find((request) => request.headers['x-request-id'] === requestId);
    expect(upstream?.authorization).toBe(`Bearer ${world.platformKey}`);
    expect(answer.headers['x-key-source']).toBe('PLATFORM');
    expect(await recordFor(world.t, keyless.id, requestId)).toMatchObject({ path, keySource: 'PLATFORM' });
  });

  it('a workspace on PLUS (which may not hold a key) runs every call on the platform key', async () => {
    const plus = await seedWorkspace(world.t, 'PLUS' as never, 'Plus');
    const requestId = freshRequestId('plus');
    const answer = await callGateway(world.t, { workspaceId: plus.id, path: 'AGENT_RUN', requestId });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-key-source']).toBe('PLATFORM');
    expect(world.fake.lastRequest?.authorization).toBe(`Bearer ${world.platformKey}`);
  });
});

describe('gateway: what goes upstream and what comes back', () => {
  let world: GatewayWorld;
  let byok: Awaited<ReturnType<typeof byokWorkspace>>;

  beforeAll(async () => {
    world = await startGatewayWorld();
    byok = await byokWorkspace(world.t);
  });
  afterAll(() => world.close());
  beforeEach(() => world.fake.reset());

  it('forwards the body unchanged except that it asks for usage accounting', async () => {
    const body = {
      model: 'anthropic/claude-sonnet-4',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Grüße, 世界 — "quoted" \\ back\nslash' }] },
      ],
      temperature: 0.2,
      max_tokens: 64,
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
      provider: { order: ['Anthropic'], allow_fallbacks: false },
      transforms: [],
      stop: null,
    };
    const answer = await callGateway(world.t, { workspaceId: byok.id, body });
    expect(answer.status).toBe(200);
    const upstream = world.fake.requestsTo('POST', '/chat/completions');
    expect(upstream).toHaveLength(1);
    expect(upstream[0].body).toEqual({ ...body, usage: { include: true } });
    expect(upstream[0].headers['content-type']).toMatch(/^application\/json/);
  });

  it('asks for usage accounting even when the client asked not to', async () => {
    const answer = await callGateway(world.t, { workspaceId: byok.id, body: { ...CHAT_BODY, usage: { include: false } } });
    expect(answer.status).toBe(200);
    expect(world.fake.lastRequest?.body).toEqual({ ...CHAT_BODY, usage: { include: true } });
  });

  it('relays a non-streaming answer unchanged: status, body bytes and the headers that matter', async () => {
    const upstreamBody = {
      id: 'gen-exact-1',
      object: 'chat.completion',
      model: 'openai/gpt-4o-mini',
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Exactly this, ünïcødé and all.' } }],
      usage: { prompt_tokens: 7, completion_tokens: 9, total_tokens: 16, cost: 0.00002, is_byok: false, cost_details: { upstream_inference_cost: null } },
    };
    world.fake.chatCompletion({ body: upstreamBody, headers: { 'x-ratelimit-remaining': '41', 'x-ratelimit-limit': '42' } });
    const requestId = freshRequestId('plain');
    const answer = await callGateway(world.t, { workspaceId: byok.id, requestId });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(JSON.stringify(upstreamBody));
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['x-ratelimit-remaining']).toBe('41');
    expect(answer.headers['x-ratelimit-limit']).toBe('42');
    expect(answer.headers['x-key-source']).toBe('BYOK');
    expect(answer.headers['x-request-id']).toBe(requestId);
    const record = await recordFor(world.t, byok.id, requestId);
    expect(record).toMatchObject({ model: 'openai/gpt-4o-mini', inputTokens: 7, outputTokens: 9, rawCostMicros: 20, flagged: false });
  });

  it('relays a stream intact, event by event, and records the usage of its final chunk', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolveRelease) => {
      release = resolveRelease;
    });
    world.fake.chatCompletion({
      chunks: ['Once ', 'upon ', 'a ', 'time, ', 'ünïcødé ✓'],
      usage: { prompt_tokens: 1000, completion_tokens: 500, cost: 0.004, is_byok: false },
      model: 'openai/gpt-4o',
      processingComments: 1,
      holdAfterEvents: 2,
      release: released,
    });
    const requestId = freshRequestId('stream');
    const { response } = await openGateway(world.t, { workspaceId: byok.id, requestId, body: { ...CHAT_BODY, stream: true } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.headers['x-key-source']).toBe('BYOK');

    // The fake holds the rest of the stream back until the client has the first events: the
    // gateway must relay as it receives, not buffer the answer.
    const received: Buffer[] = [];
    const firstEvents = new Promise<void>((resolveFirst) => {
      response.on('data', (chunk: Buffer) => {
        received.push(chunk);
        if (Buffer.concat(received).toString('utf8').includes('Once ')) resolveFirst();
      });
    });
    await firstEvents;
    const upstream = world.fake.requestsTo('POST', '/chat/completions')[0];
    expect(upstream.sent.length).toBe(2);
    expect(Buffer.concat(received).equals(Buffer.concat(upstream.sent))).toBe(true);
    release();
    await new Promise<void>((resolveEnd) => response.on('end', () => resolveEnd()));

    expect(Buffer.concat(received).equals(Buffer.concat(upstream.sent))).toBe(true);
    const sent = Buffer.concat(upstream.sent).toString('utf8');
    expect(sent).toContain('data: [DONE]');
    expect(sent).toContain('"usage"');

    const record = await recordFor(world.t, byok.id, requestId);
    expect(record).toMatchObject({
      model: 'openai/gpt-4o',
      keySource: 'BYOK',
      inputTokens: 1000,
      outputTokens: 500,
      rawCostMicros: 4000,
      tierPriceMicros: tierPrice('BALANCED', 1000, 500),
      billedMicros: tierPrice('BALANCED', 1000, 500) - 4000,
      flagged: false,
    });
  });

  it('relays a stream whose events arrive split across chunks in odd places, byte for byte', async () => {
    world.fake.chatCompletion({ chunks: ['α', 'β', 'γ'], usage: { prompt_tokens: 3, completion_tokens: 4, cost: 0.000001 }, splitWrites: 7 });
    const requestId = freshRequestId('split');
    const answer = await callGateway(world.t, { workspaceId: byok.id, requestId, body: { ...CHAT_BODY, stream: true } });
    expect(answer.status).toBe(200);
    const upstream = world.fake.requestsTo('POST', '/chat/completions')[0];
    expect(upstream.sent.length).toBeGreaterThan(20);
    expect(Buffer.concat(answer.chunks).equals(Buffer.concat(upstream.sent))).toBe(true);
    expect(await recordFor(world.t, byok.id, requestId)).toMatchObject({ inputTokens: 3, outputTokens: 4, rawCostMicros: 1 });
  });

  it('uses X-Model-Tier when given, else the workspace default tier', async () => {
    const frontierDefault = expectData(
      await world.t.gql<{ createWorkspace: { id: string; defaultTier: string } }>(
        'mutation { createWorkspace(name: "Frontier by default", plan: PRO, defaultTier: FRONTIER) { id defaultTier } }',
        {},
        byok.adminToken,
      ),
    ).createWorkspace;
    expect(frontierDefault.defaultTier).toBe('FRONTIER');
    world.fake.chatCompletion({ usage: { prompt_tokens: 2000, completion_tokens: 1000 } });

    const byDefault = freshRequestId('default-tier');
    expect((await callGateway(world.t, { workspaceId: frontierDefault.id, requestId: byDefault })).status).toBe(200);
    expect(await recordFor(world.t, frontierDefault.id, byDefault)).toMatchObject({ tier: 'FRONTIER', tierPriceMicros: tierPrice('FRONTIER', 2000, 1000) });

    for (const tier of ['COST_EFFECTIVE', 'BALANCED', 'FRONTIER']) {
      const requestId = freshRequestId(tier);
      expect((await callGateway(world.t, { workspaceId: frontierDefault.id, requestId, tier })).status).toBe(200);
      expect(await recordFor(world.t, frontierDefault.id, requestId)).toMatchObject({ tier, tierPriceMicros: tierPrice(tier, 2000, 1000) });
    }
    // The BYOK workspace was created with the default BALANCED.
    const balanced = freshRequestId('balanced-default');
    expect((await callGateway(world.t, { workspaceId: byok.id, requestId: balanced })).status).toBe(200);
    expect((await recordFor(world.t, byok.id, balanced)).tier).toBe('BALANCED');
  });

  it('records X-Actor-User-Id as the call\'s actor', async () => {
    const requestId = freshRequestId('actor');
    const answer = await callGateway(world.t, { workspaceId: byok.id, requestId, actorUserId: byok.userIds.member, path: 'CANVAS_AUTOCOMPLETE' });
    expect(answer.status).toBe(200);
    expect((await recordFor(world.t, byok.id, requestId)).actorUserId).toBe(byok.userIds.member);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const usage = expectData(await world.t.gql(USAGE_WITH_ACTOR, { w: byok.id, from, to }, byok.tokens.billing));
    const node = usage.usage.nodes.find((candidate: { requestId: string }) => candidate.requestId === requestId);
    expect(node).toEqual({ requestId, path: 'CANVAS_AUTOCOMPLETE', tier: 'BALANCED', keySource: 'BYOK', actor: { userId: byok.userIds.member, role: 'MEMBER' } });

    const anonymous = freshRequestId('no-actor');
    expect((await callGateway(world.t, { workspaceId: byok.id, requestId: anonymous })).status).toBe(200);
    expect((await recordFor(world.t, byok.id, anonymous)).actorUserId).toBeNull();
  });

  it('the same X-Request-Id twice records once: the retry gets the kept answer, another body answers 409 REQUEST_ID_USED, neither reaches OpenRouter', async () => {
    const requestId = freshRequestId('twice');
    const first = await callGateway(world.t, { workspaceId: byok.id, requestId });
    expect(first.status).toBe(200);
    const record = await recordFor(world.t, byok.id, requestId);
    const retry = await callGateway(world.t, { workspaceId: byok.id, requestId });
    expect(retry.status).toBe(200);
    expect(retry.text).toBe(first.text);
    expect(retry.headers['x-key-source']).toBe('BYOK');
    const other = await callGateway(world.t, { workspaceId: byok.id, requestId, body: { ...CHAT_BODY, messages: [{ role: 'user', content: 'Something else' }] } });
    expect(other.status).toBe(409);
    expect(other.json?.error?.code).toBe('REQUEST_ID_USED');
    expect(other.json?.error?.message).toContain(requestId);
    expect(other.json?.error?.message).toContain(record.id);
    expect(other.json?.error?.recordId).toBe(record.id);
    expect(other.headers['x-should-retry']).toBe('false');
    expect(world.fake.requestsTo('POST', '/chat/completions').filter((request) => request.headers['x-request-id'] === requestId)).toHaveLength(1);
    expect((await storedRecords(world.t, byok.id)).filter((stored) => stored.requestId === requestId)).toHaveLength(1);
  });

  it('concurrent calls with one X-Request-Id: one reaches OpenRouter and is recorded, the others wait for it and get its answer', async () => {
    const requestId = freshRequestId('concurrent');
    world.fake.chatCompletion({ delayMs: 100 }, { when: (request) => request.headers['x-request-id'] === requestId });
    const answers = await Promise.all(Array.from({ length: 5 }, () => callGateway(world.t, { workspaceId: byok.id, requestId })));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((answer) => answer.text)).size).toBe(1);
    // only one of them reached OpenRouter
    expect(world.fake.requestsTo('POST', '/chat/completions').filter((request) => request.headers['x-request-id'] === requestId)).toHaveLength(1);
    await recordFor(world.t, byok.id, requestId);
    expect((await storedRecords(world.t, byok.id)).filter((record) => record.requestId === requestId)).toHaveLength(1);
  });

  it('generates a request id when none is given: in the response header, upstream and on the record', async () => {
    const before = new Set((await storedRecords(world.t, byok.id)).map((record) => record.requestId));
    const answer = await callGateway(world.t, { workspaceId: byok.id });
    expect(answer.status).toBe(200);
    const generated = answer.headers['x-request-id'];
    expect(typeof generated).toBe('string');
    expect(generated).toMatch(/^[\x21-\x7e]{8,128}$/);
    expect(before.has(generated as string)).toBe(false);
    expect(world.fake.lastRequest?.headers['x-request-id']).toBe(generated);
    expect((await recordFor(world.t, byok.id, generated as string)).requestId).toBe(generated);

    const another = await callGateway(world.t, { workspaceId: byok.id });
    expect(another.headers['x-request-id']).not.toBe(generated);
  });
});

describe('gateway: key changes reach the very next call on the same server', () => {
  let world: GatewayWorld;
  beforeAll(async () => {
    // A long TTL: only invalidation can explain a new key being used.
    world = await startGatewayWorld({ secretsCacheTtlMs: 3_600_000 });
  });
  afterAll(() => world.close());

  /** How many times the gateway read the workspace's secrets from the database during `work`. */
  const countLoads = async (w: GatewayWorld, workspaceId: string, work: () => Promise<void>): Promise<number> => {
    const cache = w.t.app.seam.secretsCache;
    const original = cache.get.bind(cache);
    let loads = 0;
    cache.get = (id, load) => original(id, id === workspaceId ? () => ((loads += 1), load()) : load);
    try {
      await work();
    } finally {
      cache.get = original;
    }
    return loads;
  };

  const bearerOfNextCall = async (workspaceId: string): Promise<{ bearer?: string; source: unknown }> => {
    const requestId = freshRequestId('next');
    const answer = await callGateway(world.t, { workspaceId, requestId });
    expect(answer.status).toBe(200);
    const upstream = world.fake.requestsTo('POST', '/chat/completions').find((request) => request.headers['x-request-id'] === requestId);
    return { bearer: upstream?.bearer, source: answer.headers['x-key-source'] };
  };

  it('after replaceKey the next call uses the new key', async () => {
    const ws = await byokWorkspace(world.t);
    // The first success marks the key ACTIVE (which drops the entry); the second caches it.
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: ws.key, source: 'BYOK' });
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: ws.key, source: 'BYOK' });
    const loadsBefore = await countLoads(world, ws.id, async () => {
      expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: ws.key, source: 'BYOK' });
    });
    expect(loadsBefore).toBe(0); // served from the cache
    const replacement = canaryKey();
    await replaceKey(world.t, ws, replacement);
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: replacement, source: 'BYOK' });
  });

  it('after removeKey the next call uses the platform key', async () => {
    const ws = await byokWorkspace(world.t);
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: ws.key, source: 'BYOK' });
    await removeKey(world.t, ws);
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: world.platformKey, source: 'PLATFORM' });
  });

  it('after changePlan(PRO) the next call uses the platform key', async () => {
    const ws = await byokWorkspace(world.t);
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: ws.key, source: 'BYOK' });
    expectData(await world.t.gql(CHANGE_PLAN, { w: ws.id, plan: 'PRO' }, ws.adminToken));
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: world.platformKey, source: 'PLATFORM' });
  });

  it('after saveKey on a workspace that ran on the platform key, the next call uses the new key', async () => {
    const ws = await seedWorkspace(world.t);
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: world.platformKey, source: 'PLATFORM' });
    const saved = await byokWorkspace(world.t); // a second workspace, to show keys stay apart
    const key = canaryKey();
    expectData(await world.t.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: ws.id, k: key }, ws.tokens.owner));
    expect(await bearerOfNextCall(ws.id)).toEqual({ bearer: key, source: 'BYOK' });
    expect(await bearerOfNextCall(saved.id)).toEqual({ bearer: saved.key, source: 'BYOK' });
  });
});
