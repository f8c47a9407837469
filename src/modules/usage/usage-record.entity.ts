import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintColumn, flagColumn, timestampColumn } from '../../db/columns';
import { ModelTier } from '../workspace/workspace.enums';
import { InferencePath, KeySource, UsageOutcome } from './usage.enums';

/**
 * One AI call, billed once: key source, tier price and billed amount are fixed when it is recorded
 * and never recomputed from later prices.
 */
@Entity('usage_record')
@Index('uq_usage_record_request', ['workspaceId', 'requestId'], { unique: true })
@Index('idx_usage_record_time', ['workspaceId', 'occurredAt', 'id'])
export class UsageRecordEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ name: 'request_id', type: 'varchar', length: 128 })
  requestId: string;

  @Column({ type: 'varchar', length: 40 })
  path: InferencePath;

  @Column({ type: 'varchar', length: 200 })
  model: string;

  @Column({ type: 'varchar', length: 16 })
  tier: ModelTier;

  @Column({ name: 'key_source', type: 'varchar', length: 16 })
  keySource: KeySource;

  @Column(bigintColumn({ name: 'input_tokens' }))
  inputTokens: number;

  @Column(bigintColumn({ name: 'output_tokens' }))
  outputTokens: number;

  /** null when the upstream cost was missing or implausible (then `flagged`) */
  @Column(bigintColumn({ name: 'raw_cost_micros', nullable: true }))
  rawCostMicros: number | null;

  @Column(bigintColumn({ name: 'tier_price_micros' }))
  tierPriceMicros: number;

  @Column(bigintColumn({ name: 'billed_micros' }))
  billedMicros: number;

  @Column(timestampColumn({ name: 'occurred_at' }))
  occurredAt: Date;

  @Column(timestampColumn({ name: 'recorded_at' }))
  recordedAt: Date;

  @Column({ name: 'actor_user_id', type: 'varchar', length: 191, nullable: true })
  actorUserId: string | null;

  @Column(flagColumn())
  flagged: boolean;

  @Column(timestampColumn({ name: 'settled_at', nullable: true }))
  settledAt: Date | null;

  /** OpenRouter's generation id (the answer's `id`), to reconcile with its activity export */
  @Column({ name: 'generation_id', type: 'varchar', length: 128, nullable: true })
  generationId: string | null;

  /** OpenRouter's `usage.is_byok`; null when it did not say */
  @Column(flagColumn({ name: 'is_byok', nullable: true }))
  isByok: boolean | null;

  /** `cost_details.upstream_inference_cost` as reported; already inside rawCostMicros when isByok */
  @Column(bigintColumn({ name: 'upstream_inference_cost_micros', nullable: true }))
  upstreamInferenceCostMicros: number | null;

  @Column({ type: 'varchar', length: 16, default: UsageOutcome.COMPLETED })
  outcome: UsageOutcome;

  /** SHA-256 of the call as submitted: a retry must match it, or it is a CONFLICT */
  @Column({ name: 'payload_hash', type: 'varchar', length: 64 })
  payloadHash: string;
}
