import type { IncomingMessage } from 'node:http';
import { REPLACE_KEY } from './support/documents';
import { expectData } from './support/expectations';
import type { SeededWorkspace } from './support/fixtures';
import { FakeOpenRouter } from './support/fake-openrouter';
import { CHAT_BODY, callGateway, GatewayAnswer, GatewayRequest, openGateway, recordFor, sendGateway, storedRecords } from './support/gateway-client';
import { byokWorkspace, freshRequestId, GatewayWorld, startGatewayWorld, tierPrice } from './support/gateway-setup';
import { canaryKey, dumpAllTables, findLeak, searchableText } from './support/leak-search';
import { startTestApp, TestApp } from './support/test-app';

/**
 * The gateway's refusals and failures: who may call it, which headers it insists on, a stored key
 * that no longer decrypts, an upstream that is slow, gone or failing, a client that leaves
 * mid-stream, and the rule that the key never leaves the service.
 */

/** Reads a response until it closes, whether it ended cleanly or was cut off. */
function readUntilClosed(response: IncomingMessage): Promise<{ text: string; complete: boolean }> {
  return new Promise((resolveRead) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', () => undefined);
    response.on('close', () => resolveRead({ text: Buffer.concat(chunks).toString('utf8'), complete: response.complete }));
  });
}

describe('gateway errors', () => {
  let world: GatewayWorld;
  let byok: SeededWorkspace & { key: string };

  beforeAll(async () => {
    world = await startGatewayWorld();
    byok = await byokWorkspace(world.t);
  });
  afterAll(() => world.close());

  const upstreamCalls = () => world.fake.requestsTo('POST', '/chat/completions').length;

  describe('refused before anything reaches OpenRouter', () => {
    const cases: Array<[string, number, string, (ids: { workspaceId: string; userToken: string }) => GatewayRequest]> = [
      ['no Authorization header', 401, 'UNAUTHENTICATED', (ids) => ({ workspaceId: ids.workspaceId, token: null })],
      ['a wrong service token', 401, 'UNAUTHENTICATED', (ids) => ({ workspaceId: ids.workspaceId, token: 'not-the-service-token' })],
      ['the service token with one character changed', 401, 'UNAUTHENTICATED', (ids) => ({ workspaceId: ids.workspaceId, token: 'x' + 'test-service-token-0123456789abcdef0123456789'.slice(1) })],
      ['a user JWT', 401, 'UNAUTHENTICATED', (ids) => ({ workspaceId: ids.workspaceId, token: ids.userToken })],
      ['a Basic scheme', 401, 'UNAUTHENTICATED', (ids) => ({ workspaceId: ids.workspaceId, headers: { authorization: 'Basic dGVzdDp0ZXN0' } })],
      ['no X-Workspace-Id', 400, 'BAD_REQUEST', () => ({})],
      ['a blank X-Workspace-Id', 400, 'BAD_REQUEST', () => ({ workspaceId: '   ' })],
      ['an X-Workspace-Id that cannot be an id', 400, 'BAD_REQUEST', () => ({ workspaceId: "1' OR '1'='1" })],
      ['an over-long X-Workspace-Id', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId + 'x'.repeat(200) })],
      ['no X-Inference-Path', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, headers: { 'x-inference-path': '' } })],
      ['an unknown X-Inference-Path', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, path: 'TELEPATHY' })],
      ['a lower-case X-Inference-Path', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, path: 'agent_run' })],
      ['an unknown X-Model-Tier', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, tier: 'ULTRA' })],
      ['a lower-case X-Model-Tier', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, tier: 'balanced' })],
      ['an X-Request-Id with spaces', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, requestId: 'two words' })],
      ['an X-Request-Id over 128 characters', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, requestId: 'r'.repeat(129) })],
      ['a body that is not JSON', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, body: '{"model": "x",' })],
      ['a body without a model', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, body: { messages: [] } })],
      ['a JSON array body', 400, 'BAD_REQUEST', (ids) => ({ workspaceId: ids.workspaceId, body: '[]' })],
      ['an unknown workspace', 404, 'NOT_FOUND', () => ({ workspaceId: '00000000-0000-4000-8000-000000000000' })],
    ];

    test.each(cases)('%s → %i %s', async (_label, status, code, build) => {
      const before = upstreamCalls();
      const recordsBefore = await storedRecords(world.t, byok.id);
      const answer = await callGateway(world.t, build({ workspaceId: byok.id, userToken: byok.tokens.owner }));
      expect(answer.status).toBe(status);
      expect(answer.json?.error?.code).toBe(code);
      expect(answer.json?.error?.message).toEqual(expect.any(String));
      expect(answer.json?.error?.message.length).toBeGreaterThan(10);
      expect(answer.headers['x-key-source']).toBeUndefined();
      expect(upstreamCalls()).toBe(before);
      expect(await storedRecords(world.t, byok.id)).toEqual(recordsBefore);
    });

    it('a platform admin JWT is no service token either', async () => {
      const before = upstreamCalls();
      const answer = await callGateway(world.t, { workspaceId: byok.id, token: byok.adminToken });
      expect(answer.status).toBe(401);
      expect(upstreamCalls()).toBe(before);
    });
  });

  describe('a stored key that does not decrypt', () => {
    const blobOf = async (workspaceId: string): Promise<Buffer> => {
      const [row] = await world.t.app.dataSource.query('SELECT ciphertext FROM tenant_secret WHERE workspace_id = ?', [workspaceId]);
      return Buffer.from(row.ciphertext);
    };
    const setBlob = (workspaceId: string, blob: Buffer) =>
      world.t.app.dataSource.query('UPDATE tenant_secret SET ciphertext = ? WHERE workspace_id = ?', [blob, workspaceId]);

    const expectKeyUnavailable = async (ws: SeededWorkspace & { key: string }) => {
      const before = upstreamCalls();
      const requestId = freshRequestId('unavailable');
      const answer = await callGateway(world.t, { workspaceId: ws.id, requestId });
      expect(answer.status).toBe(503);
      expect(answer.json?.error?.code).toBe('KEY_UNAVAILABLE');
      expect(answer.json?.error?.message).toMatch(/replace/i);
      expect(answer.text).not.toContain(ws.key);
      expect(upstreamCalls()).toBe(before);
      expect((await storedRecords(world.t, ws.id)).find((record) => record.requestId === requestId)).toBeUndefined();
    };

    it('a tampered blob answers 503 KEY_UNAVAILABLE and makes no upstream call, even after it was cached', async () => {
      const ws = await byokWorkspace(world.t);
      for (let i = 0; i < 2; i++) expect((await callGateway(world.t, { workspaceId: ws.id })).status).toBe(200);
      const blob = await blobOf(ws.id);
      blob[blob.length - 20] ^= 0x01; // a ciphertext byte
      await setBlob(ws.id, blob);
      world.t.app.seam.secretsCache.invalidate(ws.id);
      await expectKeyUnavailable(ws);
      await expectKeyUnavailable(ws); // a failure is not cached as a value: still refused, still no call
    });

    it('a tampered tag or nonce in a fresh workspace is refused the same way', async () => {
      for (const offset of [-1, 8]) {
        const ws = await byokWorkspace(world.t);
        const blob = await blobOf(ws.id);
        blob.writeUInt8(blob.at(offset)! ^ 0x80, offset < 0 ? blob.length + offset : offset);
        await setBlob(ws.id, blob);
        await expectKeyUnavailable(ws);
      }
    });

    it("another workspace's blob swapped in is refused: it is bound to its own row", async () => {
      const victim = await byokWorkspace(world.t);
      const donor = await byokWorkspace(world.t);
      await setBlob(victim.id, await blobOf(donor.id));
      world.t.app.seam.secretsCache.invalidate(victim.id);
      await expectKeyUnavailable(victim);
      // neither key went upstream for the victim; the donor is unaffected
      expect((await callGateway(world.t, { workspaceId: donor.id })).status).toBe(200);
      expect(world.fake.lastRequest?.bearer).toBe(donor.key);
    });

    it('background paths, which never use the workspace key, still run on the platform key; replacing the key recovers', async () => {
      const ws = await byokWorkspace(world.t);
      const blob = await blobOf(ws.id);
      blob[blob.length - 20] ^= 0xff;
      await setBlob(ws.id, blob);
      world.t.app.seam.secretsCache.invalidate(ws.id);
      const background = await callGateway(world.t, { workspaceId: ws.id, path: 'SEARCH_INDEXER' });
      expect(background.status).toBe(200);
      expect(background.headers['x-key-source']).toBe('PLATFORM');
      await expectKeyUnavailable(ws);

      const replacement = canaryKey();
      expectData(await world.t.gql(REPLACE_KEY, { w: ws.id, k: replacement }, ws.tokens.owner));
      const recovered = await callGateway(world.t, { workspaceId: ws.id });
      expect(recovered.status).toBe(200);
      expect(world.fake.lastRequest?.bearer).toBe(replacement);
    });
  });

  describe('upstream failures', () => {
    it('an upstream 5xx is relayed with its status, body and retry hints, and nothing is recorded', async () => {
      for (const [status, headers] of [
        [500, {}],
        [503, { 'retry-after': '7' }],
        [429, { 'retry-after': '3', 'x-ratelimit-reset': '1700000000' }],
      ] as Array<[number, Record<string, string>]>) {
        const body = { error: { code: status, message: `upstream says ${status}` } };
        world.fake.chatCompletion({ status, body, headers }, { times: 1 });
        const requestId = freshRequestId(`status-${status}`);
        const answer = await callGateway(world.t, { workspaceId: byok.id, requestId });
        expect(answer.status).toBe(status);
        expect(answer.json).toEqual(body);
        for (const [name, value] of Object.entries(headers)) expect(answer.headers[name]).toBe(value);
        expect(answer.headers['x-key-source']).toBe('BYOK');
        expect((await storedRecords(world.t, byok.id)).find((record) => record.requestId === requestId)).toBeUndefined();
      }
    });

    it('a connection OpenRouter drops without answering is 502, nothing recorded', async () => {
      world.fake.chatCompletion({ drop: true }, { times: 1 });
      const requestId = freshRequestId('dropped');
      const answer = await callGateway(world.t, { workspaceId: byok.id, requestId });
      expect(answer.status).toBe(502);
      expect(answer.json?.error?.code).toBe('UPSTREAM_UNREACHABLE');
      expect(answer.json?.error?.message).toMatch(/could not be reached/i);
      expect(answer.json?.error?.message).toMatch(/nothing was billed/i);
      expect((await storedRecords(world.t, byok.id)).find((record) => record.requestId === requestId)).toBeUndefined();
    });

    it('a stream OpenRouter cuts off before its first event is 502, nothing recorded', async () => {
      world.fake.chatCompletion({ dropAfterChunks: 0 }, { times: 1 });
      const requestId = freshRequestId('cut-early');
      const answer = await callGateway(world.t, { workspaceId: byok.id, requestId, body: { ...CHAT_BODY, stream: true } });
      expect(answer.status).toBe(502);
      expect(answer.json?.error?.code).toBe('UPSTREAM_UNREACHABLE');
      expect((await storedRecords(world.t, byok.id)).find((record) => record.requestId === requestId)).toBeUndefined();
    });

    it('a stream OpenRouter cuts off midway is cut off for the client too, and recorded INTERRUPTED with the tokens seen, flagged, billed 0', async () => {
      world.fake.chatCompletion({ chunks: ['one ', 'two ', 'three ', 'four'], dropAfterChunks: 2 }, { times: 1 });
      const requestId = freshRequestId('cut');
      const { response } = await openGateway(world.t, { workspaceId: byok.id, requestId, body: { ...CHAT_BODY, stream: true } });
      expect(response.statusCode).toBe(200);
      const { text, complete } = await readUntilClosed(response);
      expect(complete).toBe(false);
      expect(text).toContain('two ');
      expect(text).not.toContain('[DONE]');
      const record = await recordFor(world.t, byok.id, requestId);
      expect(record).toMatchObject({ outputTokens: 2, inputTokens: 0, rawCostMicros: null, flagged: true, billedMicros: 0, keySource: 'BYOK' });
      expect(await outcomeOf(world.t, record.id)).toBe('INTERRUPTED');

      // A platform admin settles it with what OpenRouter's generation shows: tokens, cost, re-priced.
      const settle = `mutation($id: ID!, $raw: String!, $in: SafeInt, $out: SafeInt) {
        settleUsageRecord(id: $id, rawCostUsd: $raw, inputTokens: $in, outputTokens: $out) { inputTokens outputTokens tierPriceMicros rawCostMicros billedMicros flagged outcome }
      }`;
      const settled = expectData(await world.t.gql(settle, { id: record.id, raw: '0.0001', in: 1000, out: 40 }, byok.adminToken)).settleUsageRecord;
      const price = tierPrice(record.tier, 1000, 40);
      expect(settled).toEqual({ inputTokens: 1000, outputTokens: 40, tierPriceMicros: price, rawCostMicros: 100, billedMicros: Math.max(0, price - 100), flagged: false, outcome: 'INTERRUPTED' });
      const refused = await world.t.gql(settle, { id: record.id, raw: '0.0001', in: -1 }, byok.adminToken);
      expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });
  });

  describe('a slow or absent upstream', () => {
    let slowFake: FakeOpenRouter;
    let slow: TestApp;
    let ws: SeededWorkspace & { key: string };

    beforeAll(async () => {
      slowFake = new FakeOpenRouter();
      const baseUrl = await slowFake.start();
      slow = await startTestApp({
        db: world.t.db,
        // …and no platform key configured at all
        overrides: { openrouterBaseUrl: baseUrl, platformOpenrouterKey: undefined, openrouterTimeoutMs: 300 },
      });
      ws = await byokWorkspace(slow);
    });
    afterAll(async () => {
      await slow.close();
      await slowFake.stop();
    });

    const expectNothingRecorded = async (requestId: string) =>
      expect((await storedRecords(slow, ws.id)).find((record) => record.requestId === requestId)).toBeUndefined();

    it('no answer within openrouterTimeoutMs is 504 with a clear message, nothing recorded', async () => {
      slowFake.chatCompletion({ delayMs: 1_500 }, { times: 1 });
      const requestId = freshRequestId('timeout');
      const started = Date.now();
      const answer: GatewayAnswer = await callGateway(slow, { workspaceId: ws.id, requestId });
      expect(answer.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(1_400);
      expect(answer.json?.error?.code).toBe('UPSTREAM_TIMEOUT');
      expect(answer.json?.error?.message).toMatch(/did not answer in time/i);
      expect(answer.json?.error?.message).toMatch(/nothing was billed/i);
      expect(answer.text).not.toContain(ws.key);
      await expectNothingRecorded(requestId);
    });

    it('a stream that stalls before its first byte is 504, not a cut connection; nothing recorded', async () => {
      // undici checks body timeouts on a ~1 s clock: a gap of 3 s is beyond any reading of 300 ms.
      slowFake.chatCompletion({ chunks: ['a ', 'b ', 'c'], chunkDelayMs: 3_000 }, { times: 1 });
      const requestId = freshRequestId('stall-first');
      const started = Date.now();
      const answer = await callGateway(slow, { workspaceId: ws.id, requestId, body: { ...CHAT_BODY, stream: true } });
      expect(answer.status).toBe(504);
      expect(answer.json?.error?.code).toBe('UPSTREAM_TIMEOUT');
      expect(answer.json?.error?.message).toMatch(/did not answer in time/i);
      expect(Date.now() - started).toBeLessThan(2_900);
      await expectNothingRecorded(requestId);
    });

    it('a stream that stalls midway is cut off for the client and recorded INTERRUPTED', async () => {
      const later = new Promise<void>((resolveLater) => setTimeout(resolveLater, 3_000).unref());
      slowFake.chatCompletion({ chunks: ['first ', 'second'], holdAfterEvents: 1, release: later }, { times: 1 });
      const requestId = freshRequestId('stall-mid');
      const started = Date.now();
      const { response } = await openGateway(slow, { workspaceId: ws.id, requestId, body: { ...CHAT_BODY, stream: true } });
      expect(response.statusCode).toBe(200);
      const { text, complete } = await readUntilClosed(response);
      expect(complete).toBe(false);
      expect(text).toContain('first ');
      expect(text).not.toContain('second');
      expect(Date.now() - started).toBeLessThan(2_900);
      const record = await recordFor(slow, ws.id, requestId);
      expect(record).toMatchObject({ outputTokens: 1, flagged: true, billedMicros: 0 });
      expect(await outcomeOf(slow, record.id)).toBe('INTERRUPTED');
    });

    it('without a platform key, platform paths answer 503 PLATFORM_KEY_MISSING and make no call', async () => {
      const before = slowFake.requestsTo('POST', '/chat/completions').length;
      const requestId = freshRequestId('no-platform-key');
      const answer = await callGateway(slow, { workspaceId: ws.id, requestId, path: 'SEARCH_INDEXER' });
      expect(answer.status).toBe(503);
      expect(answer.json?.error?.code).toBe('PLATFORM_KEY_MISSING');
      expect(slowFake.requestsTo('POST', '/chat/completions').length).toBe(before);
      await expectNothingRecorded(requestId);
    });

    it('a fast answer on the same server still succeeds', async () => {
      const requestId = freshRequestId('fast');
      expect((await callGateway(slow, { workspaceId: ws.id, requestId })).status).toBe(200);
      expect((await recordFor(slow, ws.id, requestId)).keySource).toBe('BYOK');
    });

    it('connection refused (OpenRouter down) is 502 with a clear message, nothing recorded', async () => {
      await slowFake.stop();
      const requestId = freshRequestId('refused');
      const answer = await callGateway(slow, { workspaceId: ws.id, requestId });
      expect(answer.status).toBe(502);
      expect(answer.json?.error?.code).toBe('UPSTREAM_UNREACHABLE');
      expect(answer.json?.error?.message).toMatch(/OpenRouter could not be reached/);
      expect(answer.json?.error?.message).toMatch(/retry/i);
      await expectNothingRecorded(requestId);
    });
  });

  describe('a client that leaves', () => {
    it('before OpenRouter answered: the completed call is still recorded', async () => {
      const requestId = freshRequestId('left-early');
      world.fake.chatCompletion({ delayMs: 400, usage: { prompt_tokens: 11, completion_tokens: 22, cost: 0.0001 } }, { times: 1 });
      const before = world.fake.requests.length;
      const { response, abort } = sendGateway(world.t, { workspaceId: byok.id, requestId });
      response.catch(() => undefined); // the hang-up is the point
      await world.fake.waitForRequests(before + 1);
      abort();
      const record = await recordFor(world.t, byok.id, requestId, 5_000);
      expect(record).toMatchObject({ inputTokens: 11, outputTokens: 22, rawCostMicros: 100, keySource: 'BYOK' });
    });

    it('the call the upstream completed is still recorded, from its final usage chunk', async () => {
      const requestId = freshRequestId('gone');
      world.fake.chatCompletion(
        { chunks: Array.from({ length: 8 }, (_, i) => `piece-${i} `), chunkDelayMs: 60, usage: { prompt_tokens: 321, completion_tokens: 123, cost: 0.0005 } },
        { times: 1 },
      );
      const { response, abort } = await openGateway(world.t, { workspaceId: byok.id, requestId, body: { ...CHAT_BODY, stream: true } });
      expect(response.statusCode).toBe(200);
      await new Promise<void>((resolveFirst) => response.once('data', () => resolveFirst()));
      response.on('error', () => undefined);
      abort();

      const record = await recordFor(world.t, byok.id, requestId, 5_000);
      expect(record).toMatchObject({ keySource: 'BYOK', inputTokens: 321, outputTokens: 123, rawCostMicros: 500, flagged: false });
      const upstream = world.fake.requestsTo('POST', '/chat/completions').find((request) => request.headers['x-request-id'] === requestId);
      // The gateway kept reading after the client left, so OpenRouter finished the answer.
      expect(upstream?.aborted).toBe(false);
      expect(Buffer.concat(upstream!.sent).toString('utf8')).toContain('[DONE]');
      // …and the server still answers.
      expect((await callGateway(world.t, { workspaceId: byok.id })).status).toBe(200);
    });
  });
});

describe('gateway: the key never leaves the service', () => {
  it('no response body or header, log line (debug) or stored row carries a canary key', async () => {
    const fake = new FakeOpenRouter();
    const baseUrl = await fake.start();
    const platformKey = canaryKey();
    const workspaceKey = canaryKey();
    const replacement = canaryKey();
    const t = await startTestApp({ overrides: { openrouterBaseUrl: baseUrl, platformOpenrouterKey: platformKey, logLevel: 'debug' } });
    try {
      const ws = await byokWorkspace(t, workspaceKey, 'Canary');
      const fallbackWs = await byokWorkspace(t, canaryKey(), 'Canary fallback');
      const keys = [platformKey, workspaceKey, replacement];
      const answers: GatewayAnswer[] = [];
      const call = async (request: GatewayRequest) => {
        const answer = await callGateway(t, request);
        answers.push(answer);
        return answer;
      };
      const echo = (key: string) => ({ error: { code: 500, message: `internal: request with Authorization Bearer ${key} failed` } });

      expect((await call({ workspaceId: ws.id })).status).toBe(200);
      expect((await call({ workspaceId: ws.id, body: { ...CHAT_BODY, stream: true } })).status).toBe(200);
      expect((await call({ workspaceId: ws.id, path: 'SEARCH_INDEXER' })).status).toBe(200);
      // OpenRouter echoing the key in an error body: relayed, with the key scrubbed out.
      fake.chatCompletion({ status: 500, body: echo(workspaceKey) }, { key: workspaceKey, times: 1 });
      const echoed = await call({ workspaceId: ws.id });
      expect(echoed.status).toBe(500);
      expect(echoed.text).toContain('[redacted]');
      fake.chatCompletion({ status: 502, body: echo(platformKey) }, { key: platformKey, times: 1 });
      expect((await call({ workspaceId: ws.id, path: 'MENTION_EMBEDDING_CACHE' })).status).toBe(502);
      // Refusals, with and without fallback, their upstream bodies naming the key.
      for (const status of [401, 402, 403]) {
        fake.chatCompletion({ status, errorMessage: `Key limit exceeded for ${workspaceKey}` }, { key: workspaceKey, times: 1 });
        expect((await call({ workspaceId: ws.id })).status).toBe(status);
      }
      expectData(await t.gql('mutation($w: ID!) { setByokFallback(workspaceId: $w, fallback: PLATFORM) { id } }', { w: fallbackWs.id }, fallbackWs.tokens.owner));
      fake.chatCompletion({ status: 402, errorMessage: `no credits on ${fallbackWs.key}` }, { key: fallbackWs.key, times: 1 });
      expect((await call({ workspaceId: fallbackWs.id })).status).toBe(200);
      keys.push(fallbackWs.key);
      // An upstream that hangs up.
      fake.chatCompletion({ drop: true }, { times: 1 });
      expect((await call({ workspaceId: ws.id })).status).toBe(502);
      // Refused requests.
      expect((await call({ workspaceId: ws.id, token: workspaceKey })).status).toBe(401);
      expect((await call({ workspaceId: ws.id, tier: workspaceKey })).status).toBe(400);
      // A key that no longer decrypts, then a replacement.
      await t.app.dataSource.query("UPDATE tenant_secret SET ciphertext = ? WHERE workspace_id = ?", [Buffer.alloc(64, 7), ws.id]);
      t.app.seam.secretsCache.invalidate(ws.id);
      expect((await call({ workspaceId: ws.id })).status).toBe(503);
      expectData(await t.gql(REPLACE_KEY, { w: ws.id, k: replacement }, ws.tokens.owner));
      expect((await call({ workspaceId: ws.id })).status).toBe(200);

      // Everything went upstream on the right keys…
      expect(new Set(fake.requestsTo('POST', '/chat/completions').map((request) => request.bearer))).toEqual(
        new Set([workspaceKey, platformKey, fallbackWs.key, replacement]),
      );
      // …and nowhere else.
      const responses = answers.map((answer) => `${JSON.stringify(answer.headers)}\n${answer.text}`).join('\n');
      const logs = t.logs.text;
      expect(t.config.logLevel).toBe('debug');
      expect(logs).toContain("OpenRouter refused the workspace's key");
      const rows = searchableText(await dumpAllTables(t.app.dataSource));
      const records = searchableText(await t.app.dataSource.query('SELECT * FROM usage_record'));
      expect((await storedRecords(t, ws.id)).length).toBeGreaterThan(3);
      for (const key of keys) {
        expect({ where: 'responses', found: findLeak(responses, key) }).toEqual({ where: 'responses', found: undefined });
        expect({ where: 'logs', found: findLeak(logs, key) }).toEqual({ where: 'logs', found: undefined });
        expect({ where: 'usage records', found: findLeak(records, key) }).toEqual({ where: 'usage records', found: undefined });
        expect({ where: 'tables', found: findLeak(rows, key) }).toEqual({ where: 'tables', found: undefined });
      }
    } finally {
      await t.close();
      await fake.stop();
    }
  });
});

async function outcomeOf(t: TestApp, recordId: string): Promise<string | undefined> {
  const rows: Array<{ outcome: string }> = await t.app.dataSource.query('SELECT outcome FROM usage_record WHERE id = ?', [recordId]);
  return rows[0]?.outcome;
}
