import 'reflect-metadata';
import request from 'supertest';
import { RunningApp, startApp } from '../../src/app';
import { JwtCodec } from '../../src/auth/jwt';
import { AppConfig } from '../../src/config/config';
import { DEFAULT_HTTP_LIMITS } from '../../src/config/http-limits';
import { createLogger } from '../../src/logging/logger';
import { TenantSecretsCipher } from '../../src/modules/secrets/cipher';
import { LogCapture } from './log-capture';
import { createTestDatabase, TestDatabase } from './test-database';

export const TEST_JWT_SECRET = 'test-jwt-secret-that-is-at-least-32-characters';
export const TEST_SECRETS_PHRASE = 'test secrets phrase, long enough for production rules';
export const TEST_SERVICE_TOKEN = 'test-service-token-0123456789abcdef0123456789';

export interface GraphQLResult<T = Record<string, any>> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } & Record<string, unknown>; path?: string[] }>;
  /** the whole raw response text, for "never echoed" checks */
  text: string;
}

export interface TestApp {
  app: RunningApp;
  url: string;
  db: TestDatabase;
  logs: LogCapture;
  config: AppConfig;
  /** POST /graphql with an optional bearer token */
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLResult<T>>;
  /** a signed user JWT */
  token(userId: string, options?: { admin?: boolean; expiresIn?: string | number }): Promise<string>;
  http(): ReturnType<typeof request>;
  /** stops the server and drops the database */
  close(): Promise<void>;
}

/** Ciphers are cached per phrase pair: scrypt is slow by design and tests start many servers. */
const ciphers = new Map<string, Promise<TenantSecretsCipher>>();
export function cipherFor(current: string, previous?: string): Promise<TenantSecretsCipher> {
  const cacheKey = `${current}\u0000${previous ?? ''}`;
  if (!ciphers.has(cacheKey)) ciphers.set(cacheKey, TenantSecretsCipher.fromPhrases(current, previous));
  return ciphers.get(cacheKey)!;
}

export function testConfig(db: Pick<TestDatabase, 'databaseUrl' | 'dataDir'>, overrides: Partial<AppConfig> = {}): AppConfig {
  return {
    nodeEnv: 'test',
    port: 0,
    dataDir: db.dataDir,
    databaseUrl: db.databaseUrl,
    secretsPhrase: TEST_SECRETS_PHRASE,
    jwtSecret: TEST_JWT_SECRET,
    serviceToken: TEST_SERVICE_TOKEN,
    secretsCacheTtlMs: 120_000,
    openrouterBaseUrl: 'http://127.0.0.1:9',
    openrouterVerifyKeys: false,
    openrouterTimeoutMs: 10_000,
    logLevel: 'debug',
    migrateOnStart: true,
    corsOrigins: [],
    metricsHost: '127.0.0.1',
    httpLimits: { ...DEFAULT_HTTP_LIMITS },
    gatewayMaxConcurrentPerWorkspace: 64,
    shutdownGraceMs: 10_000,
    gatewayDatabaseOutage: 'serve',
    ...overrides,
  };
}

/**
 * Starts the real server over HTTP on a fresh database (SQLite, or MariaDB/MySQL when
 * TEST_DATABASE_URL is set). Pass `db` to start a second server on the same database.
 */
export async function startTestApp(options: { overrides?: Partial<AppConfig>; db?: TestDatabase } = {}): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase());
  const config = testConfig(db, options.overrides);
  const logs = new LogCapture();
  const cipher = await cipherFor(config.secretsPhrase, config.secretsPhrasePrevious);
  const app = await startApp(config, createLogger(config.logLevel, logs), { host: '127.0.0.1', cipher });
  const jwt = new JwtCodec(config.jwtSecret, { issuer: config.jwtIssuer, audience: config.jwtAudience });
  const ownsDb = options.db === undefined;
  return {
    app,
    url: app.url,
    db,
    logs,
    config,
    http: () => request(app.url),
    token: (userId, tokenOptions = {}) => jwt.sign({ userId, platformAdmin: tokenOptions.admin ?? false }, tokenOptions.expiresIn ?? '1h'),
    async gql(query, variables, token) {
      const req = request(app.url).post('/graphql').set('content-type', 'application/json');
      if (token) req.set('authorization', `Bearer ${token}`);
      const response = await req.send({ query, variables });
      const body = response.body ?? {};
      return { status: response.status, data: body.data, errors: body.errors, text: response.text };
    },
    async close() {
      await app.stop();
      if (ownsDb) await db.drop();
    },
  };
}
