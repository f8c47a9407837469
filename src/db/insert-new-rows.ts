import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import { supportsRowLocks } from './data-source';

/**
 * Inserts entities in one multi-row statement, leaving alone any whose primary or unique key is
 * already taken (the caller reads back which rows are its own). Values go through TypeORM's
 * column transformers and driver conversions, exactly as `manager.insert` would write them.
 */
export async function insertNewRows<T extends ObjectLiteral>(manager: EntityManager, target: EntityTarget<T>, entities: readonly T[]): Promise<void> {
  if (entities.length === 0) return;
  const { driver } = manager.connection;
  const metadata = manager.connection.getMetadata(target);
  const columns = metadata.columns;
  const placeholders = `(${columns.map(() => '?').join(', ')})`;
  const parameters = entities.flatMap((entity) => columns.map((column) => driver.preparePersistentValue(column.getEntityValue(entity, true), column)));
  const [primary] = metadata.primaryColumns.map((column) => driver.escape(column.databaseName));
  const skipTaken = supportsRowLocks(manager.connection) ? `ON DUPLICATE KEY UPDATE ${primary} = ${primary}` : 'ON CONFLICT DO NOTHING';
  await manager.query(
    `INSERT INTO ${driver.escape(metadata.tableName)} (${columns.map((column) => driver.escape(column.databaseName)).join(', ')}) VALUES ${entities.map(() => placeholders).join(', ')} ${skipTaken}`,
    parameters,
  );
}
