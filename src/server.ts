import { createServer as createHttpServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { AuthContext } from './auth/auth-context';
import { Authenticator } from './auth/authenticator';
import { JwtCodec } from './auth/jwt';
import type { Principal } from './auth/principal';
import type { AppConfig } from './config/config';
import { GraphQLContext, RequestGraphQLContext } from './graphql/context';
import { formatErrorFor } from './graphql/format-error';
import { createLoaders } from './modules/workspace/workspace.loaders';
import { requestPoliciesPlugin } from './graphql/plugins';
import { buildAppSchema } from './graphql/schema';
import { graphqlCorsPolicy, PREFLIGHT_PROVING_HEADERS } from './http/cors.policy';
import { frontDoor, refuseTunnels, sendJson } from './http/front-door';
import { GatewayHandler } from './modules/gateway/gateway.handler';
import { graphqlHandler, refuseRateLimited } from './http/graphql-handler';
import { GraphqlIde, IDE_ASSET_PREFIX, prefersHtml } from './http/graphql-ide.page';
import { LargeBodySlots } from './http/large-body-slots';
import { concurrencyKeyOf } from './http/principal-concurrency';
import { Exchange, RouteTable } from './http/route-table';
import { USAGE_EXPORT_PATH, UsageExportHandler } from './modules/usage/usage-export.handler';
import { METRICS_PATH, MetricsListener } from './metrics/metrics-endpoint';
import { setUpMetrics, watchServices } from './metrics/metrics.setup';
import type { TenantSecretsCipher } from './modules/secrets/cipher';
import { ConcurrencyLimiter } from './concurrency-limiter';
import { AppServices, createServices } from './services';
import type { TestSeam } from './test-seam';

export interface ServerDependencies {
  config: AppConfig;
  dataSource: DataSource;
  cipher: TenantSecretsCipher;
  logger: Logger;
}

export interface RunningServer {
  httpServer: Server;
  seam: TestSeam;
  /** the base URL once listening, e.g. http://127.0.0.1:4000 */
  url: string;
  /** `/metrics` on METRICS_PORT, when configured */
  metricsUrl?: string;
  /** Graceful: stops accepting, lets in-flight requests finish, then closes the pool. */
  stop(): Promise<void>;
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
  const limits = config.httpLimits;
  const services = createServices(config, dataSource, cipher, logger);
  await services.invalidationBus.start((workspaceId) => services.workspaceEvents.committedElsewhere(workspaceId));
  services.usageLedger.start();
  services.keyRecheck.start();
  await services.budgetGuard.start();
  services.webhookDispatcher.start();
  const authenticator = new Authenticator(new JwtCodec(config.jwtSecret, { issuer: config.jwtIssuer, audience: config.jwtAudience }), config.serviceToken, (token) => services.partnerTokens.lookup(token));
  const observability = setUpMetrics(config, logger);
  if (observability) watchServices(observability.metrics, services, dataSource);
  const ide = new GraphqlIde();
  const cors = graphqlCorsPolicy(config.corsOrigins);
  const apollo = createApollo(config, await buildAppSchema(services), observability ? [observability.metrics.graphql.plugin()] : []);
  await apollo.start();

  const authContextFor = (principal: Principal) => {
    const loaders = createLoaders(dataSource, principal.kind === 'user' ? principal.userId : undefined, services.directory.access);
    const auth = new AuthContext(principal, {
      all: (userId) => services.workspaces.membershipsOf(userId),
      in: (workspaceId, fresh) => (fresh ? loaders.freshViewerMembershipIn : loaders.viewerMembershipIn).load(workspaceId),
    });
    return { auth, loaders };
  };
  const contextFor = (principal: Principal, requestId: string, log: () => Logger): GraphQLContext => {
    const { auth, loaders } = authContextFor(principal);
    return new RequestGraphQLContext(requestId, log, auth, loaders);
  };
  const usageExport = new UsageExportHandler(services.usageExport, cors, async (request) => authContextFor(await authenticator.principalOf(request.headers.authorization)).auth);

  const gatewayHandler = new GatewayHandler(services.gateway, { serviceToken: config.serviceToken, jsonMaxDepth: limits.jsonMaxDepth });
  const largeBodies = new LargeBodySlots({ smallBodyBytes: limits.anonymousBodyBytes, slotBytes: limits.authenticatedBodyBytes, budgetBytes: limits.graphqlBodyBytesInFlight });
  const graphql = graphqlHandler(apollo, largeBodies);
  const concurrency = new ConcurrencyLimiter(limits.graphqlConcurrentPerPrincipal);
  // The caller is known from the headers before a byte of the body is read: the body cap, and the
  // slot that bounds what one caller holds in memory at once, depend on who it is.
  const serveGraphql = async ({ request, response, target, requestId, log }: Exchange): Promise<void> => {
    if (cors.apply(request, response) === 'preflight-answered') return;
    if (prefersHtml(request)) return ide.servePage(response);
    const principal = await authenticator.principalOf(request.headers.authorization);
    const release = concurrency.tryAcquire(concurrencyKeyOf(principal, request));
    if (!release) return refuseRateLimited(response, `More than ${limits.graphqlConcurrentPerPrincipal} GraphQL requests of this caller in progress at once; retry when one has finished`);
    try {
      const authenticated = principal.kind !== 'anonymous' && principal.kind !== 'invalid';
      const bounds = { maxBodyBytes: authenticated ? limits.authenticatedBodyBytes : limits.anonymousBodyBytes, jsonMaxDepth: limits.jsonMaxDepth };
      await graphql(request, response, target, bounds, async () => contextFor(principal, requestId, log));
    } finally {
      release();
    }
  };

  const routes = new RouteTable([
    { path: '/healthz', methods: ['GET'], handle: ({ response }) => sendJson(response, 200, { status: 'ok' }) },
    {
      path: '/readyz',
      methods: ['GET'],
      handle: async ({ response }) => {
        // Draining: the load balancer should send nothing more here.
        if (stopping) return sendJson(response, 503, { status: 'stopping' });
        const readinessNow = await readiness(dataSource);
        const { detail } = readinessNow;
        // GATEWAY_DATABASE_OUTAGE=serve: the gateway keeps answering from its caches, so the worker
        // stays in the load balancer while the database is away.
        const ready = readinessNow.ready || (config.gatewayDatabaseOutage === 'serve' && detail.database === 'unreachable');
        const redis = services.invalidationBus.state;
        const [spooled, unrecordable] = await Promise.all([services.usageJournal.pendingFiles(), services.usageJournal.unrecordableFiles()]);
        sendJson(response, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          ...detail,
          redis: redis === 'down' ? 'down (secrets cache relies on its TTL)' : redis,
          spooledFiles: spooled.length,
          unrecordableFiles: unrecordable.length,
        });
      },
    },
    {
      path: '/v1/chat/completions',
      methods: ['POST'],
      longRunning: true,
      handle: (exchange: Exchange) => gatewayHandler.handle(exchange, 'chat/completions'),
    },
    {
      path: '/v1/embeddings',
      methods: ['POST'],
      longRunning: true,
      handle: (exchange: Exchange) => gatewayHandler.handle(exchange, 'embeddings'),
    },
    // A month of calls downloads for as long as the client reads it: only its progress bounds it.
    { path: USAGE_EXPORT_PATH, longRunning: true, handle: ({ request, response, target, log }: Exchange) => usageExport.handle(request, response, target, log) },
    ...['/graphql', '/'].map((path) => ({ path, handle: serveGraphql })),
    {
      path: IDE_ASSET_PREFIX,
      prefix: true,
      methods: ['GET', 'HEAD'],
      handle: async ({ request, response, target }: Exchange) => {
        if (!(await ide.serveAsset(target.pathname, request, response))) sendJson(response, 404, { error: 'not found' });
      },
    },
    ...(observability?.endpoint.onMainPort ? [{ path: METRICS_PATH, handle: ({ request, response }: Exchange) => observability.endpoint.serve(request, response) }] : []),
  ]);

  const handle = frontDoor({
    routes,
    logger,
    requestTimeoutMs: limits.requestTimeoutMs,
    longRunningReceiveTimeoutMs: Math.max(limits.requestTimeoutMs, config.openrouterTimeoutMs),
    observe: ({ request, response, target, log }) => {
      const started = process.hrtime.bigint();
      observability?.metrics.http.track(request, response, target.pathname);
      if (logger.isLevelEnabled('info')) response.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log().info({ method: request.method, path: target.pathname, status: response.statusCode, ms }, 'request');
      });
    },
  });

  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  const httpServer = createHttpServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      // Node's own bound on receiving a request, behind the front door's per-route deadlines.
      requestTimeout: Math.max(limits.headersTimeoutMs, limits.requestTimeoutMs, config.openrouterTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above on this period (30 s by default), which would let a slow client overstay them.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    (request, response) => {
      // httpServer.close() only drops connections idle at that moment: a keep-alive connection whose
      // answer finishes later would hold stop() open until the grace period forced it.
      response.once('finish', () => {
        if (stopping) httpServer.closeIdleConnections();
      });
      const done = handle(request, response).finally(() => inFlight.delete(done));
      inFlight.add(done);
    },
  );
  httpServer.maxConnections = limits.maxConnections;
  refuseTunnels(httpServer);

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
          seam: { ...services, largeBodySlots: largeBodies },
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
            await services.keyRecheck.stop();
            await services.usageLedger.stop();
            await services.invalidationBus.stop();
            await services.budgetGuard.stop();
            await services.webhookDispatcher.stop();
            await services.gateway.close();
            await metricsListener?.close();
          },
        });
      });
    });
  };

  return { httpServer, services, listen };
}
