import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { timestampColumn } from '../../db/columns';
import { WorkspaceEntity } from '../workspace/workspace.entity';

/** The outbox: one row per cause, written in the cause's transaction. Its id is the `webhook-id`. */
@Entity('webhook_event')
export class WebhookEventEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ type: 'varchar', length: 64 })
  type: string;

  /** JSON: ids and masked hints only */
  @Column({ type: 'text' })
  payload: string;

  @Column(timestampColumn({ name: 'created_at' }))
  createdAt: Date;

  @ManyToOne(() => WorkspaceEntity, { onDelete: 'CASCADE', onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'workspace_id' })
  workspace?: WorkspaceEntity;
}
