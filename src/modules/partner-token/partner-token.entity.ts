import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from '../workspace/workspace.entity';

/** A read-only credential for a partner integration; only the SHA-256 of the token is stored. */
@Entity('partner_token')
@Index('idx_partner_token_workspace', ['workspaceId'])
export class PartnerTokenEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Index('uq_partner_token_hash', { unique: true })
  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash: string;

  @Column({ name: 'created_by', type: 'varchar', length: 191, nullable: true })
  createdBy: string | null;

  @Column(timestampColumn({ name: 'created_at' }))
  createdAt: Date;

  @Column(timestampColumn({ name: 'revoked_at', nullable: true }))
  revokedAt: Date | null;

  @Column(timestampColumn({ name: 'last_used_at', nullable: true }))
  lastUsedAt: Date | null;

  @ManyToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
