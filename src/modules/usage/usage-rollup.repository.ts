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

function upsertSql(mysql: boolean): string {
  const insert = `INSERT INTO usage_rollup (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;
  if (mysql) return `${insert} ON DUPLICATE KEY UPDATE ${SUMMED.map((c) => `${c} = ${c} + VALUES(${c})`).join(', ')}`;
  return `${insert} ON CONFLICT (${KEY_COLUMNS.join(', ')}) DO UPDATE SET ${SUMMED.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;
}

/** Adds a record's amounts (or a correction's difference) to its day's totals, in the caller's transaction. */
export async function addToRollup(manager: EntityManager, delta: RollupDelta): Promise<void> {
  await manager.query(upsertSql(supportsRowLocks(manager.connection)), [
    delta.workspaceId,
    utcDay(delta.occurredAt),
    delta.tier,
    delta.keySource,
    delta.path,
    delta.model,
    randomInt(ROLLUP_SHARDS),
    delta.calls,
    delta.inputTokens,
    delta.outputTokens,
    delta.tierPriceMicros,
    delta.rawCostMicros,
    delta.billedMicros,
    delta.flaggedCalls,
  ]);
}

/** The SQL for "the UTC day of occurred_at" in this database's dialect (stored values are UTC). */
export function occurredDaySql(dataSource: DataSource, column = 'occurred_at'): string {
  return supportsRowLocks(dataSource) ? `DATE_FORMAT(${column}, '%Y-%m-%d')` : `substr(${column}, 1, 10)`;
}
