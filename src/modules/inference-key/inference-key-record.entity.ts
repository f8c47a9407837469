import { Column, Entity, JoinColumn, OneToOne, PrimaryColumn } from 'typeorm';
import { bigintColumn, flagColumn, timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from '../workspace/workspace.entity';

/**
 * What members see of the workspace's OpenRouter key and what is known of its health, beside (never
 * inside) the encrypted blob in `tenant_secret`: a row exists exactly while a key is configured,
 * and reading it never decrypts.
 */
@Entity('inference_key')
export class InferenceKeyRecordEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ name: 'openrouter_masked_hint', type: 'varchar', length: 16 })
  openrouterMaskedHint: string;

  @Column({ name: 'openrouter_status', type: 'varchar', length: 20, nullable: true })
  openrouterStatus: string | null;

  @Column(bigintColumn({ name: 'openrouter_limit_micros', nullable: true }))
  openrouterLimitMicros: number | null;

  @Column(bigintColumn({ name: 'openrouter_limit_remaining_micros', nullable: true }))
  openrouterLimitRemainingMicros: number | null;

  @Column(flagColumn({ name: 'openrouter_is_free_tier', nullable: true }))
  openrouterIsFreeTier: boolean | null;

  @Column(timestampColumn({ name: 'openrouter_last_checked_at', nullable: true }))
  openrouterLastCheckedAt: Date | null;

  /** the model OpenRouter last refused on this key for want of an allowed provider (its restrictions); the status is not changed by it */
  @Column({ name: 'last_refusal_model', type: 'varchar', length: 200, nullable: true })
  lastRefusalModel: string | null;

  @Column({ name: 'last_refusal_reason', type: 'varchar', length: 500, nullable: true })
  lastRefusalReason: string | null;

  @Column(timestampColumn({ name: 'last_refusal_at', nullable: true }))
  lastRefusalAt: Date | null;

  /** when the re-check worker next asks OpenRouter about the key; null: one interval after the last check */
  @Column(timestampColumn({ name: 'openrouter_next_check_at', nullable: true }))
  openrouterNextCheckAt: Date | null;

  /** the worker re-checking the key now, until `recheckLeaseUntil`: one worker per key */
  @Column({ name: 'recheck_lease_owner', type: 'varchar', length: 64, nullable: true })
  recheckLeaseOwner: string | null;

  @Column(timestampColumn({ name: 'recheck_lease_until', nullable: true }))
  recheckLeaseUntil: Date | null;

  /** re-checks that failed in a row (OpenRouter unreachable): each doubles the wait before the next */
  @Column({ name: 'recheck_failures', type: 'integer', default: 0 })
  recheckFailures: number;

  @Column({ name: 'updated_by', type: 'varchar', length: 191, nullable: true })
  updatedBy: string | null;

  /**
   * When the key was saved or replaced, equal to the `updatedAt` of the blob written with it: the
   * key's version. A verdict names the version of the blob it read, so it never lands on a key that
   * replaced it meanwhile.
   */
  @Column(timestampColumn({ name: 'updated_at' }))
  updatedAt: Date;

  @OneToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
