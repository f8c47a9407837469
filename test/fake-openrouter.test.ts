import { request as httpRequest } from 'node:http';
import { DEFAULT_KEY_INFO, DEFAULT_USAGE, FakeOpenRouter } from './support/fake-openrouter';

/**
 * The fake OpenRouter is what the key check and the gateway are tested against, so it is tested
 * itself: what it records, and that each programmed answer looks like OpenRouter's on the wire.
 */

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** how the body ended: completely, or cut off */
  ended: 'complete' | 'cut';
  /** milliseconds from sending to the end of the body */
  ms: number;
}

/** A request over a fresh connection, reporting a cut-off body instead of throwing. */
function send(url: string, options: { method?: string; key?: string; body?: unknown } = {}): Promise<RawAnswer> {
  const started = Date.now();
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolveSend, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? (payload ? 'POST' : 'GET'),
        agent: false,
        headers: { ...(options.key ? { authorization: `Bearer ${options.key}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        const finish = (ended: RawAnswer['ended']) =>
          resolveSend({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8'), ended, ms: Date.now() - started });
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => finish('complete'));
        response.on('error', () => finish('cut'));
        response.on('aborted', () => finish('cut'));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The `data:` payloads of a server-sent-event stream, parsed where they are JSON. */
function events(text: string): unknown[] {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length))
    .map((data) => (data === '[DONE]' ? data : JSON.parse(data)));
}

const CHAT = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] };

describe('FakeOpenRouter', () => {
  const fake = new FakeOpenRouter();
  let baseUrl: string;
  beforeAll(async () => {
    baseUrl = await fake.start();
  });
  beforeEach(() => fake.reset());
  afterAll(() => fake.stop());

  it('serves under /api/v1 on 127.0.0.1 and records method, path, Authorization and parsed body', async () => {
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1$/);

    await send(`${baseUrl}/chat/completions?x=1`, { key: 'sk-or-v1-abc', body: CHAT });

    expect(fake.requests).toEqual([
      expect.objectContaining({ method: 'POST', path: '/chat/completions', search: 'x=1', authorization: 'Bearer sk-or-v1-abc', bearer: 'sk-or-v1-abc', body: CHAT, aborted: false }),
    ]);
  });

  it('answers GET /key with the default key info, and 401 without a key', async () => {
    const answer = await send(`${baseUrl}/key`, { key: 'sk-or-v1-abc' });
    const anonymous = await send(`${baseUrl}/key`);

    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ data: { label: 'x', limit: null, limit_remaining: null, usage: 0, is_free_tier: false } });
    expect(DEFAULT_KEY_INFO.label).toBe('x');
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toEqual({ error: { code: 401, message: expect.any(String) } });
  });

  it('answers one-shots in order first, then standing answers (one key before any, latest first)', async () => {
    fake.keyInfo({ status: 401 }, { key: 'bad' });
    fake.keyInfo({ data: { limit: 10 } });
    fake.keyInfo({ status: 503 }, { times: 1 });
    fake.keyInfo({ status: 502 }, { times: 1 });
    fake.keyInfo({ status: 500 }, { times: 1, key: 'bad' });
    fake.keyInfo({ data: { limit: 20 } });

    const answers = [];
    for (const key of ['good', 'bad', 'good', 'bad', 'good']) {
      const answer = await send(`${baseUrl}/key`, { key });
      answers.push(answer.status === 200 ? JSON.parse(answer.text).data.limit : answer.status);
    }

    expect(answers).toEqual([503, 500, 502, 401, 20]);
    expect(fake.requestsTo('GET', '/key').map((request) => request.bearer)).toEqual(['good', 'bad', 'good', 'bad', 'good']);
  });

  it('answers a non-streaming chat completion with the usage object, merged over the defaults', async () => {
    fake.chatCompletion({ content: 'Bonjour', usage: { cost: 0.5, is_byok: true, cost_details: { upstream_inference_cost: 0.25 } } });

    const answer = await send(`${baseUrl}/chat/completions`, { key: 'k', body: CHAT });

    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.text)).toMatchObject({
      object: 'chat.completion',
      model: 'openai/gpt-4o-mini',
      choices: [{ message: { role: 'assistant', content: 'Bonjour' }, finish_reason: 'stop' }],
      usage: { ...DEFAULT_USAGE, cost: 0.5, is_byok: true, cost_details: { upstream_inference_cost: 0.25 } },
    });
  });

  it('can leave the usage out', async () => {
    fake.chatCompletion({ usage: null });

    const answer = await send(`${baseUrl}/chat/completions`, { key: 'k', body: CHAT });

    expect(JSON.parse(answer.text).usage).toBeUndefined();
  });

  it('streams SSE chunks, then a usage chunk, then [DONE], when the request asks to stream', async () => {
    fake.chatCompletion({ content: 'one two three', processingComments: 1 });

    const answer = await send(`${baseUrl}/chat/completions`, { key: 'k', body: { ...CHAT, stream: true } });

    expect(answer.headers['content-type']).toBe('text/event-stream');
    expect(answer.text.startsWith(': OPENROUTER PROCESSING\n\n')).toBe(true);
    const parsed = events(answer.text) as Array<any>;
    expect(parsed[parsed.length - 1]).toBe('[DONE]');
    const usageChunk = parsed[parsed.length - 2];
    expect(usageChunk).toMatchObject({ object: 'chat.completion.chunk', choices: [], usage: DEFAULT_USAGE });
    const content = parsed.slice(0, -2).map((chunk) => chunk.choices[0].delta.content).join('');
    expect(content).toBe('one two three');
    expect(parsed[parsed.length - 3].choices[0].finish_reason).toBe('stop');
  });

  it('answers programmed error statuses with an OpenRouter error body and extra headers', async () => {
    for (const status of [401, 402, 403, 429, 500, 502]) {
      fake.chatCompletion({ status, headers: { 'retry-after': '7' } }, { times: 1 });

      const answer = await send(`${baseUrl}/chat/completions`, { key: 'k', body: CHAT });

      expect(answer.status).toBe(status);
      expect(answer.headers['retry-after']).toBe('7');
      expect(JSON.parse(answer.text)).toEqual({ error: { code: status, message: expect.any(String) } });
    }
    fake.chatCompletion({ status: 403 });
    expect((await send(`${baseUrl}/chat/completions`, { key: 'k', body: CHAT })).text).toMatch(/Key limit exceeded/);
  });

  it('delays an answer, and slows a stream down chunk by chunk', async () => {
    fake.chatCompletion({ delayMs: 150 }, { times: 1 });
    fake.chatCompletion({ chunks: ['a', 'b', 'c'], chunkDelayMs: 40 }, { times: 1 });

    const delayed = await send(`${baseUrl}/chat/completions`, { key: 'k', body: CHAT });
    const slow = await send(`${baseUrl}/chat/completions`, { key: 'k', body: { ...CHAT, stream: true } });

    expect(delayed.ms).toBeGreaterThanOrEqual(140);
    // 3 content chunks, the final chunk, usage and [DONE]: six waits.
    expect(slow.ms).toBeGreaterThanOrEqual(6 * 40 - 10);
    expect(slow.ended).toBe('complete');
  });

  it('drops a connection without answering, or in the middle of a stream', async () => {
    fake.chatCompletion({ drop: true }, { times: 1 });
    fake.chatCompletion({ chunks: ['a', 'b', 'c'], dropAfterChunks: 2 }, { times: 1 });

    await expect(send(`${baseUrl}/chat/completions`, { key: 'k', body: CHAT })).rejects.toThrow();
    const cut = await send(`${baseUrl}/chat/completions`, { key: 'k', body: { ...CHAT, stream: true } });

    expect(cut.ended).toBe('cut');
    expect(events(cut.text)).toHaveLength(2);
    expect(cut.text).not.toContain('[DONE]');
  });

  it('notes a client that goes away before the answer is complete', async () => {
    fake.chatCompletion({ chunks: ['a', 'b', 'c', 'd'], chunkDelayMs: 100 });
    const req = httpRequest(`${baseUrl}/chat/completions`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      response.once('data', () => req.destroy());
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ ...CHAT, stream: true }));

    await fake.waitForRequests(1);
    await new Promise((resolveWait) => setTimeout(resolveWait, 400));

    expect(fake.requests[0].aborted).toBe(true);
  });

  it('answers 404 outside the two routes', async () => {
    const answer = await send(`${baseUrl}/models`, { key: 'k' });

    expect(answer.status).toBe(404);
    expect(fake.lastRequest).toMatchObject({ method: 'GET', path: '/models' });
  });

  it('cuts streams in progress on stop, after which its address refuses connections', async () => {
    const other = new FakeOpenRouter();
    const url = await other.start();
    other.chatCompletion({ chunks: ['a', 'b', 'c'], chunkDelayMs: 1000 });

    const streaming = send(`${url}/chat/completions`, { key: 'k', body: { ...CHAT, stream: true } });
    await other.waitForRequests(1);
    await other.stop();

    expect((await streaming).ended).toBe('cut');
    await expect(send(`${url}/key`, { key: 'k' })).rejects.toThrow(/ECONNREFUSED/);
  });
});
