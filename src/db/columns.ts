import type { ColumnOptions, ValueTransformer } from 'typeorm';

/**
 * BIGINT columns come back from drivers as strings or numbers depending on size and driver;
 * money and token counts stay below 2^53, so they are plain integers in code.
 */
const bigintToNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? value : Number(value)),
};

export function bigintColumn(options: ColumnOptions = {}): ColumnOptions {
  return { type: 'bigint', transformer: bigintToNumber, ...options };
}

/** Millisecond precision, stored in UTC on both MySQL and SQLite. */
export function timestampColumn(options: ColumnOptions = {}): ColumnOptions {
  return { type: 'datetime', precision: 3, ...options };
}

const smallintToBoolean: ValueTransformer = {
  to: (value: boolean | null | undefined) => (value === null || value === undefined ? value : value ? 1 : 0),
  from: (value: number | null) => (value === null || value === undefined ? value : Number(value) !== 0),
};

/** A boolean stored as SMALLINT 0/1: the one boolean representation MySQL, MariaDB and SQLite agree on. */
export function flagColumn(options: ColumnOptions = {}): ColumnOptions {
  return { type: 'smallint', transformer: smallintToBoolean, ...options };
}
