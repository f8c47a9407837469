import { JwtCodec } from '../src/auth/jwt';
import { createLogger } from '../src/logging/logger';
import { SecretsInvalidationBus } from '../src/modules/secrets/secrets-invalidation.bus';
import { FakeOpenRouter } from './support/fake-openrouter';
import { callGateway, eventually } from './support/gateway-client';
import { freshRequestId } from './support/gateway-setup';
import { canaryKey } from './support/leak-search';
import { LogCapture } from './support/log-capture';
import { buildIfStale, freePort, ServiceProcess, serviceProcessEnv, startServiceProcess } from './support/service-process';
import { TEST_JWT_SECRET } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * SPEC.md, "Caching and propagation": two compiled service processes on one database. A key
 * changed through one of them reaches the other within a second through Redis; without Redis, or
 * while it is down, the other keeps its cached copy until the TTL runs out, and keeps serving.
 * Which key a call used is read where it matters: the Authorization header the upstream received.
 */

const TTL_MS = 1_500;
const PROPAGATION_LIMIT_MS = 1_000;
const TTL_MARGIN_MS = 1_000;

interface Pair {
  a: ServiceProcess;
  b: ServiceProcess;
  db: TestDatabase;
}

interface CallOutcome {
  status: number;
  keySource: string | undefined;
  /** the key OpenRouter was called with */
  bearer: string | undefined;
  sentAt: number;
  answeredAt: number;
}

const fake = new FakeOpenRouter();
const platformKey = canaryKey();
const jwt = new JwtCodec(TEST_JWT_SECRET);
const pairs: Pair[] = [];
const databases: TestDatabase[] = [];

async function startPair(env: Record<string, string>): Promise<Pair> {
  const db = await createTestDatabase();
  databases.push(db);
  // SQLite: one DATA_DIR, so both share service.sqlite (journal and spool files are named per process).
  const common = serviceProcessEnv(db, { baseUrl: fake.baseUrl, platformKey }, env);
  // One after the other: A migrates the fresh database, B finds nothing left to do.
  const a = await startServiceProcess(common);
  const b = await startServiceProcess(common).catch(async (error) => {
    await a.stop();
    throw error;
  });
  const pair = { a, b, db };
  pairs.push(pair);
  return pair;
}

async function gql<T>(service: ServiceProcess, query: string, variables: Record<string, unknown>, token: string): Promise<T> {
  const response = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (response.status !== 200 || body.errors || !body.data) throw new Error(`GraphQL failed (${response.status}): ${JSON.stringify(body)}`);
  return body.data;
}

/** An ENTERPRISE workspace created through `service`, whose owner saved `key`; returns the owner's token too. */
async function workspaceWithKey(service: ServiceProcess, key: string): Promise<{ id: string; owner: string }> {
  const admin = await jwt.sign({ userId: 'platform-admin', platformAdmin: true }, '1h');
  const { createWorkspace } = await gql<{ createWorkspace: { id: string } }>(service, 'mutation { createWorkspace(name: "Propagation", plan: ENTERPRISE) { id } }', {}, admin);
  const ownerId = `owner-${createWorkspace.id.slice(0, 8)}`;
  await gql(service, 'mutation($w: ID!, $u: ID!) { addMember(workspaceId: $w, userId: $u, role: OWNER) { userId } }', { w: createWorkspace.id, u: ownerId }, admin);
  const owner = await jwt.sign({ userId: ownerId, platformAdmin: false }, '1h');
  await gql(service, 'mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: createWorkspace.id, k: key }, owner);
  return { id: createWorkspace.id, owner };
}

function replaceKey(service: ServiceProcess, ws: { id: string; owner: string }, key: string): Promise<unknown> {
  return gql(service, 'mutation($w: ID!, $k: String!) { replaceKey(workspaceId: $w, key: $k) { configured } }', { w: ws.id, k: key }, ws.owner);
}

function removeKey(service: ServiceProcess, ws: { id: string; owner: string }): Promise<unknown> {
  return gql(service, 'mutation($w: ID!) { removeKey(workspaceId: $w) { configured } }', { w: ws.id }, ws.owner);
}

/** One gateway call on a user-initiated path (the workspace's key when it has one). */
async function call(service: ServiceProcess, workspaceId: string): Promise<CallOutcome> {
  const requestId = freshRequestId('prop');
  const sentAt = Date.now();
  const answer = await callGateway(service, { workspaceId, path: 'AGENT_RUN', requestId });
  const answeredAt = Date.now();
  const upstream = fake.requests.find((request) => request.headers['x-request-id'] === requestId);
  return { status: answer.status, keySource: answer.headers['x-key-source'] as string | undefined, bearer: upstream?.bearer, sentAt, answeredAt };
}

/**
 * Warms `service`'s cache for the workspace. The first successful BYOK call marks the key ACTIVE,
 * which drops that worker's entry; the second loads it again and keeps it: its `sentAt` bounds when
 * the entry was cached.
 */
async function warm(service: ServiceProcess, workspaceId: string, key: string): Promise<CallOutcome> {
  const first = await call(service, workspaceId);
  const second = await call(service, workspaceId);
  for (const outcome of [first, second]) expect(outcome).toMatchObject({ status: 200, keySource: 'BYOK', bearer: key });
  return second;
}

/** Calls `service` back to back until `done` says so; every call must succeed on one of `allowed`. */
async function pollUntil(service: ServiceProcess, workspaceId: string, allowed: Array<string | undefined>, done: (outcome: CallOutcome) => boolean, limitMs: number): Promise<CallOutcome[]> {
  const outcomes: CallOutcome[] = [];
  const deadline = Date.now() + limitMs;
  for (;;) {
    const outcome = await call(service, workspaceId);
    outcomes.push(outcome);
    expect(outcome.status).toBe(200);
    expect(allowed).toContain(outcome.bearer);
    if (done(outcome) || Date.now() > deadline) return outcomes;
  }
}

async function readiness(service: ServiceProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${service.url}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

let withRedis: Pair;
let ttlOnly: Pair;
let redisDown: Pair;

beforeAll(async () => {
  buildIfStale();
  await fake.start();
  const nobodyListens = await freePort();
  [withRedis, ttlOnly, redisDown] = await Promise.all([
    // The default 2-minute TTL: only an invalidation can explain a change seen within a second.
    startPair({ REDIS_URL: 'redis://127.0.0.1:6379', SECRETS_CACHE_TTL_MS: '120000' }),
    startPair({ SECRETS_CACHE_TTL_MS: String(TTL_MS) }),
    startPair({ REDIS_URL: `redis://127.0.0.1:${nobodyListens}`, SECRETS_CACHE_TTL_MS: String(TTL_MS) }),
  ]);
  // Both subscribers must be listening before a change is published.
  for (const service of [withRedis.a, withRedis.b]) {
    await eventually(async () => ((await readiness(service)).body.redis === 'ready' ? true : undefined), 5_000, 'redis subscription');
  }
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(pairs.flatMap((pair) => [pair.a.stop(), pair.b.stop()]));
  await Promise.allSettled(databases.map((db) => db.drop()));
  await fake.stop();
});

describe('with Redis: a change made on one process reaches the other within a second', () => {
  it('replaceKey on A: B calls OpenRouter with the new key within 1 s, though its cache TTL is 2 minutes', async () => {
    const oldKey = canaryKey();
    const newKey = canaryKey();
    const ws = await workspaceWithKey(withRedis.a, oldKey);
    await warm(withRedis.b, ws.id, oldKey);
    // B holds the old key: repeated calls keep using it.
    for (let i = 0; i < 3; i++) expect((await call(withRedis.b, ws.id)).bearer).toBe(oldKey);

    await replaceKey(withRedis.a, ws, newKey);
    const changedAt = Date.now();
    const outcomes = await pollUntil(withRedis.b, ws.id, [oldKey, newKey], (outcome) => outcome.bearer === newKey, 3_000);
    const first = outcomes.find((outcome) => outcome.bearer === newKey);
    expect(first).toBeDefined();
    expect(first!.sentAt - changedAt).toBeLessThanOrEqual(PROPAGATION_LIMIT_MS);
    expect(first!.keySource).toBe('BYOK');
    // Once switched, B never goes back to the old key.
    for (let i = 0; i < 5; i++) expect((await call(withRedis.b, ws.id)).bearer).toBe(newKey);
  });

  it('removeKey on A: within 1 s B stops using the key and calls go on the platform key', async () => {
    const key = canaryKey();
    const ws = await workspaceWithKey(withRedis.a, key);
    await warm(withRedis.b, ws.id, key);

    await removeKey(withRedis.a, ws);
    const removedAt = Date.now();
    const outcomes = await pollUntil(withRedis.b, ws.id, [key, platformKey], (outcome) => outcome.bearer === platformKey, 3_000);
    const first = outcomes.find((outcome) => outcome.bearer === platformKey);
    expect(first).toBeDefined();
    expect(first!.sentAt - removedAt).toBeLessThanOrEqual(PROPAGATION_LIMIT_MS);
    expect(first!.keySource).toBe('PLATFORM');
    for (let i = 0; i < 5; i++) expect(await call(withRedis.b, ws.id)).toMatchObject({ status: 200, keySource: 'PLATFORM', bearer: platformKey });
  });

  it('a worker that stops closes its Redis connections without reporting Redis as down', async () => {
    const logs = new LogCapture();
    const bus = new SecretsInvalidationBus('redis://127.0.0.1:6379', createLogger('info', logs));
    await bus.start(() => undefined);
    expect(bus.state).toBe('ready');
    await bus.stop();
    await new Promise((resolveWait) => setTimeout(resolveWait, 200)); // the connections' last events
    expect(logs.text).not.toContain('redis unreachable');
    expect(logs.lines).toEqual([]);
  });
});

describe(`without Redis: the other process keeps its cached key for the TTL (${TTL_MS} ms), then reads the new one`, () => {
  it('A uses the new key at once; B still uses the old one right after, and the new one only once its entry expired', async () => {
    const oldKey = canaryKey();
    const newKey = canaryKey();
    const ws = await workspaceWithKey(ttlOnly.a, oldKey);
    const warmed = await warm(ttlOnly.b, ws.id, oldKey);

    await replaceKey(ttlOnly.a, ws, newKey);
    // The worker that handled the change updates at once.
    expect((await call(ttlOnly.a, ws.id)).bearer).toBe(newKey);
    // B's entry, cached during the warming call, has not expired yet: the old key proves the cache.
    const right = await call(ttlOnly.b, ws.id);
    expect(right.answeredAt).toBeLessThan(warmed.sentAt + TTL_MS); // else the check below proves nothing
    expect(right).toMatchObject({ status: 200, keySource: 'BYOK', bearer: oldKey });

    const outcomes = await pollUntil(ttlOnly.b, ws.id, [oldKey, newKey], (outcome) => outcome.bearer === newKey, TTL_MS + 3_000);
    const first = outcomes.find((outcome) => outcome.bearer === newKey);
    expect(first).toBeDefined();
    // Not before the entry could have expired, and soon after it did.
    expect(first!.answeredAt).toBeGreaterThanOrEqual(warmed.sentAt + TTL_MS);
    expect(first!.sentAt).toBeLessThanOrEqual(warmed.answeredAt + TTL_MS + TTL_MARGIN_MS);
    const lastOld = outcomes.filter((outcome) => outcome.bearer === oldKey).pop();
    if (lastOld) expect(lastOld.sentAt).toBeLessThanOrEqual(warmed.answeredAt + TTL_MS);
  });
});

describe('with Redis unreachable: both processes keep serving on the TTL alone', () => {
  it('/readyz is ready and says redis is down, on both', async () => {
    for (const service of [redisDown.a, redisDown.b]) {
      const { status, body } = await readiness(service);
      expect(status).toBe(200);
      expect(body).toMatchObject({ status: 'ready', database: 'ok' });
      expect(String(body.redis)).toMatch(/^down/);
    }
  });

  it('gateway calls succeed on both; a replaced key reaches the other process within the TTL', async () => {
    const oldKey = canaryKey();
    const newKey = canaryKey();
    const ws = await workspaceWithKey(redisDown.a, oldKey);
    await warm(redisDown.a, ws.id, oldKey);
    await warm(redisDown.b, ws.id, oldKey);

    await replaceKey(redisDown.a, ws, newKey);
    const changedAt = Date.now();
    expect(await call(redisDown.a, ws.id)).toMatchObject({ status: 200, keySource: 'BYOK', bearer: newKey });
    const outcomes = await pollUntil(redisDown.b, ws.id, [oldKey, newKey], (outcome) => outcome.bearer === newKey, TTL_MS + 3_000);
    const first = outcomes.find((outcome) => outcome.bearer === newKey);
    expect(first).toBeDefined();
    expect(first!.sentAt - changedAt).toBeLessThanOrEqual(TTL_MS + TTL_MARGIN_MS);
    expect(outcomes.every((outcome) => outcome.status === 200)).toBe(true);
  });
});
