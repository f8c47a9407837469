import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintColumn, timestampColumn } from '../../db/columns';
import { ModelTier } from '../workspace/workspace.enums';

/** Effective-dated: a call is priced with the row of its tier whose effectiveFrom is the latest ≤ its time. */
@Entity('tier_price')
@Index('uq_tier_price_tier_from', ['tier', 'effectiveFrom'], { unique: true })
export class TierPriceEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 16 })
  tier: ModelTier;

  @Column(bigintColumn({ name: 'input_micros_per_million' }))
  inputMicrosPerMillionTokens: number;

  @Column(bigintColumn({ name: 'output_micros_per_million' }))
  outputMicrosPerMillionTokens: number;

  @Column(timestampColumn({ name: 'effective_from' }))
  effectiveFrom: Date;

  @Column(timestampColumn({ name: 'created_at' }))
  createdAt: Date;
}
