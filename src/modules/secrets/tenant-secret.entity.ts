import { Column, Entity, JoinColumn, OneToOne, PrimaryColumn } from 'typeorm';
import { bigintColumn, flagColumn, timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from '../workspace/workspace.entity';
import type { EncryptedBlob } from './cipher';

/**
 * One encrypted blob of secrets per workspace. Display metadata about the OpenRouter key
 * (masked hint, health) sits beside the ciphertext so that reading the status never decrypts.
 */
@Entity('tenant_secret')
export class TenantSecretEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ type: 'blob' })
  ciphertext: EncryptedBlob;

  /** hex fingerprint of the master key that wrote the blob (also inside the blob) */
  @Column({ name: 'key_id', type: 'varchar', length: 8 })
  keyId: string;

  @Column({ name: 'openrouter_masked_hint', type: 'varchar', length: 16, nullable: true })
  openrouterMaskedHint: string | null;

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

  @Column(timestampColumn({ name: 'updated_at' }))
  updatedAt: Date;

  @OneToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
