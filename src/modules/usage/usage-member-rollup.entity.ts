import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintColumn } from '../../db/columns';

/**
 * Per-day totals by member (the call's actor; '' for calls made on nobody's behalf), written with
 * usage_rollup in the same statement batch, so grouping analytics by member costs days, not calls.
 */
@Entity('usage_member_rollup')
export class UsageMemberRollupEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  /** UTC day, YYYY-MM-DD */
  @PrimaryColumn({ type: 'varchar', length: 10 })
  day: string;

  @PrimaryColumn({ name: 'actor_key', type: 'varchar', length: 191 })
  actorKey: string;

  @PrimaryColumn({ type: 'smallint' })
  shard: number;

  @Column(bigintColumn())
  calls: number;

  @Column(bigintColumn({ name: 'input_tokens' }))
  inputTokens: number;

  @Column(bigintColumn({ name: 'output_tokens' }))
  outputTokens: number;

  @Column(bigintColumn({ name: 'billed_micros' }))
  billedMicros: number;
}
