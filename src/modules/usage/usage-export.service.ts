import type { DataSource } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { monthDaysOrThrow } from '../billing/billing-summary.service';
import type { UnsettledRecordings } from './usage-recorder.service';
import { KeySource } from './usage.enums';

/** The export's columns, in order (SPEC.md, "Budgets, webhooks, exports, key health"). */
export const USAGE_EXPORT_COLUMNS = [
  'occurred_at',
  'request_id',
  'generation_id',
  'path',
  'model',
  'tier',
  'key_source',
  'actor_user_id',
  'input_tokens',
  'output_tokens',
  'raw_cost_micros',
  'tier_price_micros',
  'billed_micros',
  'flagged',
  'outcome',
] as const;

export type UsageExportFormat = 'csv' | 'jsonl';

/** A stored call as the export reads it, before it is shown to a viewer. */
export interface UsageExportRow {
  id: string;
  occurred_at: Date | string;
  request_id: string;
  generation_id: string | null;
  path: string;
  model: string;
  tier: string;
  key_source: string;
  actor_user_id: string | null;
  input_tokens: number | string;
  output_tokens: number | string;
  raw_cost_micros: number | string | null;
  tier_price_micros: number | string;
  billed_micros: number | string;
  flagged: number | string;
  outcome: string;
}

/** Rows read per query: large enough that round trips do not dominate, small enough to stay a few MB. */
export const EXPORT_PAGE_SIZE = 5_000;

/**
 * SQLite hands datetimes back as `YYYY-MM-DD HH:MM:SS.SSS` text (UTC, as written); MySQL drivers,
 * with the data source's `timezone: 'Z'`, as Dates.
 */
function isoUtc(value: Date | string): string {
  if (value instanceof Date) return value.toISOString();
  return new Date(`${value.replace(' ', 'T')}Z`).toISOString();
}

/** A spreadsheet reads a cell that starts with one of these as a formula (CSV injection). */
const FORMULA_START = /^[=+\-@]/;

const NEEDS_QUOTES = /[",\r\n]/;

function csvCell(value: string | null): string {
  if (value === null) return '';
  const guarded = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
}

/** One call as the export shows it to this viewer: the platform's raw cost of a platform-key call only to platform admins. */
function fieldsOf(row: UsageExportRow, viewerIsPlatformAdmin: boolean) {
  const showRawCost = viewerIsPlatformAdmin || row.key_source === KeySource.BYOK;
  return {
    occurred_at: isoUtc(row.occurred_at),
    request_id: row.request_id,
    generation_id: row.generation_id,
    path: row.path,
    model: row.model,
    tier: row.tier,
    key_source: row.key_source,
    actor_user_id: row.actor_user_id,
    input_tokens: Number(row.input_tokens),
    output_tokens: Number(row.output_tokens),
    raw_cost_micros: showRawCost && row.raw_cost_micros !== null ? Number(row.raw_cost_micros) : null,
    tier_price_micros: Number(row.tier_price_micros),
    billed_micros: Number(row.billed_micros),
    flagged: Number(row.flagged) !== 0,
    outcome: row.outcome,
  };
}

export function csvHeader(): string {
  return `${USAGE_EXPORT_COLUMNS.join(',')}\r\n`;
}

/**
 * One call as a CSV line, in USAGE_EXPORT_COLUMNS' order. Written out rather than mapped over the
 * columns: it is the export's inner loop, a million times for a busy month. Every text cell goes
 * through the formula guard, enum values included.
 */
export function csvLine(row: UsageExportRow, viewerIsPlatformAdmin: boolean): string {
  const showRawCost = viewerIsPlatformAdmin || row.key_source === KeySource.BYOK;
  const rawCost = showRawCost && row.raw_cost_micros !== null ? Number(row.raw_cost_micros) : '';
  return `${isoUtc(row.occurred_at)},${csvCell(row.request_id)},${csvCell(row.generation_id)},${csvCell(row.path)},${csvCell(row.model)},${csvCell(row.tier)},${csvCell(row.key_source)},${csvCell(row.actor_user_id)},${Number(row.input_tokens)},${Number(row.output_tokens)},${rawCost},${Number(row.tier_price_micros)},${Number(row.billed_micros)},${Number(row.flagged) !== 0},${csvCell(row.outcome)}\r\n`;
}

export function jsonLine(row: UsageExportRow, viewerIsPlatformAdmin: boolean): string {
  return `${JSON.stringify(fieldsOf(row, viewerIsPlatformAdmin))}\n`;
}

/** [first instant of the month, first instant of the next), UTC; BAD_USER_INPUT for anything but YYYY-MM. */
export function monthRangeOrThrow(month: string): { from: Date; to: Date } {
  const { fromDay, toDay } = monthDaysOrThrow(month);
  return { from: new Date(`${fromDay}T00:00:00.000Z`), to: new Date(`${toDay}T00:00:00.000Z`) };
}

/**
 * A month of a workspace's calls, one row per call, oldest first. Read in keyset pages on
 * (occurred_at, id) through `idx_usage_record_time`: each page is one short query that starts
 * strictly after the last row sent, so memory holds two pages (one sent, one read ahead) whatever
 * the month's size, and no transaction or cursor stays open while a slow client downloads.
 */
export class UsageExportService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly dialect: SqlDialect,
    private readonly recordings: UnsettledRecordings,
  ) {}

  async *pages(workspaceId: string, month: string, pageSize = EXPORT_PAGE_SIZE): AsyncGenerator<UsageExportRow[]> {
    const { from, to } = monthRangeOrThrow(month);
    await this.recordings.settled(workspaceId);
    // See usage-query.service.ts: without FORCE INDEX MariaDB may walk the workspace's newer calls first.
    const select = `SELECT r.id, r.occurred_at, r.request_id, r.generation_id, r.path, r.model, r.tier, r.key_source, r.actor_user_id,
                           r.input_tokens, r.output_tokens, r.raw_cost_micros, r.tier_price_micros, r.billed_micros, r.flagged, r.outcome
                      FROM usage_record r${this.dialect.forceIndex('idx_usage_record_time')}
                     WHERE r.workspace_id = :workspaceId AND r.occurred_at < :to`;
    const read = (cursor?: { at: Date | string; id: string }): Promise<UsageExportRow[]> => {
      const [sql, parameters] = this.dataSource.driver.escapeQueryWithParameters(
        cursor
          ? `${select} AND r.occurred_at >= :at AND (r.occurred_at > :at OR r.id > :id) ORDER BY r.occurred_at, r.id LIMIT ${pageSize}`
          : `${select} AND r.occurred_at >= :from ORDER BY r.occurred_at, r.id LIMIT ${pageSize}`,
        { workspaceId, from, to, ...(cursor ?? {}) },
        {},
      );
      const reading = this.dataSource.query(sql, parameters) as Promise<UsageExportRow[]>;
      // Awaited below unless the client goes first: then its failure must not be an unhandled rejection.
      reading.catch(() => undefined);
      return reading;
    };
    // One page ahead: the database reads the next page while this one is formatted and sent, which
    // on a month larger than the buffer pool (disk reads) is most of the time. Two pages in memory at most.
    let next = read();
    for (;;) {
      const rows = await next;
      const full = rows.length === pageSize;
      if (full) next = read({ at: rows[rows.length - 1].occurred_at, id: rows[rows.length - 1].id });
      if (rows.length > 0) yield rows;
      if (!full) return;
    }
  }
}
