import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import { ConfigError, loadConfig, LoadedConfig } from '../config/config';
import { createDataSource } from '../db/data-source';

/** Loads the configuration like the service does, or exits with the reason. */
export function configOrExit(): LoadedConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}

export async function openDatabase(loaded: LoadedConfig): Promise<DataSource> {
  const dataSource = await createDataSource({ databaseUrl: loaded.config.databaseUrl, dataDir: loaded.config.dataDir });
  await dataSource.initialize();
  return dataSource;
}

export function flag(args: string[], name: string): boolean {
  return args.includes(`--${name}`);
}

export function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
}

export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
