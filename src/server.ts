import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { AuthContext } from './auth/auth-context';
import { Authenticator } from './auth/authenticator';
import { JwtCodec } from './auth/jwt';
import type { AppConfig } from './config/config';
import { GraphQLContext, RequestGraphQLContext } from './graphql/context';
import { formatErrorFor } from './graphql/format-error';
import { createLoaders } from './graphql/loaders';
import { requestPoliciesPlugin } from './graphql/plugins';
import { buildAppSchema } from './graphql/schema';
import { graphqlCorsPolicy, PREFLIGHT_PROVING_HEADERS } from './http/cors.policy';
import { graphqlHandler } from './http/graphql-handler';
import { GraphqlIde, prefersHtml } from './http/graphql-ide.page';
import { requestIdOf } from './http/request-id';
import { lazyChild } from './logging/logger';
import { METRICS_PATH, MetricsListener } from './metrics/metrics-endpoint';
import { setUpMetrics, watchServices } from './metrics/metrics.setup';
import type { TenantSecretsCipher } from './modules/secrets/cipher';
import { AppServices, createServices } from './services';

export interface ServerDependencies {
  config: AppConfig;
  dataSource: DataSource;
  cipher: TenantSecretsCipher;
  logger: Logger;
}

export interface RunningServer {
  httpServer: Server;
  services: AppServices;
  /** the base URL once listening, e.g. http://127.0.0.1:4000 */
  url: string;
  /** `/metrics` on METRICS_PORT, when configured */
  metricsUrl?: string;
  /** Graceful: stops accepting, lets in-flight requests finish, then closes the pool. */
  stop(): Promise<void>;
}

/** The routes beside GraphQL, for a 405 that names the method to use. */
const ALLOWED_METHODS: Partial<Record<string, string>> = { '/healthz': 'GET', '/readyz': 'GET', '/v1/chat/completions': 'POST', '/v1/embeddings': 'POST' };

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A database that takes longer than this to answer the probe is as good as unreachable. */
const READINESS_TIMEOUT_MS = 2_000;

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function readiness(dataSource: DataSource): Promise<{ ready: boolean; detail: Record<string, string> }> {
  try {
    await within(dataSource.query('SELECT 1'), READINESS_TIMEOUT_MS);
  } catch {
    return { ready: false, detail: { database: 'unreachable' } };
  }
  const pending = await within(dataSource.showMigrations(), READINESS_TIMEOUT_MS).catch(() => true);
  return { ready: !pending, detail: { database: 'ok', migrations: pending ? 'pending' : 'applied' } };
}

/** Lexical tokens per document at most: the largest real query is far below, a hostile one is refused unparsed. */
const MAX_TOKENS = 2000;

function createApollo(config: AppConfig, schema: Awaited<ReturnType<typeof buildAppSchema>>, extraPlugins: ApolloServerPlugin<GraphQLContext>[]): ApolloServer<GraphQLContext> {
  const production = config.nodeEnv === 'production';
  const armor = new ApolloArmor({
    maxDepth: { n: 8 },
    maxAliases: { n: 15 },
    // graphql-js's own limit, below: armor's refuses from parsingDidStart, which Apollo answers 500.
    maxTokens: { enabled: false },
    maxDirectives: { n: 20 },
    // A full usage page (every UsageRecord field, actor, pageInfo) costs ~5,500 by armor's measure.
    costLimit: { maxCost: 20000 },
    // formatErrorFor hides every kind of suggestion (armor's covers fields, not enum values).
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return new ApolloServer<GraphQLContext>({
    schema,
    introspection: true,
    // main.ts owns SIGTERM/SIGINT: Apollo's own handlers would stop it first and leave our
    // shutdown waiting in apollo.stop() with the database pool open, never exiting.
    stopOnTerminationSignals: false,
    parseOptions: { maxTokens: MAX_TOKENS },
    csrfPrevention: { requestHeaders: PREFLIGHT_PROVING_HEADERS },
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    formatError: formatErrorFor({ hideSuggestions: production }),
    validationRules: armor.validationRules,
    plugins: [
      ...armor.plugins,
      ApolloServerPluginCacheControlDisabled(),
      // The service serves its own IDE (GraphqlIde): Apollo's landing page loads from CDNs.
      ApolloServerPluginLandingPageDisabled(),
      requestPoliciesPlugin({ adminOnlyIntrospection: production }),
      ...extraPlugins,
    ],
  });
}

/** Builds the HTTP app (GraphQL, health, readiness) around an initialised, migrated DataSource. */
export async function createServer(deps: ServerDependencies): Promise<{ httpServer: Server; services: AppServices; listen(port: number, host?: string): Promise<RunningServer> }> {
  const { config, dataSource, cipher, logger } = deps;
  const services = createServices(config, dataSource, cipher, logger);
  await services.invalidationBus.start(services.dropCachedWorkspace);
  services.spool.start();
  const authenticator = new Authenticator(new JwtCodec(config.jwtSecret), config.serviceToken, (token) => services.partnerTokens.lookup(token));
  const observability = setUpMetrics(config, logger);
  if (observability) watchServices(observability.metrics, services, dataSource);
  const ide = new GraphqlIde();
  const cors = graphqlCorsPolicy(config.corsOrigins);
  const apollo = createApollo(config, await buildAppSchema(), observability ? [observability.metrics.graphql.plugin()] : []);
  await apollo.start();

  const contextFor = async (request: IncomingMessage, requestId: string, log: () => Logger): Promise<GraphQLContext> => {
    const principal = await authenticator.principalOf(request.headers.authorization);
    const loaders = createLoaders(dataSource, principal.kind === 'user' ? principal.userId : undefined, services.accessCache);
    const auth = new AuthContext(principal, {
      all: (userId) => services.workspaces.membershipsOf(userId),
      in: (workspaceId, fresh) => (fresh ? loaders.freshViewerMembershipIn : loaders.viewerMembershipIn).load(workspaceId),
    });
    return new RequestGraphQLContext(requestId, log, auth, loaders, services);
  };

  const inFlight = new Set<Promise<void>>();
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(request);
    const log = lazyChild(logger, { requestId });
    response.setHeader('x-request-id', requestId);
    const url = new URL(request.url ?? '/', 'http://localhost');
    observability?.metrics.http.track(request, response, url.pathname);
    if (logger.isLevelEnabled('info')) response.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log().info({ method: request.method, path: url.pathname, status: response.statusCode, ms }, 'request');
    });
    try {
      if (url.pathname === '/healthz' && request.method === 'GET') return sendJson(response, 200, { status: 'ok' });
      if (url.pathname === '/readyz' && request.method === 'GET') {
        // Draining: the load balancer should send nothing more here.
        if (stopping) return sendJson(response, 503, { status: 'stopping' });
        const { ready, detail } = await readiness(dataSource);
        const redis = services.invalidationBus.state;
        return sendJson(response, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          ...detail,
          redis: redis === 'down' ? 'down (secrets cache relies on its TTL)' : redis,
          spooledFiles: services.spool.pendingFiles().length,
          unrecordableFiles: services.spool.unrecordableFiles().length,
        });
      }
      if (url.pathname === '/v1/chat/completions' && request.method === 'POST') {
        return await services.gateway.handle(request, response, log, requestId);
      }
      if (url.pathname === '/v1/embeddings' && request.method === 'POST') {
        return await services.gateway.handle(request, response, log, requestId, 'embeddings');
      }
      if (url.pathname === '/graphql' || url.pathname === '/') {
        if (cors.apply(request, response) === 'preflight-answered') return;
        if (prefersHtml(request)) return ide.servePage(response);
        return await graphqlHandler(apollo, (req) => contextFor(req, requestId, log))(request, response, url);
      }
      if (await ide.serveAsset(url.pathname, request, response)) return;
      if (url.pathname === METRICS_PATH && observability?.endpoint.onMainPort) return await observability.endpoint.serve(request, response);
      const allowed = ALLOWED_METHODS[url.pathname];
      if (allowed) {
        response.setHeader('allow', allowed);
        return sendJson(response, 405, { error: `method not allowed: use ${allowed}` });
      }
      sendJson(response, 404, { error: 'not found' });
    } catch (error) {
      log().error({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'unhandled request error');
      if (!response.headersSent) sendJson(response, 500, { error: 'internal server error', requestId });
      else response.destroy();
    }
  };

  let stopping = false;
  const httpServer = createHttpServer((request, response) => {
    // httpServer.close() only drops connections idle at that moment: a keep-alive connection whose
    // answer finishes later would hold stop() open until the grace period forced it.
    response.once('finish', () => {
      if (stopping) httpServer.closeIdleConnections();
    });
    const done = handle(request, response).finally(() => inFlight.delete(done));
    inFlight.add(done);
  });
  httpServer.keepAliveTimeout = 65_000;

  const listen = async (port: number, host = '0.0.0.0'): Promise<RunningServer> => {
    const metricsListener: MetricsListener | undefined =
      observability && config.metricsPort !== undefined ? await observability.endpoint.listen(config.metricsPort, config.metricsHost) : undefined;
    return new Promise((resolveListen, reject) => {
      httpServer.once('error', (error) => {
        void metricsListener?.close();
        reject(error);
      });
      httpServer.listen(port, host, () => {
        const address = httpServer.address() as AddressInfo;
        const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host;
        resolveListen({
          httpServer,
          services,
          url: `http://${shownHost}:${address.port}`,
          metricsUrl: metricsListener?.url,
          stop: async () => {
            // Still listening while calls in flight finish (a stream may take minutes): new gateway
            // calls and /readyz answer 503 meanwhile. Past SHUTDOWN_GRACE_MS what still runs is cut
            // and recorded INTERRUPTED.
            stopping = true;
            services.gateway.drain();
            httpServer.closeIdleConnections();
            const forced = setTimeout(() => {
              services.gateway.abortInFlight();
              setTimeout(() => httpServer.closeAllConnections(), 1_000).unref();
            }, config.shutdownGraceMs);
            while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
            clearTimeout(forced);
            const closed = new Promise<void>((resolveClose) => httpServer.close(() => resolveClose()));
            httpServer.closeIdleConnections();
            const lingering = setTimeout(() => httpServer.closeAllConnections(), 1_000);
            await closed;
            clearTimeout(lingering);
            await apollo.stop();
            await services.spool.stop();
            await services.invalidationBus.stop();
            await services.gateway.close();
            await metricsListener?.close();
          },
        });
      });
    });
  };

  return { httpServer, services, listen };
}
