import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { ConfigError, loadConfig } from '../src/config/config';
import { DEFAULT_HTTP_LIMITS } from '../src/config/http-limits';
import { LARGE_BODY_WAIT_MS } from '../src/http/large-body-slots';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { HeldConnection, holdConnection, statusOf } from './support/raw-http';
import { startTestApp, TestApp } from './support/test-app';

/**
 * GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT, over real sockets: bodies over the anonymous cap share two
 * slots (4 MiB over 2 MiB); one more waits for a slot, then is answered 429 RATE_LIMITED unread;
 * every way a request can end gives its slot back; small bodies never wait.
 */

const QUERY = '{ viewer { userId } }';
/** over the 64 KiB anonymous cap, so it needs a slot */
const LARGE = JSON.stringify({ query: QUERY, pad: 'p'.repeat(200_000) });

function postHead(headers: Record<string, string>): string {
  const lines = Object.entries({ 'content-type': 'application/json', connection: 'close', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `POST /graphql HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\n\r\n`;
}

function chunked(data: string): string {
  return `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`;
}

/** The JSON body and headers of a raw answer. */
function parsed(answer: string): { headers: string; body: { errors?: Array<{ message: string; extensions?: { code?: string } }> } } {
  const split = answer.indexOf('\r\n\r\n');
  const rest = answer.slice(split + 4);
  return { headers: answer.slice(0, split).toLowerCase(), body: JSON.parse(rest.slice(rest.indexOf('{'), rest.lastIndexOf('}') + 1)) };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 250; attempt++) {
    if (condition()) return;
    await new Promise((resolveWait) => setTimeout(resolveWait, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('the budget of large GraphQL bodies in flight (default limits)', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  let base: URL;
  const free = () => t.app.seam.largeBodySlots.available;

  beforeAll(async () => {
    t = await startTestApp();
    ws = await seedWorkspace(t);
    base = new URL(t.url);
  });
  afterAll(() => t.close());

  /** A large body of which only the first bytes are sent: once read that far it holds a slot. */
  async function holdSlot(token = ws.tokens.member): Promise<HeldConnection> {
    return holdConnection(base, postHead({ authorization: `Bearer ${token}`, 'content-length': String(Buffer.byteLength(LARGE)) }) + LARGE.slice(0, 1000));
  }

  async function holdBothSlots(): Promise<HeldConnection[]> {
    expect(free()).toBe(2);
    const held = [await holdSlot(), await holdSlot()];
    await until(() => free() === 0, 'both slots taken');
    return held;
  }

  async function letGo(held: HeldConnection[]): Promise<void> {
    for (const connection of held) connection.socket.destroy();
    await until(() => free() === 2, 'both slots free again');
  }

  const postLarge = (token = ws.tokens.owner, body = LARGE) => request(t.url).post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${token}`).send(body);

  it('has two slots by default (4 MiB over 2 MiB)', () => {
    expect(DEFAULT_HTTP_LIMITS.graphqlBodyBytesInFlight).toBe(4 * 1024 * 1024);
    expect(t.app.seam.largeBodySlots.count).toBe(2);
    expect(free()).toBe(2);
  });

  it('makes a third large body wait while two are in progress, and serves it once one is answered', async () => {
    const held = await holdBothSlots();
    let answered = false;
    const third = postLarge().then((answer) => {
      answered = true;
      return answer;
    });
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    expect(answered).toBe(false);
    held[0].socket.write(LARGE.slice(1000));
    expect(statusOf(await held[0].closed)).toBe(200);
    const served = await third;
    expect(served.status).toBe(200);
    expect(served.body.data.viewer.userId).toBe(ws.userIds.owner);
    await letGo(held.slice(1));
  });

  it('answers a large body that got no slot within the wait 429 RATE_LIMITED with Retry-After: 1, without reading its body', async () => {
    const held = await holdBothSlots();
    const started = Date.now();
    // Headers only: the answer comes without a byte of the body.
    const waiting = await holdConnection(base, postHead({ authorization: `Bearer ${ws.tokens.owner}`, 'content-length': String(Buffer.byteLength(LARGE)) }));
    const answer = await waiting.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(LARGE_BODY_WAIT_MS - 50);
    expect(statusOf(answer)).toBe(429);
    const { headers, body } = parsed(answer);
    expect(headers).toContain('retry-after: 1');
    expect(body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(free()).toBe(0);
    await letGo(held);
  });

  it('makes a chunked body wait for a slot once it grows past the anonymous cap, and refuses it 429 when none comes', async () => {
    const held = await holdBothSlots();
    const growing = await holdConnection(base, postHead({ authorization: `Bearer ${ws.tokens.owner}`, 'transfer-encoding': 'chunked' }) + chunked(LARGE.slice(0, 100_000)));
    const answer = await growing.closed;
    expect(statusOf(answer)).toBe(429);
    expect(parsed(answer).body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    await letGo(held);
    const whole = await holdConnection(base, postHead({ authorization: `Bearer ${ws.tokens.owner}`, 'transfer-encoding': 'chunked' }) + chunked(LARGE.slice(0, 100_000)) + chunked(LARGE.slice(100_000)) + '0\r\n\r\n');
    expect(statusOf(await whole.closed)).toBe(200);
    expect(free()).toBe(2);
  });

  it('never makes a small body wait, authenticated or not, while every slot is taken', async () => {
    const held = await holdBothSlots();
    const small = JSON.stringify({ query: QUERY, pad: 'p'.repeat(DEFAULT_HTTP_LIMITS.anonymousBodyBytes - 100) });
    for (const token of [ws.tokens.owner, ws.tokens.member]) {
      const answer = await request(t.url).post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${token}`).send(small);
      expect(answer.status).toBe(200);
    }
    expect((await request(t.url).post('/graphql').set('content-type', 'application/json').send(small)).status).toBe(200);
    const smallChunked = await holdConnection(base, postHead({ authorization: `Bearer ${ws.tokens.owner}`, 'transfer-encoding': 'chunked' }) + chunked(small) + '0\r\n\r\n');
    expect(statusOf(await smallChunked.closed)).toBe(200);
    // Anonymous callers cannot send a large body at all: 413, not a wait.
    expect((await request(t.url).post('/graphql').set('content-type', 'application/json').send(LARGE)).status).toBe(413);
    expect(free()).toBe(0);
    await letGo(held);
  });

  it('gives a slot back when the client goes away mid-body, and when it goes away while waiting', async () => {
    const held = await holdBothSlots();
    const waiter = await holdConnection(base, postHead({ authorization: `Bearer ${ws.tokens.owner}`, 'content-length': String(Buffer.byteLength(LARGE)) }));
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
    waiter.socket.destroy();
    await letGo(held);
    // Both slots are usable: a large body held open leaves room for another, answered at once.
    const one = await holdSlot();
    await until(() => free() === 1, 'one slot taken');
    expect((await postLarge()).status).toBe(200);
    await letGo([one]);
    expect(t.logs.lines.filter((line) => line.includes('"level":50'))).toEqual([]);
  });

  it('gives a slot back after every refusal of a large body: not JSON, nested too deep, wrong-typed variables, over the cap', async () => {
    const wrongTyped = JSON.stringify({
      query: 'query Audit($w: ID!, $first: Int) { auditEvents(workspaceId: $w, first: $first) { pageInfo { hasNextPage } } }',
      variables: { w: { an: 'object' }, first: 'x'.repeat(200_000) },
    });
    const cases: Array<[string, string, number]> = [
      ['not JSON', `{${'x'.repeat(100_000)}`, 400],
      ['nested too deep', `{"query":"${QUERY}","variables":${'{"a":'.repeat(70)}1${'}'.repeat(70)},"pad":"${'p'.repeat(100_000)}"}`, 400],
      ['wrong-typed variables', wrongTyped, 400],
    ];
    for (const [name, body, status] of cases) {
      const answer = await postLarge(ws.tokens.owner, body);
      if (answer.status !== status) throw new Error(`${name}: ${answer.status} ${answer.text.slice(0, 200)}`);
      expect(free()).toBe(2);
    }
    const overCap = await holdConnection(base, postHead({ authorization: `Bearer ${ws.tokens.owner}`, 'transfer-encoding': 'chunked' }) + chunked('p'.repeat(DEFAULT_HTTP_LIMITS.authenticatedBodyBytes + 1)) + '0\r\n\r\n');
    expect(statusOf(await overCap.closed)).toBe(413);
    await until(() => free() === 2, 'both slots free after a 413');
    const [first, second] = await Promise.all([postLarge(), postLarge(ws.tokens.member)]);
    expect([first.status, second.status]).toEqual([200, 200]);
  });
});

describe('the budget of large GraphQL bodies in flight (short request timeout)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ overrides: { httpLimits: { ...DEFAULT_HTTP_LIMITS, requestTimeoutMs: 800 } } });
  });
  afterAll(() => t.close());

  it('gives a slot back when the request timeout closes a slow large body', async () => {
    const base = new URL(t.url);
    const tokens = [await t.token('slow-1'), await t.token('slow-2')];
    const slow = await Promise.all(tokens.map((token) => holdConnection(base, postHead({ authorization: `Bearer ${token}`, 'content-length': String(Buffer.byteLength(LARGE)) }) + LARGE.slice(0, 1000))));
    await until(() => t.app.seam.largeBodySlots.available === 0, 'both slots taken');
    for (const connection of slow) expect(statusOf(await connection.closed)).toBe(408);
    await until(() => t.app.seam.largeBodySlots.available === 2, 'both slots free after the timeout');
    const answer = await request(t.url).post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${tokens[0]}`).send(LARGE);
    expect(answer.status).toBe(200);
  });
});

describe('GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'byok-body-budget-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const env = (values: Record<string, string>) => ({ NODE_ENV: 'test', DATA_DIR: dataDir, SECRETS_PHRASE: 'body-budget-test-phrase-0123456789abcdef', JWT_SECRET: 'body-budget-test-jwt-secret-0123456789abc', ...values });

  function errorFor(values: Record<string, string>): ConfigError {
    let thrown: unknown;
    try {
      loadConfig(env(values));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    return thrown as ConfigError;
  }

  it('defaults to 4 MiB and takes a larger budget', () => {
    expect(loadConfig(env({})).config.httpLimits.graphqlBodyBytesInFlight).toBe(4 * 1024 * 1024);
    expect(loadConfig(env({ GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT: '8388608' })).config.httpLimits.graphqlBodyBytesInFlight).toBe(8 * 1024 * 1024);
    expect(loadConfig(env({ GRAPHQL_MAX_BODY_BYTES: '1048576', GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT: '1048576' })).config.httpLimits.graphqlBodyBytesInFlight).toBe(1024 * 1024);
  });

  it.each([['4MiB'], ['-1'], ['0'], ['2.5'], ['2097151'], [String(2 * 1024 * 1024 * 1024)]])('refuses %s', (value) => {
    const error = errorFor({ GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT: value });
    expect(error.variable).toBe('GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT');
  });

  it('refuses a budget below a raised GRAPHQL_MAX_BODY_BYTES, which no body at that cap could fit', () => {
    const error = errorFor({ GRAPHQL_MAX_BODY_BYTES: String(8 * 1024 * 1024) });
    expect(error.variable).toBe('GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT');
    expect(error.message).toContain('GRAPHQL_MAX_BODY_BYTES');
  });
});
