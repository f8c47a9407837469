import request from 'supertest';
import { rawExchange, rawRequestLine, statusOf } from './support/raw-http';
import { startTestApp, TestApp } from './support/test-app';

/**
 * SPEC.md "Hostile input", over real sockets: whatever a client sends, it gets a 4xx (or the
 * operation's own error) and the service keeps answering everyone else. Behaviour, never time.
 */

async function expectAlive(t: TestApp): Promise<void> {
  expect((await t.http().get('/healthz')).status).toBe(200);
}

function expectClientError(answer: string, context: string): void {
  const status = statusOf(answer);
  if (status === undefined || status < 400 || status > 499) throw new Error(`${context}: expected a 4xx, got ${JSON.stringify(answer.slice(0, 200))}`);
}

describe('the front door', () => {
  let t: TestApp;
  let base: URL;
  beforeAll(async () => {
    t = await startTestApp();
    base = new URL(t.url);
  });
  afterAll(() => t.close());

  const REQUEST_LINES = [
    'GET // HTTP/1.1',
    'GET //x:99999/graphql HTTP/1.1',
    'POST //x:99999/graphql HTTP/1.1',
    'GET /%zz HTTP/1.1',
    'GET /graphql%zz?%zz=%zz HTTP/1.1',
    'GET http://example.com/graphql HTTP/1.1',
    'GET http://[::1 HTTP/1.1',
    'GET example.com:443 HTTP/1.1',
    'CONNECT example.com:443 HTTP/1.1',
    'OPTIONS * HTTP/1.1',
    'GET ?x HTTP/1.1',
    `GET /${'a'.repeat(8 * 1024)} HTTP/1.1`,
    `GET /graphql?query=${'%7B'.repeat(2000)} HTTP/1.1`,
    'BREW /healthz HTTP/1.1',
    'DELETE /healthz HTTP/1.1',
    'PUT /graphql HTTP/1.1',
    'GET /v1/chat/completions HTTP/1.1',
    'GET /graphql-ide/%2e%2e/%2e%2e/package.json HTTP/1.1',
    'GET /graphql-ide/../../package.json HTTP/1.1',
    'GET /healthz HTTP/9.9',
  ];

  it.each(REQUEST_LINES.map((line) => [line.length > 80 ? `${line.slice(0, 60)}… (${line.length} characters)` : line, line]))('answers %s with a 4xx and stays up', async (_name, line) => {
    expectClientError(await rawRequestLine(base, line).catch(async () => rawExchange(base, `${line}\r\nHost: x\r\n\r\n`)), line);
    await expectAlive(t);
  });

  const RAW_REQUESTS: Array<[string, string]> = [
    ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'],
    ['a header with a NUL', 'GET /graphql HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n'],
    ['headers of 64 KB', `GET /graphql HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`],
    ['a content-length that is no number', 'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}'],
    ['two different content-lengths', 'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'],
    ['chunked and a content-length', 'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a broken chunk', 'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
    ['an Authorization of 8 KB', `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${'e'.repeat(8 * 1024)}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`],
    ['an X-Request-Id of 8 KB', `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: ${'r'.repeat(8 * 1024)}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`],
    ['a body that is not JSON', 'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{{{{'],
    ['a gateway call without a token', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'],
    ['a WebSocket upgrade', 'GET /graphql HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'],
    ['garbage', '\u0000\u0001\u0002\r\n\r\n'],
  ];

  it.each(RAW_REQUESTS)('answers %s with a 4xx and stays up', async (name, bytes) => {
    expectClientError(await rawExchange(base, bytes), name);
    await expectAlive(t);
  });

  it('gives a request id with every answer, including refusals', async () => {
    const answer = await rawRequestLine(base, 'GET //x:99999/graphql HTTP/1.1');
    expect(answer).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/i);
  });

  it('answers 405 naming the method on known paths, 404 elsewhere', async () => {
    const healthz = await request(t.url).post('/healthz');
    expect(healthz.status).toBe(405);
    expect(healthz.headers.allow).toBe('GET');
    expect((await request(t.url).get('/nowhere')).status).toBe(404);
  });
});
