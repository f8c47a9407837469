import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import type { SqlDialect } from './dialect';

/**
 * Inserts entities in one multi-row statement, leaving alone any whose primary or unique key is
 * already taken, and returns how many were inserted (when that is fewer than given, the caller
 * reads back which rows are its own). Values go through TypeORM's column transformers and driver
 * conversions, exactly as `manager.insert` would write them. Runs in the caller's transaction.
 */
export async function insertNewRows<T extends ObjectLiteral>(manager: EntityManager, dialect: SqlDialect, target: EntityTarget<T>, entities: readonly T[]): Promise<number> {
  if (entities.length === 0) return 0;
  if (!manager.queryRunner) throw new Error('insertNewRows runs inside a transaction');
  const { driver } = manager.connection;
  const metadata = manager.connection.getMetadata(target);
  const columns = metadata.columns;
  const placeholders = `(${columns.map(() => '?').join(', ')})`;
  const parameters = entities.flatMap((entity) => columns.map((column) => driver.preparePersistentValue(column.getEntityValue(entity, true), column)));
  const [primary] = metadata.primaryColumns.map((column) => driver.escape(column.databaseName));
  // MySQL counts a skipped row as 0 affected because connections are made without FOUND_ROWS
  // (db/data-source.ts); SQLite counts only the rows it inserted.
  const result = await manager.queryRunner.query(
    dialect.insertIgnoringTaken(
      `INSERT INTO ${driver.escape(metadata.tableName)} (${columns.map((column) => driver.escape(column.databaseName)).join(', ')}) VALUES ${entities.map(() => placeholders).join(', ')}`,
      primary,
    ),
    parameters,
    true,
  );
  return result.affected ?? 0;
}
