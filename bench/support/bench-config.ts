import { randomBytes } from 'node:crypto';
import { AppConfig, loadConfig } from '../../src/config/config';

/**
 * The service as deployed, through its own config loader (so new settings get their defaults):
 * NODE_ENV=production, LOG_LEVEL=warn, fresh strong secrets, live key checks off. `env` overrides.
 */
export function productionLikeConfig(databaseUrl: string | undefined, dataDir: string, env: Record<string, string | undefined> = {}): AppConfig {
  const { config } = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    SECRETS_PHRASE: randomBytes(32).toString('base64url'),
    JWT_SECRET: randomBytes(32).toString('base64url'),
    SERVICE_TOKEN: randomBytes(32).toString('base64url'),
    OPENROUTER_BASE_URL: 'http://127.0.0.1:9',
    OPENROUTER_VERIFY_KEYS: 'false',
    ...env,
  });
  return config;
}
