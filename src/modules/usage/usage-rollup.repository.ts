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
const SUMMED = COLUMNS.slice(7);

function upsertSql(mysql: boolean, rows: number): string {
  const values = Array.from({ length: rows }, () => `(${COLUMNS.map(() => '?').join(', ')})`).join(', ');
  const insert = `INSERT INTO usage_rollup (${COLUMNS.join(', ')}) VALUES ${values}`;
  if (mysql) return `${insert} ON DUPLICATE KEY UPDATE ${SUMMED.map((c) => `${c} = ${c} + VALUES(${c})`).join(', ')}`;
  return `${insert} ON CONFLICT (${KEY_COLUMNS.join(', ')}) DO UPDATE SET ${SUMMED.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;
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

/** Adds records' amounts (or corrections' differences) to their days' totals, in the caller's transaction. */
export async function addToRollup(manager: EntityManager, ...deltas: RollupDelta[]): Promise<void> {
  const rows = rowParameters(deltas);
  if (rows.length === 0) return;
  await manager.query(upsertSql(supportsRowLocks(manager.connection), rows.length), rows.flat());
}

/** The SQL for "the UTC day of occurred_at" in this database's dialect (stored values are UTC). */
export function occurredDaySql(dataSource: DataSource, column = 'occurred_at'): string {
  return supportsRowLocks(dataSource) ? `DATE_FORMAT(${column}, '%Y-%m-%d')` : `substr(${column}, 1, 10)`;
}
