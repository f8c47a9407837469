import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, LoadedConfig } from '../src/config/config';
import { buildOnce, runCompiled } from './support/build';

/** Values long enough for production; each is distinctive so a leak into a message is findable. */
const STRONG_PHRASE = 'config-test-secrets-phrase-0123456789abcdef';
const STRONG_JWT = 'config-test-jwt-secret-0123456789abcdefghij';
const SHORT_SECRET = 'short-but-secret-value';

type Env = Record<string, string | undefined>;

describe('loadConfig', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'byok-config-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const production = (env: Env): Env => ({ NODE_ENV: 'production', DATA_DIR: dataDir, SECRETS_PHRASE: STRONG_PHRASE, JWT_SECRET: STRONG_JWT, ...env });
  const development = (env: Env = {}): Env => ({ NODE_ENV: 'development', DATA_DIR: dataDir, ...env });

  /** The ConfigError that loading `env` throws; fails the test when it loads. */
  function configErrorFor(env: Env): ConfigError {
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    return thrown as ConfigError;
  }

  /** No secret that went in may come back out in an error or a notice. */
  function expectNoSecretIn(text: string, env: Env): void {
    for (const name of ['SECRETS_PHRASE', 'SECRETS_PHRASE_PREVIOUS', 'JWT_SECRET', 'SERVICE_TOKEN', 'PLATFORM_OPENROUTER_KEY', 'METRICS_TOKEN']) {
      const value = env[name];
      if (value) expect(text).not.toContain(value);
    }
  }

  describe('in production', () => {
    it('loads a complete configuration with defaults', () => {
      const { config, notices } = loadConfig(production({}));
      expect(config).toMatchObject({
        nodeEnv: 'production',
        port: 4000,
        dataDir,
        databaseUrl: undefined,
        secretsPhrase: STRONG_PHRASE,
        jwtSecret: STRONG_JWT,
        secretsCacheTtlMs: 120_000,
        openrouterBaseUrl: 'https://openrouter.ai/api/v1',
        logLevel: 'info',
        // SPEC.md "Hostile input" defaults
        httpLimits: {
          anonymousBodyBytes: 65_536,
          authenticatedBodyBytes: 2_097_152,
          headersTimeoutMs: 10_000,
          requestTimeoutMs: 30_000,
          keepAliveTimeoutMs: 5_000,
          maxConnections: 4_096,
          graphqlConcurrentPerPrincipal: 32,
          jsonMaxDepth: 64,
        },
        gatewayMaxConcurrentPerWorkspace: 64,
        shutdownGraceMs: 120_000,
        gatewayDatabaseOutage: 'serve',
      });
      expect(notices).toEqual([]);
    });

    it.each([
      ['SECRETS_PHRASE', 'missing', undefined],
      ['SECRETS_PHRASE', 'empty', ''],
      ['SECRETS_PHRASE', 'short', SHORT_SECRET],
      ['SECRETS_PHRASE', '31 characters', 'x'.repeat(31)],
      ['SECRETS_PHRASE', 'white space', ' '.repeat(40)],
      ['SECRETS_PHRASE', '31 characters padded with spaces', `   ${'x'.repeat(31)}   `],
      ['JWT_SECRET', 'white space', '\t'.repeat(40)],
      ['JWT_SECRET', 'missing', undefined],
      ['JWT_SECRET', 'short', SHORT_SECRET],
    ])('refuses %s when %s, naming the variable and not the value', (variable, _case, value) => {
      const env = production({ [variable]: value });
      const error = configErrorFor(env);
      expect(error.variable).toBe(variable);
      expect(error.message).toContain(variable);
      expectNoSecretIn(error.message, env);
      if (value) expect(error.message).not.toContain(value);
    });

    it('accepts secrets of exactly 32 characters', () => {
      const { config } = loadConfig(production({ SECRETS_PHRASE: 's'.repeat(32), JWT_SECRET: 'j'.repeat(32) }));
      expect(config.secretsPhrase).toHaveLength(32);
    });

    it('never generates secrets into DATA_DIR', () => {
      configErrorFor(production({ SECRETS_PHRASE: undefined }));
      expect(() => statSync(join(dataDir, 'dev-secrets.json'))).toThrow();
    });

    it('serves no cross-origin caller and no metrics unless told to', () => {
      const { config } = loadConfig(production({}));
      expect(config).toMatchObject({ corsOrigins: [], metricsToken: undefined, metricsPort: undefined, metricsHost: '127.0.0.1', webhookRetryBaseMs: 5_000 });
    });

    it('refuses a short METRICS_TOKEN without echoing it, and takes a strong one', () => {
      const env = production({ METRICS_TOKEN: SHORT_SECRET });
      const error = configErrorFor(env);
      expect(error.variable).toBe('METRICS_TOKEN');
      expect(error.message).not.toContain(SHORT_SECRET);
      expect(loadConfig(production({ METRICS_TOKEN: 'm'.repeat(32) })).config.metricsToken).toBe('m'.repeat(32));
    });

    it('says that METRICS_HOST does nothing without METRICS_PORT', () => {
      expect(loadConfig(production({ METRICS_HOST: '0.0.0.0' })).notices).toEqual(['METRICS_HOST has no effect without METRICS_PORT']);
    });

    it('refuses a short SERVICE_TOKEN without echoing it', () => {
      const env = production({ SERVICE_TOKEN: SHORT_SECRET });
      const error = configErrorFor(env);
      expect(error.message).toContain('SERVICE_TOKEN');
      expect(error.message).not.toContain(SHORT_SECRET);
    });

    it('refuses a previous phrase equal to the current one without echoing either', () => {
      const env = production({ SECRETS_PHRASE_PREVIOUS: STRONG_PHRASE });
      const error = configErrorFor(env);
      expect(error.message).toContain('SECRETS_PHRASE_PREVIOUS');
      expectNoSecretIn(error.message, env);
    });
  });

  describe('in development', () => {
    it('generates the missing secrets into DATA_DIR/dev-secrets.json with mode 0600, and says so without the values', () => {
      const { config, notices } = loadConfig(development());
      const file = join(dataDir, 'dev-secrets.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      expect(stored.SECRETS_PHRASE).toBe(config.secretsPhrase);
      expect(stored.JWT_SECRET).toBe(config.jwtSecret);
      // generated values are strong enough to pass the production rule too
      expect(config.secretsPhrase.length).toBeGreaterThanOrEqual(32);
      expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
      expect(config.secretsPhrase).not.toBe(config.jwtSecret);

      expect(notices.join('\n')).toMatch(/generated SECRETS_PHRASE, JWT_SECRET/);
      expect(notices.join('\n')).toContain(file);
      expectNoSecretIn(notices.join('\n'), stored);
    });

    it('reuses the generated secrets on the next load', () => {
      const first = loadConfig(development());
      const second = loadConfig(development());
      expect(second.config.secretsPhrase).toBe(first.config.secretsPhrase);
      expect(second.config.jwtSecret).toBe(first.config.jwtSecret);
      expect(second.notices.join('\n')).toMatch(/using SECRETS_PHRASE, JWT_SECRET/);
      expectNoSecretIn(second.notices.join('\n'), { SECRETS_PHRASE: first.config.secretsPhrase, JWT_SECRET: first.config.jwtSecret });
    });

    it('generates only what is missing and prefers what the environment gives', () => {
      const { config, notices } = loadConfig(development({ SECRETS_PHRASE: SHORT_SECRET }));
      expect(config.secretsPhrase).toBe(SHORT_SECRET);
      expect(notices.join('\n')).toMatch(/generated JWT_SECRET /);
      const stored = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as Record<string, string>;
      expect(Object.keys(stored)).toEqual(['JWT_SECRET']);
    });

    it('generates nothing when both secrets are given', () => {
      const { notices } = loadConfig(development({ SECRETS_PHRASE: SHORT_SECRET, JWT_SECRET: SHORT_SECRET + '-jwt' }));
      expect(notices).toEqual([]);
      expect(() => statSync(join(dataDir, 'dev-secrets.json'))).toThrow();
    });
  });

  describe('refuses invalid values, naming the variable', () => {
    it.each([
      ['PORT', 'abc'],
      ['PORT', '-1'],
      ['PORT', '65536'],
      ['PORT', '80.5'],
      ['LOG_LEVEL', 'verbose'],
      ['LOG_LEVEL', 'INFO!'],
      ['DATABASE_URL', 'not a url'],
      ['DATABASE_URL', 'postgres://user:hunter2@db.internal:5432/byok'],
      ['DATABASE_URL', 'sqlite:///tmp/x.db'],
      ['SECRETS_CACHE_TTL_MS', '120001'],
      ['SECRETS_CACHE_TTL_MS', '600000'],
      ['SECRETS_CACHE_TTL_MS', '-5'],
      ['SECRETS_CACHE_TTL_MS', 'two minutes'],
      ['REDIS_URL', 'http://cache:6379'],
      ['OPENROUTER_BASE_URL', 'ftp://openrouter.ai'],
      ['OPENROUTER_VERIFY_KEYS', 'maybe'],
      ['WEBHOOK_RETRY_BASE_MS', '0'],
      ['WEBHOOK_RETRY_BASE_MS', 'soon'],
      ['CORS_ORIGINS', '*'],
      ['CORS_ORIGINS', 'app.example.com'],
      ['CORS_ORIGINS', 'https://app.example.com/'],
      ['CORS_ORIGINS', 'https://app.example.com/settings'],
      ['CORS_ORIGINS', 'https://*.example.com'],
      ['CORS_ORIGINS', 'https://App.Example.com'],
      ['CORS_ORIGINS', 'https://app.example.com:443'],
      ['CORS_ORIGINS', 'https://app.example.com https://admin.example.com'],
      ['CORS_ORIGINS', 'https://app.example.com,ftp://files.example.com'],
      ['CORS_ORIGINS', 'null'],
      ['METRICS_PORT', '65536'],
      ['METRICS_PORT', 'nine'],
      ['METRICS_PORT', '4000'],
      ['METRICS_HOST', 'not a host'],
      ['METRICS_HOST', 'http://127.0.0.1'],
      ['NODE_ENV', 'prod'],
      ['NODE_ENV', 'Production'],
      ['NODE_ENV', 'staging'],
      ['GRAPHQL_MAX_BODY_BYTES_ANONYMOUS', '64KiB'],
      ['GRAPHQL_MAX_BODY_BYTES', '0'],
      ['HTTP_HEADERS_TIMEOUT_MS', '-1'],
      ['HTTP_REQUEST_TIMEOUT_MS', '30s'],
      ['HTTP_KEEP_ALIVE_TIMEOUT_MS', '5.5'],
      ['HTTP_MAX_CONNECTIONS', '0'],
      ['GRAPHQL_MAX_CONCURRENT_PER_PRINCIPAL', 'many'],
      ['JSON_MAX_DEPTH', '1'],
      ['GATEWAY_MAX_CONCURRENT_PER_WORKSPACE', '0'],
      ['GATEWAY_MAX_CONCURRENT_PER_WORKSPACE', 'many'],
      ['SHUTDOWN_GRACE_MS', '-1'],
      ['GATEWAY_DATABASE_OUTAGE', 'maybe'],
      ['SHUTDOWN_GRACE_MS', 'two minutes'],
    ])('%s=%s', (variable, value) => {
      const env = production({ [variable]: value });
      const error = configErrorFor(env);
      expect(error.variable).toBe(variable);
      expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${variable} `));
      expectNoSecretIn(error.message, env);
      // a URL's credentials must not reach the log that prints this message
      expect(error.message).not.toContain('hunter2');
    });

    it.each([
      ['PORT', '0', { port: 0 }],
      ['PORT', '8080', { port: 8080 }],
      ['LOG_LEVEL', 'debug', { logLevel: 'debug' }],
      ['DATABASE_URL', 'mysql://byok:pw@db:3306/byok', { databaseUrl: 'mysql://byok:pw@db:3306/byok' }],
      ['DATABASE_URL', 'mariadb://byok@db/byok', { databaseUrl: 'mariadb://byok@db/byok' }],
      ['SECRETS_CACHE_TTL_MS', '120000', { secretsCacheTtlMs: 120_000 }],
      ['SECRETS_CACHE_TTL_MS', '0', { secretsCacheTtlMs: 0 }],
      ['CORS_ORIGINS', 'https://app.example.com', { corsOrigins: ['https://app.example.com'] }],
      ['CORS_ORIGINS', ' https://app.example.com , http://localhost:5173,,https://app.example.com ', { corsOrigins: ['https://app.example.com', 'http://localhost:5173'] }],
      ['CORS_ORIGINS', 'http://[::1]:8080', { corsOrigins: ['http://[::1]:8080'] }],
      ['METRICS_PORT', '9464', { metricsPort: 9464, metricsHost: '127.0.0.1' }],
      ['METRICS_PORT', '0', { metricsPort: 0 }],
      ['METRICS_HOST', '0.0.0.0', { metricsHost: '0.0.0.0' }],
      ['METRICS_HOST', '::1', { metricsHost: '::1' }],
      ['METRICS_HOST', 'metrics.internal', { metricsHost: 'metrics.internal' }],
      ['GRAPHQL_MAX_BODY_BYTES_ANONYMOUS', '131072', { httpLimits: expect.objectContaining({ anonymousBodyBytes: 131_072, authenticatedBodyBytes: 2_097_152 }) }],
      ['GRAPHQL_MAX_BODY_BYTES', '4194304', { httpLimits: expect.objectContaining({ authenticatedBodyBytes: 4_194_304 }) }],
      ['HTTP_HEADERS_TIMEOUT_MS', '5000', { httpLimits: expect.objectContaining({ headersTimeoutMs: 5_000 }) }],
      ['HTTP_REQUEST_TIMEOUT_MS', '60000', { httpLimits: expect.objectContaining({ requestTimeoutMs: 60_000 }) }],
      ['HTTP_KEEP_ALIVE_TIMEOUT_MS', '65000', { httpLimits: expect.objectContaining({ keepAliveTimeoutMs: 65_000 }) }],
      ['HTTP_MAX_CONNECTIONS', '10000', { httpLimits: expect.objectContaining({ maxConnections: 10_000 }) }],
      ['GRAPHQL_MAX_CONCURRENT_PER_PRINCIPAL', '8', { httpLimits: expect.objectContaining({ graphqlConcurrentPerPrincipal: 8 }) }],
      ['JSON_MAX_DEPTH', '32', { httpLimits: expect.objectContaining({ jsonMaxDepth: 32 }) }],
      ['JWT_ISSUER', 'https://auth.example.com', { jwtIssuer: 'https://auth.example.com', jwtAudience: undefined }],
      ['JWT_AUDIENCE', 'byok-billing', { jwtAudience: 'byok-billing', jwtIssuer: undefined }],
      ['GATEWAY_MAX_CONCURRENT_PER_WORKSPACE', '8', { gatewayMaxConcurrentPerWorkspace: 8 }],
      ['WEBHOOK_RETRY_BASE_MS', '250', { webhookRetryBaseMs: 250 }],
      ['SHUTDOWN_GRACE_MS', '0', { shutdownGraceMs: 0 }],
      ['GATEWAY_DATABASE_OUTAGE', 'refuse', { gatewayDatabaseOutage: 'refuse' }],
    ])('while accepting %s=%s', (variable, value, expected) => {
      const loaded: LoadedConfig = loadConfig(production({ [variable]: value }));
      expect(loaded.config).toMatchObject(expected);
    });
  });
});

describe('the compiled service in production', () => {
  let dataDir: string;
  beforeAll(() => {
    buildOnce();
    dataDir = mkdtempSync(join(tmpdir(), 'byok-config-main-'));
  }, 180_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const startMain = (env: Env) => runCompiled('src/main.js', [], { NODE_ENV: 'production', DATA_DIR: dataDir, PORT: '0', JWT_SECRET: STRONG_JWT, ...env });

  it('exits non-zero without SECRETS_PHRASE, naming it', async () => {
    const run = await startMain({});
    expect(run.code).not.toBe(0);
    expect(run.code).toBe(78); // EX_CONFIG
    expect(run.stderr).toContain('SECRETS_PHRASE');
    expect(run.stdout).not.toContain('listening');
  });

  it.each(['prod', 'staging', 'PRODUCTION'])('refuses to start with NODE_ENV=%s: exit code 78, naming NODE_ENV', async (nodeEnv) => {
    const run = await startMain({ NODE_ENV: nodeEnv, SECRETS_PHRASE: STRONG_PHRASE });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('NODE_ENV');
    expect(run.stdout).not.toContain('listening');
  });

  it('exits non-zero with a short SECRETS_PHRASE, naming it but not echoing it', async () => {
    const run = await startMain({ SECRETS_PHRASE: SHORT_SECRET });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('SECRETS_PHRASE');
    expect(run.stderr + run.stdout).not.toContain(SHORT_SECRET);
  });
});
