import { randomInt } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { supportsRowLocks } from '../../db/data-source';
import { ModelTier } from '../workspace/workspace.enums';
import { InferencePath, KeySource } from './usage.enums';
import { utcDay } from './utc-day';

export const ROLLUP_SHARDS = 8;

export interface RollupDelta {
  workspaceId: string;
  occurredAt: Date;
  tier: ModelTier;
  keySource: KeySource;
  path: InferencePath;
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  tierPriceMicros: number;
  rawCostMicros: number;
  billedMicros: number;
  flaggedCalls: number;
  /** the member on whose behalf the call ran, for the per-member totals */
  actorUserId?: string | null;
}

const COLUMNS = [
  'workspace_id',
  'day',
  'tier',
  'key_source',
  'path',
  'model',
  'shard',
  'calls',
  'input_tokens',
  'output_tokens',
  'tier_price_micros',
  'raw_cost_micros',
  'billed_micros',
  'flagged_calls',
];
const KEY_COLUMNS = COLUMNS.slice(0, 7);

const MEMBER_COLUMNS = ['workspace_id', 'day', 'actor_key', 'shard', 'calls', 'input_tokens', 'output_tokens', 'billed_micros'];
const MEMBER_KEY_COLUMNS = MEMBER_COLUMNS.slice(0, 4);
const MEMBER_SUMMED_FIELDS = ['calls', 'inputTokens', 'outputTokens', 'billedMicros'] as const;

/** An upsert that adds each summed column to the row with the same key. */
export function addingUpsertSql(mysql: boolean, table: string, columns: readonly string[], keyColumns: readonly string[], rows: number): string {
  const summed = columns.filter((column) => !keyColumns.includes(column));
  const values = Array.from({ length: rows }, () => `(${columns.map(() => '?').join(', ')})`).join(', ');
  const insert = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`;
  if (mysql) return `${insert} ON DUPLICATE KEY UPDATE ${summed.map((c) => `${c} = ${c} + VALUES(${c})`).join(', ')}`;
  return `${insert} ON CONFLICT (${keyColumns.join(', ')}) DO UPDATE SET ${summed.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;
}

function upsertSql(mysql: boolean, rows: number): string {
  return addingUpsertSql(mysql, 'usage_rollup', COLUMNS, KEY_COLUMNS, rows);
}

const SUMMED_FIELDS = ['calls', 'inputTokens', 'outputTokens', 'tierPriceMicros', 'rawCostMicros', 'billedMicros', 'flaggedCalls'] as const;

/**
 * Sums deltas that land on the same day's row, so each row is written once per statement, and
 * returns the rows in one order for every writer: concurrent upserts then lock rows in the same
 * sequence.
 */
function rowParameters(deltas: readonly RollupDelta[]): unknown[][] {
  const rows = new Map<string, { day: string; delta: RollupDelta }>();
  for (const delta of deltas) {
    const day = utcDay(delta.occurredAt);
    const key = JSON.stringify([delta.workspaceId, day, delta.tier, delta.keySource, delta.path, delta.model]);
    const row = rows.get(key);
    if (!row) rows.set(key, { day, delta: { ...delta } });
    else for (const field of SUMMED_FIELDS) row.delta[field] += delta[field];
  }
  return [...rows.keys()]
    .sort()
    .map((key) => {
      const { day, delta } = rows.get(key)!;
      return [delta.workspaceId, day, delta.tier, delta.keySource, delta.path, delta.model, randomInt(ROLLUP_SHARDS), ...SUMMED_FIELDS.map((field) => delta[field])];
    });
}

/** The per-member rows, summed and ordered like rowParameters'. */
function memberRowParameters(deltas: readonly RollupDelta[]): unknown[][] {
  const rows = new Map<string, number[]>();
  for (const delta of deltas) {
    const key = JSON.stringify([delta.workspaceId, utcDay(delta.occurredAt), delta.actorUserId ?? '']);
    const sums = rows.get(key);
    if (!sums) rows.set(key, MEMBER_SUMMED_FIELDS.map((field) => delta[field]));
    else MEMBER_SUMMED_FIELDS.forEach((field, i) => (sums[i] += delta[field]));
  }
  return [...rows.keys()].sort().map((key) => {
    const [workspaceId, day, actorKey] = JSON.parse(key) as [string, string, string];
    return [workspaceId, day, actorKey, randomInt(ROLLUP_SHARDS), ...rows.get(key)!];
  });
}

/**
 * Adds records' amounts (or corrections' differences) to their days' totals, overall and per
 * member, in the caller's transaction.
 */
export async function addToRollup(manager: EntityManager, ...deltas: RollupDelta[]): Promise<void> {
  const rows = rowParameters(deltas);
  if (rows.length === 0) return;
  const mysql = supportsRowLocks(manager.connection);
  await manager.query(upsertSql(mysql, rows.length), rows.flat());
  const memberRows = memberRowParameters(deltas).filter((row) => row.slice(4).some((value) => value !== 0));
  if (memberRows.length > 0) await manager.query(addingUpsertSql(mysql, 'usage_member_rollup', MEMBER_COLUMNS, MEMBER_KEY_COLUMNS, memberRows.length), memberRows.flat());
}

/** The SQL for "the UTC day of occurred_at" in this database's dialect (stored values are UTC). */
export function occurredDaySql(dataSource: DataSource, column = 'occurred_at'): string {
  return supportsRowLocks(dataSource) ? `DATE_FORMAT(${column}, '%Y-%m-%d')` : `substr(${column}, 1, 10)`;
}
