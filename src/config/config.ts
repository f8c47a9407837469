import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { ensurePrivateDirectory } from '../db/private-files';
import { DEFAULT_HTTP_LIMITS, HTTP_LIMIT_VARIABLES, HttpLimits } from './http-limits';

export type NodeEnv = 'production' | 'development' | 'test';

/** The whole service configuration. Fields marked sensitive are never logged or echoed. */
export interface AppConfig {
  nodeEnv: NodeEnv;
  port: number;
  dataDir: string;
  /** mysql://… ; undefined means the embedded SQLite file in dataDir */
  databaseUrl?: string;
  /** sensitive */
  secretsPhrase: string;
  /** sensitive */
  secretsPhrasePrevious?: string;
  /** sensitive */
  jwtSecret: string;
  /** sensitive */
  serviceToken?: string;
  redisUrl?: string;
  secretsCacheTtlMs: number;
  openrouterBaseUrl: string;
  /** sensitive */
  platformOpenrouterKey?: string;
  openrouterVerifyKeys: boolean;
  /** how long the gateway waits for OpenRouter's headers, and between body chunks */
  openrouterTimeoutMs: number;
  logLevel: string;
  migrateOnStart: boolean;
  /** browser origins allowed to call /graphql across origins (exact `scheme://host[:port]`); empty: none */
  corsOrigins: string[];
  /** sensitive; when set, /metrics on the main port (and the metrics port) requires it as a bearer token */
  metricsToken?: string;
  /** a listener of its own for /metrics; undefined: none */
  metricsPort?: number;
  /** the address the metrics port binds to */
  metricsHost: string;
  /** bounds on the work of any request (SPEC.md "Hostile input") */
  httpLimits: HttpLimits;
  /** when set, a user JWT must carry exactly this `iss` */
  jwtIssuer?: string;
  /** when set, a user JWT's `aud` must name it */
  jwtAudience?: string;
  /** gateway calls one workspace may have in flight on one worker; beyond, 429 CONCURRENCY_LIMIT */
  gatewayMaxConcurrentPerWorkspace: number;
  /** how often each stored key is re-checked with OpenRouter (jittered); undefined: 900000 */
  keyRecheckIntervalMs?: number;
  /** the first webhook retry's delay; each next one doubles (with jitter). Unset: 5000 */
  webhookRetryBaseMs?: number;
  /** on SIGTERM, how long gateway calls in flight may run on before they are cut and recorded INTERRUPTED */
  shutdownGraceMs: number;
  /** while the database is unreachable, the gateway serves workspaces it has cached (`serve`) or answers 503 (`refuse`) */
  gatewayDatabaseOutage: 'serve' | 'refuse';
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: AppConfig;
  /** human-readable notes for the start-up log (never containing secret values) */
  notices: string[];
}

const MIN_SECRET_LENGTH = 32;
export const DEFAULT_KEY_RECHECK_INTERVAL_MS = 900_000;
export const DEFAULT_WEBHOOK_RETRY_BASE_MS = 5_000;
const DEV_SECRETS_FILE = 'dev-secrets.json';
const NODE_ENVS: NodeEnv[] = ['development', 'test', 'production'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Record<string, string | undefined>;

function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function parseBoolean(env: Env, name: string, fallback: boolean): boolean {
  const value = nonEmpty(env, name);
  if (value === undefined) return fallback;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new ConfigError(name, 'must be true or false');
}

function parseOutagePolicy(env: Env): 'serve' | 'refuse' {
  const value = env.GATEWAY_DATABASE_OUTAGE?.trim() || 'serve';
  if (value !== 'serve' && value !== 'refuse') throw new ConfigError('GATEWAY_DATABASE_OUTAGE', 'must be serve or refuse');
  return value;
}

function parseInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = nonEmpty(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  }
  return Number(value);
}

function parseHttpLimits(env: Env): HttpLimits {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  for (const [field, name, min, max] of HTTP_LIMIT_VARIABLES) limits[field] = parseInteger(env, name, DEFAULT_HTTP_LIMITS[field], min, max);
  // Below it, no body at the authenticated cap could ever be read.
  if (limits.graphqlBodyBytesInFlight < limits.authenticatedBodyBytes) {
    throw new ConfigError('GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT', `must be at least GRAPHQL_MAX_BODY_BYTES (${limits.authenticatedBodyBytes})`);
  }
  return limits;
}

function parseUrl(env: Env, name: string, protocols: string[], fallback?: string): string | undefined {
  const value = nonEmpty(env, name) ?? fallback;
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, 'must be a URL');
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}`);
  }
  return value.replace(/\/+$/, '');
}

/** `CORS_ORIGINS`: exact origins, so an entry that is a pattern, a path or a bare host is refused. */
function parseOrigins(env: Env, name: string): string[] {
  const value = nonEmpty(env, name);
  if (value === undefined) return [];
  const origins: string[] = [];
  for (const entry of value.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    // WHATWG URLs take `*` in a host name: an origin with one would never match a browser's.
    const plainHost = url !== undefined && (/^[a-z0-9.-]+$/.test(url.hostname) || /^\[[0-9a-f:.]+\]$/.test(url.hostname));
    if (!url || !plainHost || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== entry) {
      throw new ConfigError(name, `must list exact origins such as https://app.example.com (scheme, lower-case host, port only when not the default; no path, no trailing slash, no wildcard), separated by commas; "${entry}" is not one`);
    }
    if (!origins.includes(entry)) origins.push(entry);
  }
  return origins;
}

/** An IP address or a DNS name, as `listen()` takes it. */
function parseHost(env: Env, name: string, fallback: string): string {
  const value = nonEmpty(env, name);
  if (value === undefined) return fallback;
  const dnsName = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  if (isIP(value) === 0 && !dnsName.test(value)) throw new ConfigError(name, 'must be an IP address or a host name');
  return value;
}

/**
 * Development convenience: secrets that are missing are generated once into DATA_DIR (mode 0600)
 * and reused on the next start, so a newcomer needs no configuration at all.
 */
function loadOrGenerateDevSecrets(dataDir: string, names: string[], notices: string[]): Record<string, string> {
  const file = join(dataDir, DEV_SECRETS_FILE);
  const stored: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const generated = names.filter((name) => !stored[name]);
  if (generated.length > 0) {
    for (const name of generated) stored[name] = randomBytes(32).toString('base64url');
    ensurePrivateDirectory(dataDir);
    writeFileSync(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
    chmodSync(file, 0o600);
    notices.push(`development mode: generated ${generated.join(', ')} into ${file} (mode 0600); set them in production`);
  } else if (names.length > 0) {
    notices.push(`development mode: using ${names.join(', ')} from ${file}`);
  }
  return stored;
}

/** White space around a secret adds nothing to guess: only what is between counts. */
function isWeakSecret(value: string): boolean {
  return value.trim().length < MIN_SECRET_LENGTH;
}

function requireStrongSecret(name: string, value: string | undefined): string {
  if (value === undefined) throw new ConfigError(name, 'is required in production');
  if (isWeakSecret(value)) {
    throw new ConfigError(name, `must be at least ${MIN_SECRET_LENGTH} characters (white space around it not counted) in production`);
  }
  return value;
}

export function loadConfig(env: Env = process.env): LoadedConfig {
  const notices: string[] = [];
  const rawEnv = nonEmpty(env, 'NODE_ENV') ?? 'development';
  // A typo such as "prod" would otherwise run production traffic with development's generated secrets.
  if (!NODE_ENVS.includes(rawEnv as NodeEnv)) throw new ConfigError('NODE_ENV', `must be one of ${NODE_ENVS.join(', ')}`);
  const nodeEnv = rawEnv as NodeEnv;
  const dataDir = resolve(nonEmpty(env, 'DATA_DIR') ?? './data');

  let secretsPhrase = env.SECRETS_PHRASE || undefined;
  let jwtSecret = env.JWT_SECRET || undefined;
  if (nodeEnv === 'production') {
    secretsPhrase = requireStrongSecret('SECRETS_PHRASE', secretsPhrase);
    jwtSecret = requireStrongSecret('JWT_SECRET', jwtSecret);
  } else {
    const missing = [
      ...(secretsPhrase ? [] : ['SECRETS_PHRASE']),
      ...(jwtSecret ? [] : ['JWT_SECRET']),
    ];
    const generated = loadOrGenerateDevSecrets(dataDir, missing, notices);
    secretsPhrase ??= generated.SECRETS_PHRASE;
    jwtSecret ??= generated.JWT_SECRET;
  }

  const secretsPhrasePrevious = env.SECRETS_PHRASE_PREVIOUS || undefined;
  if (secretsPhrasePrevious !== undefined && secretsPhrasePrevious === secretsPhrase) {
    throw new ConfigError('SECRETS_PHRASE_PREVIOUS', 'must differ from SECRETS_PHRASE');
  }
  const serviceToken = env.SERVICE_TOKEN || undefined;
  if (nodeEnv === 'production' && serviceToken !== undefined) requireStrongSecret('SERVICE_TOKEN', serviceToken);
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (nodeEnv === 'production' && metricsToken !== undefined) requireStrongSecret('METRICS_TOKEN', metricsToken);
  const port = parseInteger(env, 'PORT', 4000, 0, 65535);
  const metricsPort = nonEmpty(env, 'METRICS_PORT') === undefined ? undefined : parseInteger(env, 'METRICS_PORT', 0, 0, 65535);
  if (metricsPort !== undefined && metricsPort !== 0 && metricsPort === port) throw new ConfigError('METRICS_PORT', 'must differ from PORT');
  const metricsHost = parseHost(env, 'METRICS_HOST', '127.0.0.1');
  if (metricsPort === undefined && nonEmpty(env, 'METRICS_HOST') !== undefined) notices.push('METRICS_HOST has no effect without METRICS_PORT');
  const logLevel = nonEmpty(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  const config: AppConfig = {
    nodeEnv,
    port,
    dataDir,
    databaseUrl: parseUrl(env, 'DATABASE_URL', ['mysql:', 'mariadb:']),
    secretsPhrase: secretsPhrase as string,
    secretsPhrasePrevious,
    jwtSecret: jwtSecret as string,
    serviceToken,
    redisUrl: parseUrl(env, 'REDIS_URL', ['redis:', 'rediss:']),
    secretsCacheTtlMs: parseInteger(env, 'SECRETS_CACHE_TTL_MS', 120_000, 0, 120_000),
    openrouterBaseUrl: parseUrl(env, 'OPENROUTER_BASE_URL', ['http:', 'https:'], 'https://openrouter.ai/api/v1') as string,
    platformOpenrouterKey: env.PLATFORM_OPENROUTER_KEY || undefined,
    openrouterVerifyKeys: parseBoolean(env, 'OPENROUTER_VERIFY_KEYS', true),
    openrouterTimeoutMs: parseInteger(env, 'OPENROUTER_TIMEOUT_MS', 120_000, 100, 600_000),
    logLevel,
    migrateOnStart: parseBoolean(env, 'MIGRATE_ON_START', true),
    corsOrigins: parseOrigins(env, 'CORS_ORIGINS'),
    metricsToken,
    metricsPort,
    metricsHost,
    httpLimits: parseHttpLimits(env),
    jwtIssuer: nonEmpty(env, 'JWT_ISSUER'),
    jwtAudience: nonEmpty(env, 'JWT_AUDIENCE'),
    gatewayMaxConcurrentPerWorkspace: parseInteger(env, 'GATEWAY_MAX_CONCURRENT_PER_WORKSPACE', 64, 1, 100_000),
    keyRecheckIntervalMs: parseInteger(env, 'KEY_RECHECK_INTERVAL_MS', DEFAULT_KEY_RECHECK_INTERVAL_MS, 1_000, 7 * 86_400_000),
    webhookRetryBaseMs: parseInteger(env, 'WEBHOOK_RETRY_BASE_MS', DEFAULT_WEBHOOK_RETRY_BASE_MS, 1, 3_600_000),
    shutdownGraceMs: parseInteger(env, 'SHUTDOWN_GRACE_MS', 120_000, 0, 3_600_000),
    gatewayDatabaseOutage: parseOutagePolicy(env),
  };
  return { config, notices };
}

/** The names of configuration fields whose values must never appear in logs (the URLs may hold passwords). */
export const SENSITIVE_CONFIG_FIELDS: ReadonlyArray<keyof AppConfig> = [
  'secretsPhrase',
  'secretsPhrasePrevious',
  'jwtSecret',
  'serviceToken',
  'platformOpenrouterKey',
  'metricsToken',
  'databaseUrl',
  'redisUrl',
];
