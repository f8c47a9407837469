import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintColumn } from '../../db/columns';
import { ModelTier } from '../workspace/workspace.enums';
import { InferencePath, KeySource } from './usage.enums';

/**
 * Per-day totals, updated in the same transaction as each record, so summaries and analytics cost
 * what the number of days × dimensions costs, not the number of calls. Each total is spread over a
 * few shards so that concurrent recordings for the same dimensions do not queue on one row lock.
 */
@Entity('usage_rollup')
export class UsageRollupEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  /** UTC day, YYYY-MM-DD */
  @PrimaryColumn({ type: 'varchar', length: 10 })
  day: string;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  tier: ModelTier;

  @PrimaryColumn({ name: 'key_source', type: 'varchar', length: 16 })
  keySource: KeySource;

  @PrimaryColumn({ type: 'varchar', length: 40 })
  path: InferencePath;

  @PrimaryColumn({ type: 'varchar', length: 200 })
  model: string;

  @PrimaryColumn({ type: 'smallint' })
  shard: number;

  @Column(bigintColumn())
  calls: number;

  @Column(bigintColumn({ name: 'input_tokens' }))
  inputTokens: number;

  @Column(bigintColumn({ name: 'output_tokens' }))
  outputTokens: number;

  @Column(bigintColumn({ name: 'tier_price_micros' }))
  tierPriceMicros: number;

  /** sum of the raw costs that are known */
  @Column(bigintColumn({ name: 'raw_cost_micros' }))
  rawCostMicros: number;

  @Column(bigintColumn({ name: 'billed_micros' }))
  billedMicros: number;

  /** calls whose raw cost is unknown (flagged and not yet settled) */
  @Column(bigintColumn({ name: 'flagged_calls' }))
  flaggedCalls: number;
}
