import 'reflect-metadata';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { AppConfig } from './config/config';
import { createDataSource } from './db/data-source';
import { ensurePrivateDirectory } from './db/private-files';
import { TenantSecretsCipher } from './modules/secrets/cipher';
import { unknownStoredKeyIds } from './modules/secrets/key-id.check';
import { createServer, RunningServer } from './server';

export interface RunningApp extends RunningServer {
  dataSource: DataSource;
  cipher: TenantSecretsCipher;
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/**
 * Start-up in order: derive the master keys (once: scrypt is slow by design), open and migrate the
 * database, check that every stored blob has a key we hold, then serve.
 */
export async function startApp(config: AppConfig, logger: Logger, options: { host?: string; cipher?: TenantSecretsCipher } = {}): Promise<RunningApp> {
  const cipher = options.cipher ?? (await TenantSecretsCipher.fromPhrases(config.secretsPhrase, config.secretsPhrasePrevious));
  logger.info({ keyIds: cipher.knownKeyIds }, 'secrets keys derived');
  // The usage journal lives there whichever the database.
  ensurePrivateDirectory(config.dataDir);
  const dataSource = await createDataSource({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await dataSource.initialize();
  try {
    if (config.migrateOnStart) {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');
    }
    const unknown = await unknownStoredKeyIds(dataSource, cipher);
    if (unknown.length > 0) {
      const message = `stored secrets (tenant secrets or webhook signing secrets) use key id(s) ${unknown.join(', ')}, which neither SECRETS_PHRASE nor SECRETS_PHRASE_PREVIOUS derives`;
      if (config.nodeEnv === 'production') throw new StartupError(message);
      logger.warn(message);
    }
    const server = await createServer({ config, dataSource, cipher, logger });
    // Outside production the service runs on: members see those keys as KEY_UNAVAILABLE, not ACTIVE.
    await server.services.keyHealth.markUnavailableUnderKeyIds(unknown);
    const running = await server.listen(config.port, options.host);
    logger.info({ url: running.url, database: dataSource.options.type }, 'listening');
    return {
      ...running,
      dataSource,
      cipher,
      stop: async () => {
        await running.stop();
        await dataSource.destroy();
      },
    };
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}
