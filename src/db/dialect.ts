import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/** A locking read in `find` options: TypeORM's modes, which SQLite rejects. */
export type FindLock = { lock?: { mode: 'pessimistic_read' | 'pessimistic_write' } };

/**
 * Everything that is written differently on MySQL/MariaDB and on SQLite. One is chosen when the
 * data source is made (`sqlDialectOf` in data-source.ts) and handed to the transaction runner and
 * the services that write such SQL, so no other code asks which database it is on.
 */
export interface SqlDialect {
  readonly name: 'mysql' | 'sqlite';
  /**
   * SQLite takes one writer at a time and TypeORM shares its one connection, where a second
   * concurrent transaction would silently nest inside the first: the transaction runner queues
   * transactions one after another instead.
   */
  readonly serialisesWriters: boolean;
  /**
   * Locks the rows `query` reads until the transaction ends; `skipLocked` passes over rows another
   * transaction holds. SQLite has no row locks: its single writer already excludes the others.
   */
  lockForUpdate<T extends ObjectLiteral>(query: SelectQueryBuilder<T>, options?: { skipLocked?: boolean }): SelectQueryBuilder<T>;
  /** A shared lock on the rows a `find` reads (spread into its options). */
  lockInFind(mode: 'pessimistic_read' | 'pessimistic_write'): FindLock;
  /** `select`, a raw SELECT, as a locking read. */
  selectForUpdate(select: string): string;
  /** `insert`, a raw multi-row INSERT, leaving alone the rows whose primary or unique key is taken. */
  insertIgnoringTaken(insert: string, primaryColumn: string): string;
  /** A multi-row INSERT of `columns` that adds each non-key column to the row with the same `keyColumns`. */
  addingUpsertSql(table: string, columns: readonly string[], keyColumns: readonly string[], rows: number): string;
  /** "YYYY-MM-DD", the UTC day of a stored datetime `column` (stored values are UTC). */
  utcDaySql(column: string): string;
  /** What follows a table (and its alias) in FROM to make the planner use `index`; nothing where the planner needs no telling. */
  forceIndex(index: string): string;
}

function valuesSql(columns: readonly string[], rows: number): string {
  return Array.from({ length: rows }, () => `(${columns.map(() => '?').join(', ')})`).join(', ');
}

export const mysqlDialect: SqlDialect = {
  name: 'mysql',
  serialisesWriters: false,
  lockForUpdate(query, options) {
    query.setLock('pessimistic_write');
    if (options?.skipLocked) query.setOnLocked('skip_locked');
    return query;
  },
  lockInFind: (mode) => ({ lock: { mode } }),
  selectForUpdate: (select) => `${select} FOR UPDATE`,
  insertIgnoringTaken: (insert, primaryColumn) => `${insert} ON DUPLICATE KEY UPDATE ${primaryColumn} = ${primaryColumn}`,
  addingUpsertSql(table, columns, keyColumns, rows) {
    const summed = columns.filter((column) => !keyColumns.includes(column));
    return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${valuesSql(columns, rows)} ON DUPLICATE KEY UPDATE ${summed.map((c) => `${c} = ${c} + VALUES(${c})`).join(', ')}`;
  },
  utcDaySql: (column) => `DATE_FORMAT(${column}, '%Y-%m-%d')`,
  forceIndex: (index) => ` FORCE INDEX (${index})`,
};

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  serialisesWriters: true,
  lockForUpdate: (query) => query,
  lockInFind: () => ({}),
  selectForUpdate: (select) => select,
  insertIgnoringTaken: (insert) => `${insert} ON CONFLICT DO NOTHING`,
  addingUpsertSql(table, columns, keyColumns, rows) {
    const summed = columns.filter((column) => !keyColumns.includes(column));
    return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${valuesSql(columns, rows)} ON CONFLICT (${keyColumns.join(', ')}) DO UPDATE SET ${summed.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;
  },
  // Stored as 'YYYY-MM-DD HH:MM:SS.SSS' text in UTC.
  utcDaySql: (column) => `substr(${column}, 1, 10)`,
  // SQLite has no FORCE INDEX; its planner's choice stands.
  forceIndex: () => '',
};
