import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Response } from 'supertest';
import { JwtCodec } from '../src/auth/jwt';
import { expectGraphQLError } from './support/errors';
import { FakeOpenRouter } from './support/fake-openrouter';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { CHAT_BODY, callGateway, eventually, openGateway, readAnswer } from './support/gateway-client';
import { canaryKey } from './support/leak-search';
import { buildIfStale, gqlOn, ServiceProcess, serviceProcessEnv, startServiceProcess } from './support/service-process';
import { startCuttableApp } from './support/cuttable-app';
import { GraphQLResult, startTestApp, TEST_JWT_SECRET, TestApp } from './support/test-app';
import { createTestDatabase, recordsWithRequestId, TestDatabase } from './support/test-database';

/** Transport and operations concerns, over real HTTP: probes, errors, request ids and hardening. */

const VIEWER = '{ viewer { platformAdmin } }';
const INTROSPECTION = '{ __schema { queryType { name } } }';

/** Sends a GraphQL POST with extra headers and returns the parsed answer plus the response headers. */
async function post(t: TestApp, body: unknown, headers: Record<string, string> = {}): Promise<GraphQLResult & { headers: Record<string, string> }> {
  const req = t.http().post('/graphql').set('content-type', 'application/json');
  for (const [name, value] of Object.entries(headers)) req.set(name, value);
  const response = await req.send(body as object);
  return { status: response.status, data: response.body?.data, errors: response.body?.errors, text: response.text, headers: response.headers as Record<string, string> };
}

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/** `promise`'s value, or `fallback` once `ms` have passed; the timer never outlives the wait. */
async function settlesWithin<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolveLate) => (timer = setTimeout(() => resolveLate(fallback), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function connectRefused(port: number): Promise<string> {
  return new Promise((resolveAttempt) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolveAttempt('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolveAttempt(error.code ?? error.message));
  });
}

/** src/server.ts: how long a stop waits for requests in flight before it cuts their connections. */
const SHUTDOWN_GRACE_MS = 10_000;

/** The service's own GraphQL IDE (GraphiQL), which admins use in a browser: test/graphql-ide.test.ts runs it. */
function expectIdePage(page: Response): void {
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.headers['content-security-policy']).toMatch(/^default-src 'self';/);
  expect(page.text).toMatch(/^\s*<!DOCTYPE html>/i);
  expect(page.text).toContain('<div id="graphiql"></div>');
  // nothing from a CDN: Apollo's landing page loaded its Sandbox from one
  expect(page.text).not.toMatch(/https?:\/\//);
  // a page, not a GraphQL answer refused for want of a preflight header
  expect(page.text).not.toMatch(/"errors"|Cross-Site Request Forgery/);
}

describe('operations', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  describe('probes and routes', () => {
    it('GET /healthz answers 200', async () => {
      const response = await t.http().get('/healthz');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'ok' });
    });

    it('GET /readyz answers 200 with the database reachable and migrations applied', async () => {
      const response = await t.http().get('/readyz');
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'ready', database: 'ok', migrations: 'applied' });
    });

    it('GET /readyz answers 503 while migrations are pending (started without migrating)', async () => {
      const unmigrated = await startTestApp({ overrides: { migrateOnStart: false } });
      try {
        const ready = await unmigrated.http().get('/readyz');
        expect(ready.status).toBe(503);
        expect(ready.body).toMatchObject({ status: 'not ready', database: 'ok', migrations: 'pending' });
        // liveness is not readiness: the process itself is fine
        expect((await unmigrated.http().get('/healthz')).status).toBe(200);
      } finally {
        await unmigrated.close();
      }
    });

    it('GET /readyz answers 503 while the database is unreachable (GATEWAY_DATABASE_OUTAGE=refuse), and 200 again once it is back', async () => {
      const db = await createTestDatabase();
      const cuttable = await startCuttableApp(db, { gatewayDatabaseOutage: 'refuse' });
      try {
        expect((await cuttable.t.http().get('/readyz')).status).toBe(200);
        await cuttable.cut();
        const asked = Date.now();
        const down = await cuttable.t.http().get('/readyz');
        // A probe that hangs on a dead database is as bad as one that lies about it.
        expect(Date.now() - asked).toBeLessThan(5_000);
        expect(down.status).toBe(503);
        expect(down.body).toMatchObject({ status: 'not ready', database: 'unreachable' });
        expect(down.body.database).not.toBe('ok');
        // Nothing in the process is broken: a restart would not help, so liveness stays up.
        expect((await cuttable.t.http().get('/healthz')).status).toBe(200);

        await cuttable.restore();
        const back = await eventually(async () => {
          const ready = await cuttable.t.http().get('/readyz');
          return ready.status === 200 ? ready : undefined;
        }, 10_000, '/readyz to answer 200 after the database came back');
        expect(back.body).toMatchObject({ status: 'ready', database: 'ok', migrations: 'applied' });
      } finally {
        await cuttable.close();
        await db.drop();
      }
    });

    it('GET /readyz answers within its 2 s timeout when the database stops answering without breaking connections', async () => {
      const db = await createTestDatabase();
      const cuttable = await startCuttableApp(db, { gatewayDatabaseOutage: 'refuse' });
      try {
        expect((await cuttable.t.http().get('/readyz')).status).toBe(200);
        if (cuttable.stall) {
          // MySQL: a host that drops packets; the pool's connections stay open and wait for ever.
          cuttable.stall();
          const asked = Date.now();
          const down = await cuttable.t.http().get('/readyz');
          expect(Date.now() - asked).toBeLessThan(4_000);
          expect(down.status).toBe(503);
          expect(down.body).toMatchObject({ status: 'not ready', database: 'unreachable' });
          await cuttable.cut();
          await cuttable.restore();
          await eventually(async () => ((await cuttable.t.http().get('/readyz')).status === 200 ? true : undefined), 15_000, '/readyz to answer 200 again');
        } else {
          // SQLite has no host to lose; the nearest thing, another process holding the write lock,
          // must not make the probe wait (WAL readers never wait for the writer).
          const holder = new Database(join(db.dataDir, 'service.sqlite'));
          try {
            holder.exec('BEGIN EXCLUSIVE');
            const asked = Date.now();
            expect((await cuttable.t.http().get('/readyz')).status).toBe(200);
            expect(Date.now() - asked).toBeLessThan(1_000);
          } finally {
            holder.exec('ROLLBACK');
            holder.close();
          }
        }
      } finally {
        await cuttable.close();
        await db.drop();
      }
    });

    it('answers 404 for an unknown route', async () => {
      const response = await t.http().get('/no/such/route');
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ error: 'not found' });
    });

    it.each([
      ['get', '/v1/chat/completions', 'POST'],
      ['put', '/v1/chat/completions', 'POST'],
      ['post', '/healthz', 'GET'],
      ['delete', '/readyz', 'GET'],
    ] as const)('answers %s %s with 405 and Allow: %s', async (method, path, allow) => {
      const response = await t.http()[method](path);
      expect(response.status).toBe(405);
      expect(response.headers.allow).toBe(allow);
      expect(response.body).toEqual({ error: `method not allowed: use ${allow}` });
    });
  });

  describe('request ids', () => {
    it('echoes a sane X-Request-Id in the response header', async () => {
      const response = await t.http().get('/healthz').set('x-request-id', 'ops-test-echo-42');
      expect(response.headers['x-request-id']).toBe('ops-test-echo-42');
    });

    it('replaces an unusable X-Request-Id, and makes one up when there is none', async () => {
      const injected = await t.http().get('/healthz').set('x-request-id', 'two words\tand a tab');
      expect(injected.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const none = await t.http().get('/healthz');
      expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(none.headers['x-request-id']).not.toBe(injected.headers['x-request-id']);
    });
  });

  describe('request log and argument checks', () => {
    it('logs one line per request, under its request id, with status and duration', async () => {
      await post(t, { query: VIEWER }, { 'x-request-id': 'ops-test-log-1' });
      const logged = t.logs.lines.map((line) => JSON.parse(line) as Record<string, any>).filter((line) => line.requestId === 'ops-test-log-1' && line.msg === 'request');
      expect(logged).toEqual([expect.objectContaining({ level: 30, method: 'POST', path: '/graphql', status: 200, ms: expect.any(Number) })]);
    });

    it('refuses an over-long workspace id with BAD_USER_INPUT (to a caller who may read any workspace)', async () => {
      const ws = await seedWorkspace(t, undefined, 'Argument checks');
      const answer = await t.gql('query($w: ID!) { aiInferenceKey(workspaceId: $w) { configured } }', { w: 'w'.repeat(65) }, ws.adminToken);
      expectGraphQLError(answer, 'BAD_USER_INPUT');
      expect(answer.errors?.[0].message).toMatch(/workspaceId/);
    });
  });

  describe('internal errors', () => {
    it('are masked for the client and logged under the same request id', async () => {
      const ws = await seedWorkspace(t, undefined, 'Masking');
      const saved = await t.gql('mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: ws.id, k: sampleKey('m') }, ws.tokens.owner);
      expect(saved.errors).toBeUndefined();

      // A real failure deep in a write: the audit table disappears under the running service.
      await t.app.dataSource.query('ALTER TABLE audit_event RENAME TO audit_event_moved');
      let removed: Awaited<ReturnType<typeof post>>;
      try {
        removed = await post(t, { query: 'mutation($w: ID!) { removeKey(workspaceId: $w) { configured } }', variables: { w: ws.id } }, { authorization: `Bearer ${ws.tokens.owner}`, 'x-request-id': 'ops-test-internal-1' });
      } finally {
        await t.app.dataSource.query('ALTER TABLE audit_event_moved RENAME TO audit_event');
      }

      expect(removed.status).toBe(200);
      expect(removed.headers['x-request-id']).toBe('ops-test-internal-1');
      expect(removed.errors).toHaveLength(1);
      expect(removed.errors?.[0]).toEqual({
        message: 'Internal server error',
        path: ['removeKey'],
        locations: expect.any(Array),
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'ops-test-internal-1' },
      });
      // nothing of the cause reaches the client: no SQL, no table, no driver, no stack
      expect(removed.text).not.toMatch(/audit_event|insert into|sqlite|QueryFailed|stack|\.ts:\d+/i);
      expect(removed.text).not.toMatch(/\bER_[A-Z]/); // a MySQL driver error code

      const logged = t.logs.lines.map((line) => JSON.parse(line) as Record<string, any>).filter((line) => line.msg === 'internal error');
      const entry = logged.find((line) => line.requestId === 'ops-test-internal-1');
      expect(entry).toMatchObject({ level: 50, path: ['removeKey'] });
      // the operator, unlike the client, gets the cause
      expect(entry?.err.message).toMatch(/audit_event/);

      // the transaction rolled back: the key is still there, and the service works once repaired
      const retried = await t.gql('mutation($w: ID!) { removeKey(workspaceId: $w) { configured } }', { w: ws.id }, ws.tokens.owner);
      expect(retried.errors).toBeUndefined();
      expect(retried.data?.removeKey.configured).toBe(false);
    });

    it('client errors keep their own code and are not logged as internal', async () => {
      const before = t.logs.lines.length;
      const answer = await post(t, { query: '{ workspace(id: "00000000-0000-0000-0000-000000000000") { id } }' }, { 'x-request-id': 'ops-test-client-1' });
      expectGraphQLError(answer, 'UNAUTHENTICATED');
      expect(answer.errors?.[0].extensions).not.toHaveProperty('requestId');
      expect(t.logs.lines.slice(before).join('\n')).not.toContain('"msg":"internal error"');
    });
  });

  describe('hardening', () => {
    it('refuses a GET query without a preflight header (CSRF prevention), and serves it with one', async () => {
      const blocked = await t.http().get('/graphql').query({ query: VIEWER });
      expect(blocked.status).toBe(400);
      expect(blocked.body.errors[0].extensions.code).toBe('BAD_REQUEST');
      expect(blocked.body.errors[0].message).toMatch(/Cross-Site Request Forgery/);
      expect(blocked.body.data).toBeUndefined();

      const allowed = await t.http().get('/graphql').query({ query: VIEWER }).set('apollo-require-preflight', 'true');
      expect(allowed.status).toBe(200);
      expect(allowed.body).toEqual({ data: { viewer: { platformAdmin: false } } });
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])('refuses a POST sent as %s (a simple, preflight-free request)', async (contentType) => {
      const response = await t.http().post('/graphql').set('content-type', contentType).send(JSON.stringify({ query: VIEWER }));
      expect(response.status).toBe(400);
      expect(response.body.errors[0].extensions.code).toBe('BAD_REQUEST');
      expect(response.body.errors[0].extensions.code).not.toBe('INTERNAL_SERVER_ERROR');
    });

    it('answers a document that does not parse with 400 GRAPHQL_PARSE_FAILED', async () => {
      const answer = await post(t, { query: '{ viewer { userId } ' });
      expect(answer.status).toBe(400);
      expectGraphQLError(answer, 'GRAPHQL_PARSE_FAILED');
      expect(answer.errors?.[0].message).toBe('Syntax Error: Expected Name, found <EOF>.');
    });

    it('refuses batched requests (a JSON array body)', async () => {
      const answer = await post(t, [{ query: VIEWER }, { query: VIEWER }]);
      expect(answer.status).toBe(400);
      expectGraphQLError(answer, 'BAD_REQUEST');
      expect(answer.text).not.toContain('platformAdmin');
    });

    it('refuses a query deeper than 8 levels before running it', async () => {
      // __type is not exempt from the depth rule (only __schema is), so this is 10 levels deep
      const deep = '{ __type(name: "Query") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }';
      const answer = await post(t, { query: deep });
      expect(answer.status).toBe(400);
      expectGraphQLError(answer, 'GRAPHQL_VALIDATION_FAILED');
      expect(answer.errors?.[0].message).toMatch(/depth limit of 8/);
      expect(answer.data).toBeUndefined();
    });

    it('allows 15 aliases and refuses 16', async () => {
      const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: viewer { platformAdmin }`).join(' ')} }`;
      const fifteen = await post(t, { query: aliased(15) });
      expect(fifteen.errors).toBeUndefined();
      expect(Object.keys(fifteen.data ?? {})).toHaveLength(15);

      const sixteen = await post(t, { query: aliased(16) });
      expect(sixteen.status).toBe(400);
      expectGraphQLError(sixteen, 'GRAPHQL_VALIDATION_FAILED');
      expect(sixteen.errors?.[0].message).toMatch(/Aliases limit of 15/);
    });

    /**
     * A document of exactly `total` tokens (every lexical token but the end counts): operation
     * Q0 `query Q0 { __typename … }` plus one-field operations Q1, Q2, … of 5 tokens each, since
     * graphql-js gives up validating a selection set with a thousand repeats of one field.
     */
    const tokenCounted = (total: number) => {
      const others = Math.floor((total - 5) / 5);
      const q0 = `query Q0 { ${'__typename '.repeat(total - 4 - 5 * others)}}`;
      return [q0, ...Array.from({ length: others }, (_, i) => `query Q${i + 1} { __typename }`)].join('\n');
    };

    it('serves a document of exactly 2,000 tokens and refuses one of 2,001 before running it', async () => {
      const atLimit = await post(t, { query: tokenCounted(2000), operationName: 'Q0' });
      expect(atLimit.status).toBe(200);
      expect(atLimit.errors).toBeUndefined();
      expect(atLimit.data).toEqual({ __typename: 'Query' });

      const over = await post(t, { query: tokenCounted(2001), operationName: 'Q0' });
      expect(over.status).toBe(400);
      expectGraphQLError(over, 'GRAPHQL_PARSE_FAILED');
      // graphql-js 16 spells it "more that"; a fix of that typo must not fail the test.
      expect(over.errors?.[0].message).toMatch(/^Syntax Error: Document contains more tha[nt] 2000 tokens\. Parsing aborted\.$/);
      expect(over.data).toBeUndefined();
    });

    describe('query cost', () => {
      let ws: Awaited<ReturnType<typeof seedWorkspace>>;
      beforeAll(async () => {
        ws = await seedWorkspace(t, undefined, 'Query cost');
      });

      /**
       * armor's cost: a scalar 1, an object 2 plus 1.5 × its children, times a literal `first`.
       * auditEvents(first: 100) { nodes { id × 86 } } = (2 + 1.5 × (2 + 1.5 × 86)) × 100 = 19,850,
       * and each top-level __typename adds 1.
       */
      const costing = (cost: number) =>
        `query($w: ID!) { auditEvents(workspaceId: $w, first: 100) { nodes { ${'id '.repeat(86)}} } ${'__typename '.repeat(cost - 19_850)}}`;

      it('serves a query costing exactly 20,000 and refuses one costing 20,001 before running it', async () => {
        const atLimit = await post(t, { query: costing(20_000), variables: { w: ws.id } }, { authorization: `Bearer ${ws.tokens.owner}` });
        expect(atLimit.status).toBe(200);
        expect(atLimit.errors).toBeUndefined();
        // the four members that seeded the workspace
        expect(atLimit.data?.auditEvents.nodes).toHaveLength(4);

        const over = await post(t, { query: costing(20_001), variables: { w: ws.id } }, { authorization: `Bearer ${ws.tokens.owner}` });
        expect(over.status).toBe(400);
        expectGraphQLError(over, 'GRAPHQL_VALIDATION_FAILED');
        expect(over.errors?.[0].message).toBe('Syntax Error: Query Cost limit of 20000 exceeded, found 20001.');
        expect(over.data).toBeUndefined();
      });
    });

    it('serves the GraphQL IDE to a browser at GET /graphql, without a preflight header', async () => {
      expectIdePage(await t.http().get('/graphql').set('accept', 'text/html'));
    });

    it('in development, suggests field names', async () => {
      const answer = await post(t, { query: '{ viewr { platformAdmin } }' });
      expectGraphQLError(answer, 'GRAPHQL_VALIDATION_FAILED');
      expect(answer.errors?.[0].message).toContain('Did you mean "viewer"?');
    });
  });

  describe('in production', () => {
    let prod: TestApp;
    let adminToken: string;
    let userToken: string;
    beforeAll(async () => {
      prod = await startTestApp({ overrides: { nodeEnv: 'production' } });
      adminToken = await prod.token('ops-admin', { admin: true });
      userToken = await prod.token('ops-user');
    });
    afterAll(() => prod.close());

    it('refuses introspection to a signed-in user and to anonymous callers', async () => {
      for (const token of [userToken, undefined]) {
        const answer = await prod.gql(INTROSPECTION, undefined, token);
        expectGraphQLError(answer, 'FORBIDDEN');
        expect(answer.data ?? undefined).toBeUndefined();
        // SPEC.md "Hostile input": a refusal is 200 or 403, never a 5xx.
        expect(answer.status).toBe(403);
      }
      const viaType = await prod.gql('{ __type(name: "Workspace") { name } }', undefined, userToken);
      expectGraphQLError(viaType, 'FORBIDDEN');
      expect(viaType.status).toBe(403);
    });

    it('allows introspection to a platform admin (the GraphQL IDE)', async () => {
      const answer = await prod.gql(INTROSPECTION, undefined, adminToken);
      expect(answer.errors).toBeUndefined();
      expect(answer.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    });

    it('gives no suggestions of fields, arguments, types or enum values, in literals or variables', async () => {
      const typos: Array<[string, Record<string, unknown> | undefined, string]> = [
        ['{ viewr { platformAdmin } }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
        ['{ viewer { platformAdmn } }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
        ['{ workspace(idd: "w") { id } }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
        ['query($p: Plann!) { viewer { userId } }', { p: 'PRO' }, 'GRAPHQL_VALIDATION_FAILED'],
        ['mutation { changePlan(workspaceId: "w", plan: ENTERPRISEE) { id } }', undefined, 'GRAPHQL_VALIDATION_FAILED'],
        ['mutation($p: Plan!) { changePlan(workspaceId: "w", plan: $p) { id } }', { p: 'ENTERPRISEE' }, 'BAD_USER_INPUT'],
      ];
      for (const [query, variables, code] of typos) {
        const answer = await prod.gql(query, variables, userToken);
        expectGraphQLError(answer, code);
        expect(answer.text).not.toMatch(/did you mean|suggestion/i);
      }
    });

    it('still serves the GraphQL IDE, from which admins explore the API (introspection stays theirs, above)', async () => {
      expectIdePage(await prod.http().get('/graphql').set('accept', 'text/html'));
    });

    it('still answers ordinary queries', async () => {
      const answer = await prod.gql(VIEWER, undefined, userToken);
      expect(answer.data).toEqual({ viewer: { platformAdmin: false } });
    });
  });

  describe('graceful shutdown', () => {
    it('lets an in-flight request finish while /readyz answers 503 (the listener stays up to say so), then refuses new connections', async () => {
      const app = await startTestApp();
      const port = Number(new URL(app.url).port);
      const body = JSON.stringify({ query: VIEWER });
      const socket: Socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolveConnect) => socket.once('connect', () => resolveConnect()));
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('utf8')));
      const closed = new Promise<void>((resolveClose) => socket.once('close', () => resolveClose()));

      // Headers and half the body: the server is now mid-request, waiting for the rest.
      socket.write(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
      socket.write(body.slice(0, 10));
      await sleep(100);

      const stopStarted = Date.now();
      let stopped = false;
      const stopping = app.app.stop().then(() => {
        stopped = true;
      });
      await sleep(200);
      expect(stopped).toBe(false); // still waiting for our request
      // draining: still listening, so that the load balancer hears it is to send nothing more
      const draining = await app.http().get('/readyz');
      expect(draining.status).toBe(503);
      expect(draining.body).toEqual({ status: 'stopping' });

      socket.write(body.slice(10));
      await stopping;
      await closed;
      // well inside the 10 s grace period: the finished keep-alive connection was not waited on
      expect(Date.now() - stopStarted).toBeLessThan(5_000);
      expect(received).toMatch(/^HTTP\/1\.1 200 /);
      expect(received).toContain('{"data":{"viewer":{"platformAdmin":false}}}');
      expect(await connectRefused(port)).toBe('ECONNREFUSED');
      await app.db.drop();
    });
  });

  describe('SIGTERM on the compiled service', () => {
    const fake = new FakeOpenRouter();
    const jwt = new JwtCodec(TEST_JWT_SECRET);
    let db: TestDatabase;
    let service: ServiceProcess | undefined;
    beforeAll(async () => {
      buildIfStale();
      await fake.start();
      db = await createTestDatabase();
    }, 180_000);
    afterAll(async () => {
      await service?.kill();
      await fake.stop();
      await db.drop();
    });

    it.each([
      ['SIGTERM', {}],
      ['SIGINT', {}],
      ['SIGTERM', { REDIS_URL: 'redis://127.0.0.1:1' }],
    ] as const)('an idle service stops on %s and exits 0 at once (%j)', async (signal, extra) => {
      const idle = await startServiceProcess(serviceProcessEnv(db, { baseUrl: fake.baseUrl, platformKey: canaryKey() }, extra));
      try {
        expect((await fetch(`${idle.url}/readyz`)).status).toBe(200);
        process.kill(idle.pid, signal);
        const exit = await settlesWithin(idle.exited, 5_000, 'still running');
        expect({ exit, output: exit === 0 ? '' : idle.output() }).toEqual({ exit: 0, output: '' });
      } finally {
        await idle.kill();
      }
    }, 30_000);

    it('finishes the stream in flight, answers new gateway calls and /readyz 503 meanwhile, records the call and exits 0', async () => {
      service = await startServiceProcess(serviceProcessEnv(db, { baseUrl: fake.baseUrl, platformKey: canaryKey() }));
      const running = service;
      const admin = await jwt.sign({ userId: 'sigterm-admin', platformAdmin: true });
      const workspaceId = (await gqlOn(running, 'mutation { createWorkspace(name: "Sigterm", plan: PRO) { id } }', {}, admin)).createWorkspace.id as string;

      // The upstream sends two events, then waits: the call is mid-stream until the test lets it end.
      let release!: () => void;
      fake.chatCompletion({ chunks: ['Still ', 'here ', 'after ', 'SIGTERM.'], holdAfterEvents: 2, release: new Promise<void>((resolveRelease) => (release = resolveRelease)) });
      const requestId = `sigterm-${Date.now()}`;
      try {
        const { response } = await openGateway(running, { workspaceId, requestId, body: { ...CHAT_BODY, stream: true } });
        expect(response.statusCode).toBe(200);
        const answer = readAnswer(response);

        let exitedYet = false;
        void running.exited.then(() => (exitedYet = true));
        const signalled = Date.now();
        process.kill(running.pid, 'SIGTERM');
        const readyz = () => fetch(`${running.url}/readyz`, { headers: { connection: 'close' } }).then((ready) => ready.status, () => undefined);
        await eventually(async () => ((await readyz()) === 503 ? true : undefined), 5_000, '/readyz to answer 503');
        const refused = await callGateway(running, { workspaceId, requestId: `${requestId}-new` });
        expect(refused.status).toBe(503);
        expect(refused.json?.error?.code).toBe('SHUTTING_DOWN');
        await sleep(300);
        // still serving the stream: a shutdown that exits here would cut a paid-for answer
        expect(exitedYet).toBe(false);

        release();
        const relayed = await answer;
        expect(relayed.status).toBe(200);
        expect(relayed.text).toContain('SIGTERM.');
        expect(relayed.text.trimEnd()).toMatch(/data: \[DONE\]$/);

        const exit = await settlesWithin(running.exited, SHUTDOWN_GRACE_MS, 'still running');
        expect({ exit, output: exit === 0 ? '' : running.output() }).toEqual({ exit: 0, output: '' });
        expect(Date.now() - signalled).toBeLessThan(SHUTDOWN_GRACE_MS);
        expect(await connectRefused(running.port)).toBe('ECONNREFUSED');
        // The call was recorded before the pool closed, not left to a replay at the next start.
        expect(await recordsWithRequestId(db, requestId)).toBe(1);
      } finally {
        release();
      }
    }, 60_000);
  });
});
