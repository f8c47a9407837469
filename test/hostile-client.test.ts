import request from 'supertest';
import { DEFAULT_HTTP_LIMITS, HttpLimits } from '../src/config/http-limits';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { holdConnection, rawExchange, rawRequestLine, statusOf } from './support/raw-http';
import { startTestApp, TEST_SERVICE_TOKEN, TestApp } from './support/test-app';

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

/** A POST of `body` to /graphql as raw bytes: the test decides the content-length and what is sent. */
function graphqlPost(body: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `POST /graphql HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

describe('bounded work before authentication', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t);
  });
  afterAll(() => t.close());

  const MARK = 'Zq8mark';
  /** thousands of variables, a megabyte string, a long list and a wide object: all of the wrong type */
  function hostileVariables(totalBytes: number, count: number): Record<string, unknown> {
    const variables: Record<string, unknown> = {
      w: { [`${MARK}key`]: `${MARK}object-value`, nested: [`${MARK}nested`] },
      first: `${MARK}string-for-an-int`,
      after: Array.from({ length: count }, (_, i) => `${MARK}list-${i}`),
    };
    for (let i = 0; i < count; i++) variables[`v${i}`] = `${MARK}undeclared-${i}`;
    const used = Buffer.byteLength(JSON.stringify(variables));
    variables.first = `${MARK}${'s'.repeat(Math.max(0, totalBytes - used - 1024))}`;
    return variables;
  }
  const QUERY = 'query Audit($w: ID!, $first: Int, $after: String) { auditEvents(workspaceId: $w, first: $first, after: $after) { pageInfo { hasNextPage } } }';

  it.each([
    ['authenticated, 2 MiB', () => ws.tokens.owner, DEFAULT_HTTP_LIMITS.authenticatedBodyBytes, 3000],
    ['anonymous, 64 KiB', () => undefined, DEFAULT_HTTP_LIMITS.anonymousBodyBytes, 1000],
  ])('answers a body at the cap (%s) with thousands of variables and long values, echoing none of them', async (_name, tokenOf, cap, count) => {
    const body = JSON.stringify({ query: QUERY, variables: hostileVariables(cap - 200, count) });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(cap);
    const token = tokenOf();
    const answer = await request(t.url).post('/graphql').set('content-type', 'application/json').set(token ? { authorization: `Bearer ${token}` } : {}).send(body);
    expect(answer.status).toBeLessThan(500);
    expect(answer.body.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|UNAUTHENTICATED/);
    expect(answer.text).not.toContain(MARK);
    expect(answer.body.errors.map((error: { message: string }) => error.message)).toEqual(
      expect.arrayContaining(['Variable "$w" got an invalid value; expected "ID!".', 'Variable "$first" got an invalid value; expected "Int".']),
    );
    expect(t.logs.text).not.toContain(MARK);
  });

  it('refuses an anonymous body over 64 KiB with 413, and an authenticated body over 2 MiB', async () => {
    const anonymous = await request(t.url).post('/graphql').set('content-type', 'application/json').send(JSON.stringify({ query: '{ viewer { userId } }', pad: 'p'.repeat(DEFAULT_HTTP_LIMITS.anonymousBodyBytes) }));
    expect(anonymous.status).toBe(413);
    const authenticated = await request(t.url).post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${ws.tokens.owner}`).send(JSON.stringify({ query: '{ viewer { userId } }', pad: 'p'.repeat(DEFAULT_HTTP_LIMITS.anonymousBodyBytes) }));
    expect(authenticated.status).toBe(200);
    const over = await request(t.url).post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${ws.tokens.owner}`).send(JSON.stringify({ query: '{ viewer { userId } }', pad: 'p'.repeat(DEFAULT_HTTP_LIMITS.authenticatedBodyBytes) }));
    expect(over.status).toBe(413);
  });

  it('answers a declared content-length over the cap with 413 before a byte of the body is sent', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: `Bearer ${ws.tokens.owner}` }, { authorization: 'Bearer not-a-valid-token' }]) {
      const held = await holdConnection(new URL(t.url), graphqlPost('', { ...headers, 'content-length': String(100 * 1024 * 1024) }));
      expect(statusOf(await held.closed)).toBe(413);
    }
  });

  it('refuses JSON nested beyond the limit on every endpoint with a 4xx, and stays up', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const deepObject = `{"query":"{ viewer { userId } }","variables":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`;
    const targets: Array<[string, string, Record<string, string>, string]> = [
      ['POST', '/graphql', {}, deep],
      ['POST', '/graphql', {}, deepObject],
      ['POST', '/graphql', { authorization: `Bearer ${ws.tokens.owner}` }, deep],
      ['POST', '/graphql', { authorization: `Bearer ${ws.tokens.owner}` }, deepObject],
      ['POST', '/', { authorization: `Bearer ${ws.tokens.owner}` }, deepObject],
      ['POST', '/v1/chat/completions', { authorization: `Bearer ${TEST_SERVICE_TOKEN}`, 'x-workspace-id': ws.id, 'x-inference-path': 'CHAT' }, deep],
      ['POST', '/v1/chat/completions', {}, deep],
      ['POST', '/healthz', {}, deep],
      ['POST', '/readyz', {}, deep],
      ['POST', '/graphql-ide/x.js', {}, deep],
      ['POST', '/metrics', {}, deep],
      ['PUT', '/graphql', {}, deep],
    ];
    for (const [method, path, headers, body] of targets) {
      const answer = await request(t.url)[method === 'PUT' ? 'put' : 'post'](path).set({ 'content-type': 'application/json', 'apollo-require-preflight': 'true', ...headers }).send(body);
      if (answer.status < 400 || answer.status > 499) throw new Error(`${method} ${path}: ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    const nestedVariables = encodeURIComponent(`${'{"a":'.repeat(1_000)}1${'}'.repeat(1_000)}`);
    const get = await request(t.url).get(`/graphql?query=${encodeURIComponent('{ viewer { userId } }')}&variables=${nestedVariables}`).set('apollo-require-preflight', 'true');
    expect(get.status).toBe(400);
    await expectAlive(t);
  });

  it('logs a client that goes away mid-body at info, not as an error', async () => {
    const held = await holdConnection(new URL(t.url), graphqlPost('', { 'content-length': '1000', 'x-request-id': 'went-away-1' }) + '{"query":');
    held.socket.destroy();
    const lineOf = () => t.logs.lines.map((line) => JSON.parse(line)).find((entry) => entry.requestId === 'went-away-1' && entry.msg === 'client went away');
    for (let attempt = 0; attempt < 100 && !lineOf(); attempt++) await new Promise((resolveWait) => setTimeout(resolveWait, 20));
    expect(lineOf()?.level).toBe(30);
    expect(t.logs.lines.filter((line) => line.includes('went-away-1') && line.includes('"level":50'))).toEqual([]);
  });

  it('answers the 33rd concurrent GraphQL request of one principal 429 RATE_LIMITED, and serves others meanwhile', async () => {
    const base = new URL(t.url);
    const body = JSON.stringify({ query: '{ viewer { userId } }' });
    // 32 requests whose bodies are still coming: each holds its principal's slot.
    const held = await Promise.all(
      Array.from({ length: DEFAULT_HTTP_LIMITS.graphqlConcurrentPerPrincipal }, () =>
        holdConnection(base, graphqlPost('', { authorization: `Bearer ${ws.tokens.member}`, 'content-length': String(Buffer.byteLength(body)), connection: 'close' })),
      ),
    );
    let refused: request.Response | undefined;
    for (let attempt = 0; attempt < 200 && refused === undefined; attempt++) {
      const answer = await request(t.url).post('/graphql').set('authorization', `Bearer ${ws.tokens.member}`).set('content-type', 'application/json').send(body);
      if (answer.status === 429) refused = answer;
      else expect(answer.status).toBe(200);
    }
    expect(refused?.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect((await t.gql('{ viewer { userId } }', {}, ws.tokens.owner)).status).toBe(200);
    for (const connection of held) connection.socket.write(body);
    for (const connection of held) expect(statusOf(await connection.closed)).toBe(200);
    expect((await t.gql('{ viewer { userId } }', {}, ws.tokens.member)).status).toBe(200);
  });
});

describe('timeouts and connection caps (short limits set in the configuration)', () => {
  let t: TestApp;
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300, maxConnections: 1_100 };
  beforeAll(async () => {
    t = await startTestApp({ overrides: { httpLimits: limits, logLevel: 'info' } });
  });
  afterAll(() => t.close());

  it('closes 300 slow bodies of 300 users by the request timeout, answering 408, and answers /healthz meanwhile', async () => {
    const base = new URL(t.url);
    const tokens = await Promise.all(Array.from({ length: 300 }, (_, i) => t.token(`slow-user-${i}`)));
    const slow = await Promise.all(tokens.map((token) => holdConnection(base, graphqlPost('', { authorization: `Bearer ${token}`, 'content-length': '1000' }) + '{"query":')));
    await expectAlive(t);
    const answers = await Promise.all(slow.map((connection) => connection.closed));
    for (const answer of answers) expect(statusOf(answer)).toBe(408);
    await expectAlive(t);
    expect(t.logs.lines.filter((line) => line.includes('"level":50'))).toEqual([]);
  });

  it('closes 300 slow anonymous bodies from one address: those beyond its 32 slots at once (429), the rest by the timeout (408)', async () => {
    const base = new URL(t.url);
    const slow = await Promise.all(Array.from({ length: 300 }, () => holdConnection(base, graphqlPost('', { 'content-length': '1000' }) + '{"query":')));
    await expectAlive(t);
    const statuses = (await Promise.all(slow.map((connection) => connection.closed))).map(statusOf);
    expect(statuses).toContain(408);
    expect(statuses).toContain(429);
    expect(statuses.filter((status) => status !== 408 && status !== 429)).toEqual([]);
    await expectAlive(t);
  });

  it('closes slow headers by the headers timeout', async () => {
    const held = await holdConnection(new URL(t.url), 'POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(statusOf(await held.closed)).toBe(408);
  });

  it('holds 1,000 idle connections without refusing others, then closes them', async () => {
    const base = new URL(t.url);
    const idle = await Promise.all(Array.from({ length: 1_000 }, () => holdConnection(base)));
    await expectAlive(t);
    await Promise.all(idle.map((connection) => connection.closed));
    await expectAlive(t);
  });

  it('closes idle keep-alive connections after the keep-alive timeout', async () => {
    const held = await holdConnection(new URL(t.url), 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(await held.closed)).toBe(200);
  });
});

describe('the connection cap', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ overrides: { httpLimits: { ...DEFAULT_HTTP_LIMITS, maxConnections: 20 } } });
  });
  afterAll(() => t.close());

  it('closes connections over the cap at once and serves again once below it', async () => {
    const base = new URL(t.url);
    const open = await Promise.all(Array.from({ length: 20 }, () => holdConnection(base)));
    const over = await Promise.all(Array.from({ length: 5 }, () => holdConnection(base, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')));
    for (const connection of over) expect(statusOf(await connection.closed)).toBeUndefined();
    for (const connection of open) connection.socket.destroy();
    await Promise.all(open.map((connection) => connection.closed));
    let status: number | undefined;
    for (let attempt = 0; attempt < 100 && status !== 200; attempt++) status = (await request(t.url).get('/healthz').catch(() => ({ status: undefined }))).status;
    expect(status).toBe(200);
  });
});

describe('GraphQL operations the schema cannot run', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('answers a subscription 400 BAD_REQUEST, not an internal error (found by the fuzz test)', async () => {
    const answer = await t.gql('subscription Q { viewer { userId } }');
    expect(answer.status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    expect(t.logs.lines.filter((line) => line.includes('"level":50'))).toEqual([]);
  });
});
