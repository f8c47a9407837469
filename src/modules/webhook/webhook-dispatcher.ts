import { randomInt, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { In, IsNull, Not } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { TransactionRunner } from '../../db/transaction-runner';
import { SecretsDecryptionError } from '../secrets/cipher';
import { Settled, WriteBatcher } from '../../db/write-batcher';
import { WebhookAddressError, WebhookAddressPolicy } from './webhook-address.policy';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookEndpointEntity } from './webhook-endpoint.entity';
import { WebhookEventEntity } from './webhook-event.entity';
import type { WebhookOutbox } from './webhook-outbox';
import { sendPinned, SendOutcome } from './webhook-sender';
import { signatureHeader } from './webhook-signature';
import { signingSecrets, WebhookSecrets } from './webhook.service';

/** Deliveries are retried for this long after their event. */
export const RETRY_WINDOW_MS = 24 * 60 * 60_000;
/** An endpoint that has failed every attempt for this long is disabled. */
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 60 * 60_000;
const MAX_BACKOFF_MS = 60 * 60_000;
/** A claimed delivery not finished by then (its worker died) is claimed again. */
const LEASE_MS = 60_000;
const POLL_MS = 250;
const COALESCE_MS = 25;
const BATCH = 50;
const MAX_PARALLEL = 64;
const RESULTS_PER_TRANSACTION = 100;

interface AttemptResult {
  delivery: WebhookDeliveryEntity;
  result: Partial<WebhookDeliveryEntity>;
}

/** base × 2^(attempt−1), at most an hour, with ±50 % jitter so failing deliveries do not retry in step. */
export function backoffMs(baseMs: number, attempts: number): number {
  const exponential = Math.min(baseMs * 2 ** Math.min(attempts - 1, 30), MAX_BACKOFF_MS);
  return Math.round(exponential / 2 + randomInt(Math.max(1, Math.round(exponential))));
}

/**
 * Delivers the outbox. Each due delivery is claimed by one worker at a time: on MySQL/MariaDB with
 * `FOR UPDATE SKIP LOCKED` (workers claim different rows without waiting for each other), on SQLite
 * by its single writer; the claim is a lease (next_attempt_at moved forward, a claim id) that
 * another worker takes over only after it expires. Every attempt of a delivery sends the event's
 * id as `webhook-id`, so receivers deduplicate at-least-once delivery.
 */
export class WebhookDispatcher {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  private again = false;
  private wakeScheduled = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly results = new WriteBatcher<AttemptResult, void>((items) => this.writeResults(items), RESULTS_PER_TRANSACTION);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly outbox: WebhookOutbox,
    private readonly secrets: WebhookSecrets,
    private readonly addresses: WebhookAddressPolicy,
    private readonly retryBaseMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.outbox.onEnqueued(() => this.wake());
    this.schedule(0);
  }

  /** Stops claiming; attempts under way finish (their lease would otherwise hold them for a minute). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Claims soon: wakes within a few milliseconds of each other make one claim, not one each. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else if (!this.wakeScheduled) {
      this.wakeScheduled = true;
      this.schedule(COALESCE_MS);
    }
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.wakeScheduled = false;
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        const more = this.again;
        this.again = false;
        this.schedule(more ? COALESCE_MS : POLL_MS);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      for (;;) {
        const room = MAX_PARALLEL - this.inFlight.size;
        if (room <= 0 || this.stopped) return;
        const claimed = await this.claim(Math.min(room, BATCH));
        const [endpoints, events] = await this.load(claimed);
        for (const delivery of claimed) {
          const attempt: Promise<void> = this.attempt(delivery, endpoints.get(delivery.endpointId), events.get(delivery.eventId))
            .catch((error: Error) => this.log.error({ deliveryId: delivery.id, reason: error.message }, 'webhook attempt failed unexpectedly'))
            .finally(() => {
              this.inFlight.delete(attempt);
              this.wake();
            });
          this.inFlight.add(attempt);
        }
        if (claimed.length < Math.min(room, BATCH)) return;
      }
    } catch (error) {
      this.log.warn({ reason: (error as Error).message }, 'webhook deliveries not claimed; retrying at the next poll');
    }
  }

  private claim(limit: number): Promise<WebhookDeliveryEntity[]> {
    return this.transactions.run(async (manager) => {
      const now = new Date();
      const query = manager
        .getRepository(WebhookDeliveryEntity)
        .createQueryBuilder('d')
        .where('d.nextAttemptAt <= :now', { now })
        .orderBy('d.nextAttemptAt', 'ASC')
        .take(limit);
      const due = await this.dialect.lockForUpdate(query, { skipLocked: true }).getMany();
      if (due.length === 0) return [];
      const claim = randomUUID();
      const leaseEnd = new Date(now.getTime() + LEASE_MS);
      await manager.update(WebhookDeliveryEntity, { id: In(due.map((delivery) => delivery.id)) }, { claim, nextAttemptAt: leaseEnd });
      return due.map((delivery) => Object.assign(delivery, { claim, nextAttemptAt: leaseEnd }));
    });
  }

  /** The claimed deliveries' endpoints and events, two queries for the whole batch. */
  private async load(claimed: WebhookDeliveryEntity[]): Promise<[Map<string, WebhookEndpointEntity>, Map<string, WebhookEventEntity>]> {
    if (claimed.length === 0) return [new Map(), new Map()];
    const manager = this.transactions.manager;
    const [endpoints, events] = await Promise.all([
      manager.find(WebhookEndpointEntity, { where: { id: In([...new Set(claimed.map((delivery) => delivery.endpointId))]) } }),
      manager.find(WebhookEventEntity, { where: { id: In([...new Set(claimed.map((delivery) => delivery.eventId))]) } }),
    ]);
    return [new Map(endpoints.map((endpoint) => [endpoint.id, endpoint])), new Map(events.map((event) => [event.id, event]))];
  }

  private async attempt(delivery: WebhookDeliveryEntity, endpoint: WebhookEndpointEntity | undefined, event: WebhookEventEntity | undefined): Promise<void> {
    // Deleted meanwhile: its deliveries went with it.
    if (!endpoint || !event) return;
    if (!endpoint.enabled) return this.finish(delivery, { nextAttemptAt: null, lastError: 'endpoint disabled' });
    const now = new Date();
    let outcome: SendOutcome;
    try {
      const url = this.addresses.parseOrThrow(endpoint.url);
      const pinned = await this.addresses.pinOrThrow(url);
      const body = JSON.stringify({ type: event.type, timestamp: event.createdAt.toISOString(), data: JSON.parse(event.payload) as unknown });
      const timestamp = Math.floor(now.getTime() / 1000);
      outcome = await sendPinned(url, pinned, {
        'webhook-id': `msg_${event.id}`,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(signingSecrets(this.secrets, endpoint, now), `msg_${event.id}`, timestamp, body),
      }, body);
    } catch (error) {
      if (error instanceof WebhookAddressError) outcome = { error: `refused: ${error.message}` };
      // A secret sealed under a phrase this process no longer holds: retrying cannot help until it is rotated.
      else if (error instanceof SecretsDecryptionError) outcome = { error: 'signing secret unreadable: rotate it' };
      else throw error;
    }
    const attempts = delivery.attempts + 1;
    if ('status' in outcome && outcome.status >= 200 && outcome.status < 300) {
      await this.finish(delivery, { attempts, lastStatus: outcome.status, lastError: null, nextAttemptAt: null, deliveredAt: new Date() });
      if (endpoint.failingSince) await this.transactions.run((manager) => manager.update(WebhookEndpointEntity, { id: endpoint.id }, { failingSince: null }));
      return;
    }
    const failedAt = new Date();
    const next = new Date(failedAt.getTime() + backoffMs(this.retryBaseMs, attempts));
    const givingUp = next.getTime() - delivery.createdAt.getTime() > RETRY_WINDOW_MS;
    await this.finish(delivery, {
      attempts,
      lastStatus: 'status' in outcome ? outcome.status : null,
      lastError: 'error' in outcome ? outcome.error.slice(0, 200) : null,
      nextAttemptAt: givingUp ? null : next,
    });
    await this.noteFailure(endpoint, failedAt, 'status' in outcome ? `HTTP ${outcome.status}` : outcome.error);
  }

  /** Writes the attempt's result if this worker still holds the lease. */
  private finish(delivery: WebhookDeliveryEntity, result: Partial<WebhookDeliveryEntity>): Promise<void> {
    return this.results.submit({ delivery, result });
  }

  /**
   * Results that arrive together are written in one transaction: a commit per delivery (an fsync
   * each on InnoDB) held delivery to ~120 events/s on the bench machine.
   */
  private writeResults(items: AttemptResult[]): Promise<Array<Settled<void>>> {
    return this.transactions.run(async (manager) => {
      for (const { delivery, result } of items) {
        await manager.update(WebhookDeliveryEntity, { id: delivery.id, claim: delivery.claim as string }, { ...result, claim: null });
      }
      return items.map(() => ({ ok: true as const, value: undefined }));
    });
  }

  private async noteFailure(endpoint: WebhookEndpointEntity, at: Date, what: string): Promise<void> {
    if (!endpoint.failingSince) {
      await this.transactions.run((manager) => manager.update(WebhookEndpointEntity, { id: endpoint.id, failingSince: IsNull() }, { failingSince: at }));
      return;
    }
    if (at.getTime() - endpoint.failingSince.getTime() < DISABLE_AFTER_FAILING_MS) return;
    const reason = `every delivery failed since ${endpoint.failingSince.toISOString()} (last: ${what}); re-enable it once the receiver works`.slice(0, 300);
    // Together: a disabled endpoint with deliveries still due, or the reverse, would be half a decision.
    await this.transactions.run(async (manager) => {
      await manager.update(WebhookEndpointEntity, { id: endpoint.id, enabled: true }, { enabled: false, disabledReason: reason });
      await manager.update(WebhookDeliveryEntity, { endpointId: endpoint.id, deliveredAt: IsNull(), nextAttemptAt: Not(IsNull()) }, { nextAttemptAt: null, lastError: 'endpoint disabled' });
    });
    this.log.warn({ endpointId: endpoint.id, workspaceId: endpoint.workspaceId }, 'webhook endpoint disabled after failing for 5 days');
  }
}
