import OpenAI from 'openai';
import { KeySource } from '../src/modules/usage/usage.enums';
import { RecentAnswers } from '../src/modules/usage/ledger/recent-answers';
import { CHAT_BODY, callGateway, openGateway, readAnswer, recordFor, storedRecords } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld } from './support/gateway-setup';
import type { SeededWorkspace } from './support/fixtures';
import { TEST_SERVICE_TOKEN } from './support/test-app';

/**
 * Retries as the official `openai` SDK makes them (twice by default on timeouts, 408, 409, 429 and
 * 5xx, with the same headers): with an X-Request-Id, a retry never bills a second call and never
 * loses the answer; permanent errors say `x-should-retry: false`, transient ones `Retry-After`.
 */

describe('gateway retries', () => {
  let world: GatewayWorld;
  let ws: SeededWorkspace & { key: string };
  beforeAll(async () => {
    world = await startGatewayWorld();
    ws = await byokWorkspace(world.t);
  });
  afterAll(() => world.close());

  /** The SDK as the inference runtime uses it; `attempts` counts the HTTP requests it made. */
  function sdk(options: { timeout?: number; maxRetries?: number } = {}) {
    const attempts: string[] = [];
    const client = new OpenAI({
      apiKey: TEST_SERVICE_TOKEN,
      baseURL: `${world.t.url}/v1`,
      defaultHeaders: { 'x-workspace-id': ws.id, 'x-inference-path': 'AGENT_RUN' },
      timeout: options.timeout ?? 10_000,
      maxRetries: options.maxRetries ?? 2,
      fetch: (url, init) => {
        attempts.push(String(url));
        return fetch(url, init);
      },
    });
    return { client, attempts };
  }

  const upstreamCalls = (requestId: string) => world.fake.requestsTo('POST', '/chat/completions').filter((request) => request.headers['x-request-id'] === requestId);
  const recordsOf = async (requestId: string) => (await storedRecords(world.t, ws.id)).filter((record) => record.requestId === requestId);

  it('a client timeout shorter than the upstream: the SDK retries with the same id and gets the one answer, billed once', async () => {
    const requestId = freshRequestId('sdk-timeout');
    world.fake.chatCompletion({ delayMs: 1_500, content: 'Slow but sure.' }, { when: (request) => request.headers['x-request-id'] === requestId });
    const { client, attempts } = sdk({ timeout: 700, maxRetries: 4 });
    const completion = await client.chat.completions.create(
      { model: CHAT_BODY.model, messages: [{ role: 'user', content: 'Hello' }] },
      { headers: { 'x-request-id': requestId } },
    );
    expect(completion.choices[0].message.content).toBe('Slow but sure.');
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(upstreamCalls(requestId)).toHaveLength(1);
    await recordFor(world.t, ws.id, requestId);
    expect(await recordsOf(requestId)).toHaveLength(1);
  });

  it('a transient upstream failure: the SDK retries after Retry-After, the retry goes upstream and is the one call billed', async () => {
    const requestId = freshRequestId('sdk-502');
    world.fake.chatCompletion({ drop: true }, { times: 1, when: (request) => request.headers['x-request-id'] === requestId });
    const { client, attempts } = sdk();
    const completion = await client.chat.completions.create({ model: CHAT_BODY.model, messages: [{ role: 'user', content: 'Hello' }] }, { headers: { 'x-request-id': requestId } });
    expect(completion.choices[0].message.content).toBe('Hello from the fake.');
    expect(attempts).toHaveLength(2);
    expect(upstreamCalls(requestId)).toHaveLength(2);
    await recordFor(world.t, ws.id, requestId);
    expect(await recordsOf(requestId)).toHaveLength(1);
  });

  it('a used id with another body: 409 REQUEST_ID_USED naming the record, which the SDK does not retry', async () => {
    const requestId = freshRequestId('sdk-used');
    const { client, attempts } = sdk();
    await client.chat.completions.create({ model: CHAT_BODY.model, messages: [{ role: 'user', content: 'First' }] }, { headers: { 'x-request-id': requestId } });
    const record = await recordFor(world.t, ws.id, requestId);
    const refused = await client.chat.completions
      .create({ model: CHAT_BODY.model, messages: [{ role: 'user', content: 'Second' }] }, { headers: { 'x-request-id': requestId } })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    const apiError = refused as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(409);
    expect(apiError.headers?.get('x-should-retry')).toBe('false');
    expect(JSON.stringify(apiError.error)).toContain('REQUEST_ID_USED');
    expect(JSON.stringify(apiError.error)).toContain(record.id);
    expect(attempts).toHaveLength(2);
    expect(upstreamCalls(requestId)).toHaveLength(1);
  });

  it('the same id and body after the answer: replayed from memory, not sent upstream nor billed again', async () => {
    const requestId = freshRequestId('sdk-replay');
    const { client } = sdk();
    const body = { model: CHAT_BODY.model, messages: [{ role: 'user' as const, content: 'Once' }] };
    const first = await client.chat.completions.create(body, { headers: { 'x-request-id': requestId } });
    const again = await client.chat.completions.create(body, { headers: { 'x-request-id': requestId } });
    expect(again).toEqual(first);
    expect(upstreamCalls(requestId)).toHaveLength(1);
    await recordFor(world.t, ws.id, requestId);
    expect(await recordsOf(requestId)).toHaveLength(1);
  });

  it('a streamed call in flight: its retry answers 409 REQUEST_IN_PROGRESS; once it is over, REQUEST_ID_USED', async () => {
    const requestId = freshRequestId('stream-retry');
    let release!: () => void;
    world.fake.chatCompletion(
      { holdAfterEvents: 2, release: new Promise<void>((resolveRelease) => (release = resolveRelease)) },
      { when: (request) => request.headers['x-request-id'] === requestId },
    );
    const streamBody = { ...CHAT_BODY, stream: true };
    const first = await openGateway(world.t, { workspaceId: ws.id, requestId, body: streamBody });
    expect(first.response.statusCode).toBe(200);
    const retry = await callGateway(world.t, { workspaceId: ws.id, requestId, body: streamBody });
    expect(retry.status).toBe(409);
    expect(retry.json?.error?.code).toBe('REQUEST_IN_PROGRESS');
    expect(retry.headers['x-should-retry']).toBe('false');
    // a non-streaming retry of a streamed call cannot be given its answer either
    expect((await callGateway(world.t, { workspaceId: ws.id, requestId })).json?.error?.code).toBe('REQUEST_IN_PROGRESS');
    release();
    expect((await readAnswer(first.response)).text).toContain('data: [DONE]');
    const record = await recordFor(world.t, ws.id, requestId);
    const late = await callGateway(world.t, { workspaceId: ws.id, requestId, body: streamBody });
    expect(late.status).toBe(409);
    expect(late.json?.error).toMatchObject({ code: 'REQUEST_ID_USED', recordId: record.id });
    expect(upstreamCalls(requestId)).toHaveLength(1);
  });

  it('says which errors not to retry and when to retry the others', async () => {
    const bad = await callGateway(world.t, { workspaceId: ws.id, path: 'NOT_A_PATH' });
    expect(bad.status).toBe(400);
    expect(bad.headers['x-should-retry']).toBe('false');
    const unknown = await callGateway(world.t, { workspaceId: '00000000-0000-0000-0000-000000000000' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-should-retry']).toBe('false');
    expect((await callGateway(world.t, { workspaceId: ws.id, token: 'wrong' })).headers['x-should-retry']).toBe('false');

    world.fake.chatCompletion({ status: 400 }, { times: 1 });
    expect((await callGateway(world.t, { workspaceId: ws.id, path: 'SEARCH_INDEXER' })).headers['x-should-retry']).toBe('false');
    world.fake.chatCompletion({ status: 429, headers: { 'retry-after': '7' } }, { times: 1 });
    const limited = await callGateway(world.t, { workspaceId: ws.id, path: 'SEARCH_INDEXER' });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    world.fake.chatCompletion({ status: 503 }, { times: 1 });
    expect((await callGateway(world.t, { workspaceId: ws.id, path: 'SEARCH_INDEXER' })).headers['retry-after']).toBe('1');
    world.fake.chatCompletion({ drop: true }, { times: 1 });
    const unreachable = await callGateway(world.t, { workspaceId: ws.id, path: 'SEARCH_INDEXER' });
    expect(unreachable.status).toBe(502);
    expect(unreachable.headers['retry-after']).toBe('1');
    expect(unreachable.headers['x-should-retry']).toBeUndefined();

    // a BYOK refusal is permanent until someone fixes the key
    world.fake.chatCompletion({ status: 402 }, { times: 1, key: ws.key });
    const outOfCredits = await callGateway(world.t, { workspaceId: ws.id });
    expect(outOfCredits.json?.error?.code).toBe('BYOK_OUT_OF_CREDITS');
    expect(outOfCredits.headers['x-should-retry']).toBe('false');
  });
});

describe('RecentAnswers', () => {
  const answer = (bytes: number) => ({ bodyHash: 'h', status: 200, headers: {}, body: Buffer.alloc(bytes), keySource: KeySource.PLATFORM });

  it('keeps an answer for its time to live, then forgets it', () => {
    const kept = new RecentAnswers(60_000, 1_000_000);
    kept.put('a', answer(10), 1_000);
    expect(kept.get('a', 60_999)).toBeDefined();
    expect(kept.get('a', 61_000)).toBeUndefined();
    expect(kept.size).toBe(0);
  });

  it('stays within its byte budget, the oldest going first, and keeps nothing larger than the budget', () => {
    const kept = new RecentAnswers(60_000, 3 * (1_000 + 512));
    for (const key of ['a', 'b', 'c', 'd']) kept.put(key, answer(1_000), 0);
    expect(kept.get('a', 0)).toBeUndefined();
    expect(['b', 'c', 'd'].every((key) => kept.get(key, 0) !== undefined)).toBe(true);
    kept.put('huge', answer(10_000), 0);
    expect(kept.get('huge', 0)).toBeUndefined();
    expect(kept.size).toBe(3);
  });
});
