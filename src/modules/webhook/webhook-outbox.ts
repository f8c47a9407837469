import type { EntityManager } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { timeOrderedId } from '../../db/ids';
import { insertNewRows } from '../../db/insert-new-rows';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookEndpointEntity } from './webhook-endpoint.entity';
import { WebhookEventEntity } from './webhook-event.entity';
import type { WebhookEventType } from './webhook-event-types';

/** Long enough for the enqueuing transaction to have committed, usually; the poll covers the rest. */
const WAKE_AFTER_MS = 20;

export function subscribes(endpoint: Pick<WebhookEndpointEntity, 'events'>, type: string): boolean {
  if (endpoint.events === null) return type !== 'webhook.test';
  return (JSON.parse(endpoint.events) as string[]).includes(type);
}

/**
 * The durable outbox. `enqueue` runs in the transaction of the change that causes the event, so the
 * event exists exactly when the change committed: a rollback leaves nothing to deliver, a crash
 * after commit leaves a row the dispatcher delivers. One event row per cause (its id is the
 * `webhook-id` every attempt carries), one delivery row per subscribed, enabled endpoint.
 */
export class WebhookOutbox {
  private readonly wakeListeners: Array<() => void> = [];

  constructor(private readonly dialect: SqlDialect) {}

  /** The dispatcher on this worker, told when an event may be waiting (it polls anyway). */
  onEnqueued(listener: () => void): void {
    this.wakeListeners.push(listener);
  }

  async enqueue(manager: EntityManager, workspaceId: string, type: WebhookEventType, payload: Record<string, unknown>, onlyEndpointId?: string): Promise<string | undefined> {
    const endpoints = await manager.find(WebhookEndpointEntity, {
      select: ['id', 'events', 'enabled'],
      where: onlyEndpointId === undefined ? { workspaceId, enabled: true } : { workspaceId, id: onlyEndpointId },
    });
    const targets = onlyEndpointId === undefined ? endpoints.filter((endpoint) => subscribes(endpoint, type)) : endpoints;
    if (targets.length === 0) return undefined;
    const now = new Date();
    const event = Object.assign(new WebhookEventEntity(), { id: timeOrderedId(now.getTime()), workspaceId, type, payload: JSON.stringify(payload), createdAt: now });
    // insertNewRows: one plain statement each, a fraction of manager.insert's CPU on this hot path.
    await insertNewRows(manager, this.dialect, WebhookEventEntity, [event]);
    await insertNewRows(
      manager,
      this.dialect,
      WebhookDeliveryEntity,
      targets.map((endpoint) =>
        Object.assign(new WebhookDeliveryEntity(), {
          id: timeOrderedId(now.getTime()),
          eventId: event.id,
          endpointId: endpoint.id,
          workspaceId,
          eventType: type,
          attempts: 0,
          lastStatus: null,
          lastError: null,
          nextAttemptAt: now,
          claim: null,
          deliveredAt: null,
          createdAt: now,
        }),
      ),
    );
    // Before commit, the dispatcher finds nothing and sleeps until its next poll; the cost of waking early is one query.
    setTimeout(() => this.wakeListeners.forEach((listener) => listener()), WAKE_AFTER_MS).unref();
    return event.id;
  }
}
