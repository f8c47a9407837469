import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { DataSource, DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations';
import { mysqlDialect, SqlDialect, sqliteDialect } from './dialect';
import { entities } from './entities';
import { ensurePrivateDatabaseFiles, ensurePrivateDirectory } from './private-files';

export interface DatabaseSettings {
  /** mysql://user:pass@host:port/db ; undefined: the embedded SQLite file in dataDir */
  databaseUrl?: string;
  dataDir: string;
  logging?: boolean;
}

export function isMysqlUrl(url: string | undefined): url is string {
  return url !== undefined && /^(mysql|mariadb):/.test(url);
}

/**
 * MariaDB speaks the MySQL protocol but reports column metadata differently; TypeORM reads the
 * schema right only when told which server it is, so ask the server.
 */
async function mysqlFlavour(url: string): Promise<'mysql' | 'mariadb'> {
  const connection = await createConnection({ uri: url, connectTimeout: 10_000 });
  try {
    const [rows] = await connection.query('SELECT VERSION() AS version');
    return /mariadb/i.test(String((rows as Array<{ version: string }>)[0]?.version)) ? 'mariadb' : 'mysql';
  } finally {
    await connection.end();
  }
}

export async function dataSourceOptions(settings: DatabaseSettings): Promise<DataSourceOptions> {
  const common = { entities, migrations, synchronize: false, migrationsRun: false, logging: settings.logging ?? false } as const;
  if (isMysqlUrl(settings.databaseUrl)) {
    const url = settings.databaseUrl.replace(/^mariadb:/, 'mysql:');
    return {
      ...common,
      type: await mysqlFlavour(url),
      url,
      timezone: 'Z',
      charset: 'utf8mb4_unicode_ci',
      supportBigNumbers: true,
      bigNumberStrings: false,
      // Affected rows are rows changed, not rows matched: an INSERT … ON DUPLICATE KEY UPDATE that
      // leaves a taken key alone then counts 0 for it, which is how the usage recorder tells the
      // calls it inserted from retries without reading them back.
      flags: ['-FOUND_ROWS'],
      extra: { connectionLimit: 20 },
    };
  }
  ensurePrivateDirectory(settings.dataDir);
  const database = join(settings.dataDir, 'service.sqlite');
  ensurePrivateDatabaseFiles(database);
  return {
    ...common,
    type: 'better-sqlite3',
    database,
    enableWAL: true,
    timeout: 10_000,
  };
}

export async function createDataSource(settings: DatabaseSettings): Promise<DataSource> {
  return new DataSource(await dataSourceOptions(settings));
}

/** The SQL dialect of `dataSource`'s database: the one place that asks which database it is. */
export function sqlDialectOf(dataSource: DataSource): SqlDialect {
  switch (dataSource.options.type) {
    case 'mysql':
    case 'mariadb':
      return mysqlDialect;
    case 'better-sqlite3':
      return sqliteDialect;
    default:
      throw new Error(`no SQL dialect for database type ${dataSource.options.type}`);
  }
}
