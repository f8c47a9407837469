import fc from 'fast-check';
import { DEFAULT_HTTP_LIMITS } from '../src/config/http-limits';
import { SAVE_KEY } from './support/documents';
import { expectData } from './support/expectations';
import { SeededWorkspace, seedWorkspace } from './support/fixtures';
import { canaryKey, findLeak } from './support/leak-search';
import { rawExchange, statusOf } from './support/raw-http';
import { startTestApp, TEST_SERVICE_TOKEN, TestApp } from './support/test-app';

/**
 * SPEC.md "Hostile input", as properties: whatever a client sends (request line, headers, body;
 * GraphQL documents and variables), the process lives, no client mistake answers a 5xx, and no
 * answer or log line carries the key stored in the workspace.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

describe('the front door under generated input', () => {
  let t: TestApp;
  let ws: SeededWorkspace;
  const canary = canaryKey();
  const answers: string[] = [];

  beforeAll(async () => {
    // Short timeouts: a generated request that leaves the server waiting ends in a 408 quickly.
    t = await startTestApp({ overrides: { httpLimits: { ...DEFAULT_HTTP_LIMITS, headersTimeoutMs: 1_000, requestTimeoutMs: 1_000 } } });
    ws = await seedWorkspace(t);
    expectData(await t.gql(SAVE_KEY, { w: ws.id, k: canary }, ws.tokens.owner));
  });
  afterAll(() => t.close());

  afterAll(() => {
    for (const answer of answers) expect(findLeak(answer, canary)).toBeUndefined();
    expect(findLeak(t.logs.text, canary)).toBeUndefined();
    // A client's mistake is never the service's error.
    expect(t.logs.lines.filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  });

  const tokens = () => fc.constantFrom<string | undefined>(undefined, ws.tokens.owner, ws.tokens.member, ws.tokens.outsider, ws.adminToken, TEST_SERVICE_TOKEN, 'not-a-token', 'mpt_unknown');
  const printable = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength });
  const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/);
  const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 200 });
  const KNOWN_PATHS = ['/', '/graphql', '/healthz', '/readyz', '/v1/chat/completions', '/metrics', '/graphql-ide/', '//', '/%zz', '/graphql?query=%7B'];

  it('answers any request line, headers and body with a status below 500, and stays up', async () => {
    const requests = fc.record({
      method: fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE'), fc.stringMatching(/^[A-Z]{1,10}$/)),
      path: fc.oneof(fc.constantFrom(...KNOWN_PATHS), fc.tuple(fc.constantFrom(...KNOWN_PATHS), printable(300)).map(([path, tail]) => path + tail), printable(300)),
      headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
      contentType: fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/graphql', 'multipart/form-data; boundary=x'),
      token: tokens(),
      body: fc.oneof(fc.constant(''), fc.string({ maxLength: 500 }), fc.json({ depthSize: 'medium' }), fc.jsonValue().map((value) => JSON.stringify({ query: '{ viewer { userId } }', variables: value }))),
    });
    await fc.assert(
      fc.asyncProperty(requests, async ({ method, path, headers, contentType, token, body }) => {
        const lines = [`${method} ${path} HTTP/1.1`, 'Host: fuzz', 'Connection: close'];
        for (const [name, value] of headers) if (!/^(host|connection|content-length|transfer-encoding)$/i.test(name)) lines.push(`${name}: ${value}`);
        if (contentType) lines.push(`Content-Type: ${contentType}`);
        if (token) lines.push(`Authorization: Bearer ${token}`);
        const bytes = Buffer.from(body, 'utf8');
        lines.push(`Content-Length: ${bytes.length}`);
        const answer = await rawExchange(new URL(t.url), Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]));
        answers.push(answer);
        const status = statusOf(answer);
        if (status === undefined || status >= 500) throw new Error(`answered ${JSON.stringify(answer.slice(0, 300))}`);
      }),
      { numRuns: RUNS },
    );
    expect((await t.http().get('/healthz')).status).toBe(200);
  });

  it('answers any GraphQL document and variables without a 5xx or an internal error', async () => {
    const names = fc.constantFrom('viewer', 'workspace', 'aiInferenceKey', 'usage', 'auditEvents', 'billingSummary', 'saveKey', 'replaceKey', 'userId', 'id', 'name', 'maskedHint', '__schema', '__typename', 'nodes', 'x');
    const literal = fc.oneof(fc.constantFrom('1', '-1', '1.5', 'true', 'null', '"x"', `"${ws?.id ?? ''}"`, '[1, 2]', '{ a: 1 }', 'ENTERPRISE', '$w', '$k', '99999999999999999999'), fc.json().map((text) => JSON.stringify(text)));
    const argument = fc.tuple(fc.constantFrom('workspaceId', 'id', 'first', 'after', 'key', 'from', 'to', 'input', 'x'), literal).map(([name, value]) => `${name}: ${value}`);
    const field: fc.Memo<string> = fc.memo((depth) =>
      fc
        .tuple(names, fc.array(argument, { maxLength: 3 }), depth > 1 ? fc.option(fc.array(field(depth - 1), { minLength: 1, maxLength: 3 })) : fc.constant(null))
        .map(([name, args, children]) => `${name}${args.length ? `(${args.join(', ')})` : ''}${children ? ` { ${children.join(' ')} }` : ''}`),
    );
    const documents = fc.oneof(
      fc.tuple(fc.constantFrom('query', 'mutation', 'subscription', ''), fc.constantFrom('', '($w: ID!, $k: String)', '($w: [ID!], $k: Int!)', '($x: RecordInferenceCallInput!)'), fc.array(field(4), { minLength: 1, maxLength: 3 })).map(
        ([kind, variables, fields]) => `${kind}${kind ? ' Q' : ''}${kind ? variables : ''} { ${fields.join(' ')} }`,
      ),
      fc.string({ maxLength: 300 }),
    );
    const variables = fc.oneof(fc.constant(undefined), fc.jsonValue(), fc.dictionary(fc.constantFrom('w', 'k', 'x', 'first'), fc.oneof(fc.jsonValue(), fc.constant(canary.slice(0, 20)))));
    await fc.assert(
      fc.asyncProperty(documents, variables, tokens(), async (query, vars, token) => {
        const req = t.http().post('/graphql').set('content-type', 'application/json');
        if (token) req.set('authorization', `Bearer ${token}`);
        const answer = await req.send(JSON.stringify({ query, variables: vars }));
        answers.push(answer.text);
        if (answer.status >= 500 || answer.text.includes('INTERNAL_SERVER_ERROR')) throw new Error(`${answer.status} ${answer.text.slice(0, 500)}`);
      }),
      { numRuns: RUNS },
    );
    expect((await t.http().get('/healthz')).status).toBe(200);
  });
});
