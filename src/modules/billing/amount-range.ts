import { amountOutOfRange } from '../../errors/app-error';

/**
 * Sums of micro-USD and tokens, kept to what SafeInt carries exactly (integers up to 2^53 − 1).
 * Each call is bounded, but its sums are not: a month of a busy workspace, or rows damaged by
 * hand, may pass 2^53 − 1. Such a read answers AMOUNT_OUT_OF_RANGE rather than a rounded figure
 * or an internal error.
 */

/**
 * A summed value as the database returns it, as an exact integer: MySQL's SUM is a DECIMAL string,
 * and SQLite answers a REAL once an integer overflowed into one. NULL (nothing summed) is 0.
 */
export function safeAmountOrThrow(value: unknown): number {
  if (value === null || value === undefined) return 0;
  const amount = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
  // A decimal string beyond 2^53 − 1 converts to a number of at least 2^53, which fails here too.
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) throw amountOutOfRange();
  return amount;
}

/** a + b for safe integers, exactly, or AMOUNT_OUT_OF_RANGE: a float sum past 2^53 − 1 is never safe. */
export function addAmounts(a: number, b: number): number {
  return safeAmountOrThrow(a + b);
}

/** SQLite's SUM over integers fails with "integer overflow" past 2^63 − 1 (MySQL's is a DECIMAL, and cannot). */
function isIntegerOverflow(error: unknown): boolean {
  const driverError = (error as { driverError?: { code?: unknown; message?: unknown } })?.driverError;
  return driverError?.code === 'SQLITE_ERROR' && driverError.message === 'integer overflow';
}

/** Runs a query that sums amounts; an overflow inside the database is AMOUNT_OUT_OF_RANGE. */
export async function sumOrThrow<T>(query: Promise<T>): Promise<T> {
  try {
    return await query;
  } catch (error) {
    if (isIntegerOverflow(error)) throw amountOutOfRange();
    throw error;
  }
}
