import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { WebhookEndpointEntity } from './webhook-endpoint.entity';
import { WebhookEventEntity } from './webhook-event.entity';
import { timestampColumn } from '../../db/columns';

/** One event for one endpoint: attempted until delivered or 24 h old. */
@Entity('webhook_delivery')
@Index('idx_webhook_delivery_due', ['nextAttemptAt'])
@Index('idx_webhook_delivery_endpoint', ['endpointId', 'createdAt'])
export class WebhookDeliveryEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'event_id', type: 'varchar', length: 36 })
  eventId: string;

  @Column({ name: 'endpoint_id', type: 'varchar', length: 36 })
  endpointId: string;

  @Column({ name: 'workspace_id', type: 'varchar', length: 36 })
  workspaceId: string;

  @Column({ name: 'event_type', type: 'varchar', length: 64 })
  eventType: string;

  @Column({ type: 'integer' })
  attempts: number;

  @Column({ name: 'last_status', type: 'integer', nullable: true })
  lastStatus: number | null;

  /** why the last attempt failed without an HTTP status (refused address, timeout…) */
  @Column({ name: 'last_error', type: 'varchar', length: 200, nullable: true })
  lastError: string | null;

  /** null once delivered or given up; while an attempt runs, the end of its lease */
  @Column(timestampColumn({ name: 'next_attempt_at', nullable: true }))
  nextAttemptAt: Date | null;

  /** the lease of the worker attempting it */
  @Column({ type: 'varchar', length: 36, nullable: true })
  claim: string | null;

  @Column(timestampColumn({ name: 'delivered_at', nullable: true }))
  deliveredAt: Date | null;

  @Column(timestampColumn({ name: 'created_at' }))
  createdAt: Date;

  @ManyToOne(() => WebhookEndpointEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'endpoint_id' })
  endpoint?: WebhookEndpointEntity;

  @ManyToOne(() => WebhookEventEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'event_id' })
  event?: WebhookEventEntity;
}
