import { Column, Entity, JoinColumn, OneToOne, PrimaryColumn } from 'typeorm';
import { timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from '../workspace/workspace.entity';
import type { EncryptedBlob } from './cipher';

/**
 * One encrypted blob of secrets per workspace, and nothing readable about them: what members see
 * of the OpenRouter key lives in `inference_key` (InferenceKeyRecordEntity).
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

  /** when the blob was last written with other contents: the version of the key it holds (InferenceKeyRecordEntity.updatedAt) */
  @Column(timestampColumn({ name: 'updated_at' }))
  updatedAt: Date;

  @OneToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
