import { randomInt } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
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
export async function addToRollup(manager: EntityManager, dialect: SqlDialect, ...deltas: RollupDelta[]): Promise<void> {
  const rows = rowParameters(deltas);
  if (rows.length === 0) return;
  await manager.query(dialect.addingUpsertSql('usage_rollup', COLUMNS, KEY_COLUMNS, rows.length), rows.flat());
  const memberRows = memberRowParameters(deltas).filter((row) => row.slice(4).some((value) => value !== 0));
  if (memberRows.length > 0) await manager.query(dialect.addingUpsertSql('usage_member_rollup', MEMBER_COLUMNS, MEMBER_KEY_COLUMNS, memberRows.length), memberRows.flat());
}
