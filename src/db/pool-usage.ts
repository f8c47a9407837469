import type { DataSource } from 'typeorm';

export interface PoolUsage {
  inUse: number;
  idle: number;
  /** queries waiting for a connection */
  queued: number;
  limit: number;
}

interface Sized {
  length: number;
}

/** The parts of mysql2's pool it has no public API for (lib/base/pool.js). */
interface Mysql2Pool {
  _allConnections: Sized;
  _freeConnections: Sized;
  _connectionQueue: Sized;
  config: { connectionLimit: number };
}

function isMysql2Pool(pool: unknown): pool is Mysql2Pool {
  const candidate = pool as Partial<Mysql2Pool> | undefined;
  return typeof candidate?._allConnections?.length === 'number' && typeof candidate._freeConnections?.length === 'number' && typeof candidate._connectionQueue?.length === 'number' && typeof candidate.config?.connectionLimit === 'number';
}

/**
 * How the data source's connection pool is used right now, or undefined when it has none that can
 * be read (SQLite: one connection, transactions queued in TransactionRunner).
 */
export function poolUsageOf(dataSource: DataSource): PoolUsage | undefined {
  const pool = (dataSource.driver as { pool?: unknown }).pool;
  if (!isMysql2Pool(pool)) return undefined;
  const open = pool._allConnections.length;
  const idle = pool._freeConnections.length;
  return { inUse: open - idle, idle, queued: pool._connectionQueue.length, limit: pool.config.connectionLimit };
}
