import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { GraphQLError, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import pino from 'pino';
import ts from 'typescript';
import { AppError } from '../src/errors/app-error';
import { ErrorCode } from '../src/errors/error-code';
import type { GraphQLContext } from '../src/graphql/context';
import { formatErrorFor } from '../src/graphql/format-error';
import { requestPoliciesPlugin } from '../src/graphql/plugins';
import { SafeIntScalar } from '../src/graphql/scalars';
import { LogCapture } from './support/log-capture';
import { seedWorkspace } from './support/fixtures';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Domain errors (issue 8): a plain Error with a code and `retryable`, which only `format-error.ts`
 * (GraphQL) and the gateway's error table (HTTP) turn into answers. Every GraphQL answer below is
 * compared byte for byte: the error's flags and details never reach a GraphQL client.
 */

const ROOT = resolve(__dirname, '..');
const TRANSPORT_PACKAGES = ['graphql', 'type-graphql', '@apollo/'];

/** Every file a source file imports, however deep, and every package it names on the way. */
function importClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [resolve(ROOT, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) {
        packages.add(fileName);
        continue;
      }
      const base = resolve(dirname(file), fileName);
      const found = [`${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate));
      if (!found) throw new Error(`${relative(ROOT, file)} imports ${fileName}, which is not a source file`);
      pending.push(found);
    }
  }
  return { files, packages };
}

function transportImportsOf(entry: string): string[] {
  const { files, packages } = importClosure(entry);
  const graphqlFiles = [...files].map((file) => relative(ROOT, file)).filter((file) => file.startsWith('src/graphql/'));
  const transport = [...packages].filter((name) => TRANSPORT_PACKAGES.some((prefix) => name === prefix || name.startsWith(prefix)));
  return [...graphqlFiles, ...transport].sort();
}

describe('domain errors', () => {
  describe('the error type', () => {
    it('imports nothing of GraphQL, directly or through another module', () => {
      expect(transportImportsOf('src/errors/app-error.ts')).toEqual([]);
      expect(transportImportsOf('src/errors/error-code.ts')).toEqual([]);
    });

    it("the gateway's HTTP error table, which answers domain errors, reaches no GraphQL through them", () => {
      expect(transportImportsOf('src/modules/gateway/gateway-errors.ts')).toEqual([]);
    });

    it('is a plain Error that carries its code, flag and details, and nothing of a GraphQL error', () => {
      const error = new AppError(ErrorCode.DATABASE_UNAVAILABLE, 'database away', { retryable: true, details: { recordId: 'r1' }, upstreamStatus: 503 });
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(GraphQLError);
      expect(error).not.toHaveProperty('extensions');
      expect({ name: error.name, code: error.code, message: error.message, retryable: error.retryable, details: error.details, upstreamStatus: error.upstreamStatus }).toEqual({
        name: 'AppError',
        code: 'DATABASE_UNAVAILABLE',
        message: 'database away',
        retryable: true,
        details: { recordId: 'r1' },
        upstreamStatus: 503,
      });
    });
  });

  describe('formatError, on each path a domain error reaches it', () => {
    /** Everything a domain error carries beside code and message: none of it may reach a GraphQL answer. */
    const leaky = () =>
      new AppError(ErrorCode.KEY_UNAVAILABLE, 'The stored key cannot be read', { retryable: true, details: { secretHint: 'do-not-show' }, upstreamStatus: 502 });

    const Nested = new GraphQLObjectType({
      name: 'Nested',
      fields: {
        inner: {
          type: GraphQLString,
          resolve: async () => {
            throw leaky();
          },
        },
      },
    });
    const schema = new GraphQLSchema({
      query: new GraphQLObjectType({
        name: 'Query',
        fields: {
          root: {
            type: GraphQLString,
            resolve: () => {
              throw leaky();
            },
          },
          nested: { type: Nested, resolve: () => ({}) },
          amount: { type: SafeIntScalar, resolve: () => 2 ** 60 },
          broken: {
            type: GraphQLString,
            resolve: () => {
              throw new Error('SELECT secret FROM tenant_secret failed');
            },
          },
        },
      }),
    });

    const logs = new LogCapture();
    const log = pino({ level: 'debug' }, logs);
    const context = (): GraphQLContext => ({ requestId: 'domain-errors-1', log, auth: { isPlatformAdmin: false } }) as unknown as GraphQLContext;
    const refuseEverything = {
      async requestDidStart() {
        return {
          async didResolveOperation() {
            throw new AppError(ErrorCode.RATE_LIMITED, 'Too many checks this minute', { retryable: true, details: { secretHint: 'do-not-show' } });
          },
        };
      },
    };
    let apollo: ApolloServer<GraphQLContext>;
    let refusing: ApolloServer<GraphQLContext>;
    beforeAll(async () => {
      const options = { schema, formatError: formatErrorFor({ hideSuggestions: false }), includeStacktraceInErrorResponses: false, stopOnTerminationSignals: false };
      apollo = new ApolloServer<GraphQLContext>({ ...options, plugins: [requestPoliciesPlugin({ adminOnlyIntrospection: true })] });
      refusing = new ApolloServer<GraphQLContext>({ ...options, plugins: [refuseEverything] });
      await Promise.all([apollo.start(), refusing.start()]);
    });
    afterAll(() => Promise.all([apollo.stop(), refusing.stop()]));

    async function run(server: ApolloServer<GraphQLContext>, query: string, contextFor: () => Promise<GraphQLContext> = async () => context()) {
      const result = await server.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: 'POST', headers: new HeaderMap([['content-type', 'application/json']]), search: '', body: { query } },
        context: contextFor,
      });
      if (result.body.kind !== 'complete') throw new Error('expected a complete body');
      return { status: result.status ?? 200, text: result.body.string };
    }

    const internalErrorLines = () => logs.lines.filter((line) => line.includes('"msg":"internal error"'));

    it('thrown by a root resolver: its code and message, at its path, nothing else', async () => {
      const before = internalErrorLines().length;
      const answer = await run(apollo, '{ root }');
      expect(answer.status).toBe(200);
      expect(answer.text).toBe(
        JSON.stringify({
          errors: [{ locations: [{ line: 1, column: 3 }], path: ['root'], message: 'The stored key cannot be read', extensions: { code: 'KEY_UNAVAILABLE' } }],
          data: { root: null },
        }) + '\n',
      );
      expect(internalErrorLines()).toHaveLength(before);
    });

    it('thrown by a nested field resolver', async () => {
      const answer = await run(apollo, '{ nested { inner } }');
      expect(answer.text).toBe(
        JSON.stringify({
          errors: [{ locations: [{ line: 1, column: 12 }], path: ['nested', 'inner'], message: 'The stored key cannot be read', extensions: { code: 'KEY_UNAVAILABLE' } }],
          data: { nested: { inner: null } },
        }) + '\n',
      );
    });

    it("thrown by a scalar's serialize (an amount beyond 2^53 − 1)", async () => {
      const answer = await run(apollo, '{ amount }');
      expect(JSON.parse(answer.text)).toEqual({
        errors: [
          {
            locations: [{ line: 1, column: 3 }],
            path: ['amount'],
            message: 'A total is beyond 9007199254740991 (2^53 − 1), the largest amount this API reports exactly',
            extensions: { code: 'AMOUNT_OUT_OF_RANGE' },
          },
        ],
        data: { amount: null },
      });
    });

    it('thrown by a plugin before execution: its code and message, not logged as internal', async () => {
      const before = internalErrorLines().length;
      const answer = await run(refusing, '{ root }');
      expect(answer.text).toBe(JSON.stringify({ errors: [{ message: 'Too many checks this minute', extensions: { code: 'RATE_LIMITED' } }] }) + '\n');
      expect(internalErrorLines()).toHaveLength(before);
    });

    it('refused by the request policies (introspection): 403 FORBIDDEN with its message', async () => {
      const answer = await run(apollo, '{ __schema { queryType { name } } }');
      expect(answer.status).toBe(403);
      expect(answer.text).toBe(JSON.stringify({ errors: [{ message: 'Introspection is available to platform admins only', extensions: { code: 'FORBIDDEN' } }] }) + '\n');
    });

    it('thrown while the context is made: its own message, without Apollo\'s "Context creation failed" prefix', async () => {
      const answer = await run(apollo, '{ root }', async () => {
        throw leaky();
      });
      expect(answer.text).toBe(JSON.stringify({ errors: [{ message: 'The stored key cannot be read', extensions: { code: 'KEY_UNAVAILABLE' } }] }) + '\n');
    });

    it('anything else is masked as INTERNAL_SERVER_ERROR with the request id, and logged with its cause', async () => {
      const before = internalErrorLines().length;
      const answer = await run(apollo, '{ broken }');
      expect(answer.text).toBe(
        JSON.stringify({
          errors: [{ locations: [{ line: 1, column: 3 }], path: ['broken'], message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'domain-errors-1' } }],
          data: { broken: null },
        }) + '\n',
      );
      const logged = internalErrorLines().slice(before);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toContain('SELECT secret FROM tenant_secret failed');
    });
  });

  describe('through the running service', () => {
    let t: TestApp;
    let prod: TestApp;
    beforeAll(async () => {
      [t, prod] = await Promise.all([startTestApp(), startTestApp({ overrides: { nodeEnv: 'production' } })]);
    });
    afterAll(() => Promise.all([t.close(), prod.close()]));

    it("a resolver's guard, a service's refusal and a service's rule answer their code and message, byte for byte", async () => {
      const ws = await seedWorkspace(t, undefined, 'Domain errors');
      const unknownId = '00000000-0000-0000-0000-000000000000';

      const anonymous = await t.gql('{ workspace(id: "00000000-0000-0000-0000-000000000000") { id } }');
      expect(anonymous.status).toBe(200);
      expect(anonymous.text).toBe(
        JSON.stringify({
          errors: [{ locations: [{ line: 1, column: 3 }], path: ['workspace'], message: 'Authentication required', extensions: { code: 'UNAUTHENTICATED' } }],
          data: null,
        }) + '\n',
      );

      const outsider = await t.gql('query($w: ID!) { workspace(id: $w) { id } }', { w: ws.id }, ws.tokens.outsider);
      expect(outsider.text).toBe(
        JSON.stringify({
          errors: [{ locations: [{ line: 1, column: 18 }], path: ['workspace'], message: 'You are not allowed to do this', extensions: { code: 'FORBIDDEN' } }],
          data: null,
        }) + '\n',
      );

      const missing = await t.gql('query($w: ID!) { workspace(id: $w) { id } }', { w: unknownId }, ws.adminToken);
      expect(missing.text).toBe(
        JSON.stringify({
          errors: [{ locations: [{ line: 1, column: 18 }], path: ['workspace'], message: 'Workspace not found', extensions: { code: 'NOT_FOUND' } }],
          data: null,
        }) + '\n',
      );

      const lastOwner = await t.gql('mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) }', { w: ws.id, u: ws.userIds.owner }, ws.adminToken);
      expect(lastOwner.text).toBe(
        JSON.stringify({
          errors: [
            {
              locations: [{ line: 1, column: 30 }],
              path: ['removeMember'],
              message: 'A workspace keeps at least one OWNER: make another member OWNER first',
              extensions: { code: 'LAST_OWNER' },
            },
          ],
          data: null,
        }) + '\n',
      );

      const badCursor = await t.gql('query($w: ID!) { usage(workspaceId: $w, from: "2026-01-01T00:00:00.000Z", to: "2026-02-01T00:00:00.000Z", after: "not-a-cursor") { totalCount } }', { w: ws.id }, ws.tokens.owner);
      expect(badCursor.text).toBe(
        JSON.stringify({
          errors: [{ locations: [{ line: 1, column: 18 }], path: ['usage'], message: 'Invalid cursor', extensions: { code: 'BAD_USER_INPUT' } }],
          data: null,
        }) + '\n',
      );
      expect(t.logs.text).not.toContain('"msg":"internal error"');
    });

    it("the request policies' introspection refusal: 403, FORBIDDEN, its message and nothing else", async () => {
      const answer = await prod.gql('{ __schema { queryType { name } } }', undefined, await prod.token('domain-errors-user'));
      expect(answer.status).toBe(403);
      expect(answer.text).toBe(JSON.stringify({ errors: [{ message: 'Introspection is available to platform admins only', extensions: { code: 'FORBIDDEN' } }] }) + '\n');
    });
  });
});
