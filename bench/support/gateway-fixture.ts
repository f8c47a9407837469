import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningApp, startApp } from '../../src/app';
import { JwtCodec } from '../../src/auth/jwt';
import type { AppConfig } from '../../src/config/config';
import { productionLikeConfig } from './bench-config';
import { createLogger } from '../../src/logging/logger';
import type { TenantSecretsCipher } from '../../src/modules/secrets/cipher';
import { graphqlOrThrow } from './graphql-request';
import type { BenchDatabase } from './suite';

/** Secrets shared by every app a suite starts, so two apps on one database read each other's blobs. */
export interface BenchSecrets {
  secretsPhrase: string;
  jwtSecret: string;
  serviceToken: string;
  platformKey: string;
}

export function freshBenchSecrets(): BenchSecrets {
  return {
    secretsPhrase: randomBytes(32).toString('base64url'),
    jwtSecret: randomBytes(32).toString('base64url'),
    serviceToken: randomBytes(32).toString('base64url'),
    platformKey: `sk-or-v1-platform-${randomBytes(16).toString('hex')}`,
  };
}

export function benchKey(label: string): string {
  return `sk-or-v1-bench-${label}-${'0123456789abcdef'.repeat(2)}`;
}

/** Production-like settings with this fixture's own secrets (see productionLikeConfig). */
export function gatewayBenchConfig(database: BenchDatabase, dataDir: string, secrets: BenchSecrets, env: Record<string, string | undefined> = {}): AppConfig {
  return productionLikeConfig(database.url, dataDir, {
    SECRETS_PHRASE: secrets.secretsPhrase,
    JWT_SECRET: secrets.jwtSecret,
    SERVICE_TOKEN: secrets.serviceToken,
    PLATFORM_OPENROUTER_KEY: secrets.platformKey,
    ...env,
  });
}

export interface BenchApp {
  app: RunningApp;
  config: AppConfig;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts the service in this process; `dataDir` is shared when given (SQLite: one file for two apps). */
export async function startBenchApp(
  database: BenchDatabase,
  secrets: BenchSecrets,
  env: Record<string, string | undefined> = {},
  options: { dataDir?: string; cipher?: TenantSecretsCipher } = {},
): Promise<BenchApp> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'byok-bench-'));
  const config = gatewayBenchConfig(database, dataDir, secrets, env);
  const app = await startApp(config, createLogger(config.logLevel), { host: '127.0.0.1', cipher: options.cipher });
  return {
    app,
    config,
    dataDir,
    async stop() {
      await app.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An ENTERPRISE workspace whose owner saved `key`, made through the API; returns its id and the owner's token. */
export async function seedWorkspaceWithKey(url: string, jwtSecret: string, key: string, name = 'Bench Enterprise'): Promise<{ workspaceId: string; ownerToken: string }> {
  const jwt = new JwtCodec(jwtSecret);
  const admin = await jwt.sign({ userId: 'bench-admin', platformAdmin: true });
  const { createWorkspace } = await graphqlOrThrow<{ createWorkspace: { id: string } }>(
    url,
    'mutation($n: String!) { createWorkspace(name: $n, plan: ENTERPRISE) { id } }',
    { n: name },
    admin,
  );
  const workspaceId = createWorkspace.id;
  const ownerId = `bench-owner-${workspaceId.slice(0, 8)}`;
  await graphqlOrThrow(url, 'mutation($w: ID!, $u: ID!) { addMember(workspaceId: $w, userId: $u, role: OWNER) { userId } }', { w: workspaceId, u: ownerId }, admin);
  const ownerToken = await jwt.sign({ userId: ownerId, platformAdmin: false }, '2h');
  await graphqlOrThrow(url, 'mutation($w: ID!, $k: String!) { saveKey(workspaceId: $w, key: $k) { configured } }', { w: workspaceId, k: key }, ownerToken);
  return { workspaceId, ownerToken };
}

/** The p-th percentile (0–100) of samples, nearest rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}
