import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { flagColumn, timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from '../workspace/workspace.entity';

/** Where a workspace's events go. The signing secrets are stored encrypted (the crypto module's cipher). */
@Entity('webhook_endpoint')
@Index('idx_webhook_endpoint_workspace', ['workspaceId'])
export class WebhookEndpointEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  /** JSON array of event types; null: every event */
  @Column({ type: 'varchar', length: 1000, nullable: true })
  events: string | null;

  @Column(flagColumn())
  enabled: boolean;

  @Column({ name: 'disabled_reason', type: 'varchar', length: 300, nullable: true })
  disabledReason: string | null;

  @Column({ type: 'blob' })
  secret: Buffer;

  /** the secret before the last rotation, still signing until previousSecretUntil */
  @Column({ name: 'previous_secret', type: 'blob', nullable: true })
  previousSecret: Buffer | null;

  @Column(timestampColumn({ name: 'previous_secret_until', nullable: true }))
  previousSecretUntil: Date | null;

  /** the first failed attempt since the last success */
  @Column(timestampColumn({ name: 'failing_since', nullable: true }))
  failingSince: Date | null;

  @Column({ name: 'created_by', type: 'varchar', length: 191, nullable: true })
  createdBy: string | null;

  @Column(timestampColumn({ name: 'created_at' }))
  createdAt: Date;

  @ManyToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
