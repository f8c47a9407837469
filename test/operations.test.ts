import { connect, Socket } from 'node:net';
import { expectGraphQLError } from './support/errors';
import { sampleKey, seedWorkspace } from './support/fixtures';
import { GraphQLResult, startTestApp, TestApp } from './support/test-app';

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

    it('answers 404 for an unknown route', async () => {
      const response = await t.http().get('/no/such/route');
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ error: 'not found' });
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
      }
      const viaType = await prod.gql('{ __type(name: "Workspace") { name } }', undefined, userToken);
      expectGraphQLError(viaType, 'FORBIDDEN');
    });

    it('allows introspection to a platform admin (the Playground)', async () => {
      const answer = await prod.gql(INTROSPECTION, undefined, adminToken);
      expect(answer.errors).toBeUndefined();
      expect(answer.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    });

    it('gives no field suggestions', async () => {
      for (const query of ['{ viewr { platformAdmin } }', '{ viewer { platformAdmn } }']) {
        const answer = await prod.gql(query, undefined, userToken);
        expectGraphQLError(answer, 'GRAPHQL_VALIDATION_FAILED');
        expect(answer.text).not.toMatch(/did you mean/i);
      }
    });

    it('still answers ordinary queries', async () => {
      const answer = await prod.gql(VIEWER, undefined, userToken);
      expect(answer.data).toEqual({ viewer: { platformAdmin: false } });
    });
  });

  describe('graceful shutdown', () => {
    it('lets an in-flight request finish, then refuses new connections', async () => {
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
      expect(await connectRefused(port)).toBe('ECONNREFUSED'); // no longer accepting

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
});
