import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { Logger } from 'pino';

const CHANNEL = 'byok:tenant-secrets:invalidate';

/** Published on the same channel as workspace ids (which are UUIDs) when the tier prices change. */
export const TIER_PRICES_CHANGED = 'tier-prices';

export type RedisState = 'disabled' | 'connecting' | 'ready' | 'down';

/**
 * Tells every worker, through Redis pub/sub, that a workspace's secrets changed (or the tier
 * prices: TIER_PRICES_CHANGED), so they drop their cached copy at once instead of at TTL expiry.
 * Without Redis, or while it is down, the TTL alone bounds staleness; ioredis reconnects by itself.
 */
export class SecretsInvalidationBus {
  private readonly origin = randomUUID();
  private publisher?: Redis;
  private subscriber?: Redis;
  private currentState: RedisState = 'disabled';
  private stopping = false;

  constructor(
    private readonly redisUrl: string | undefined,
    private readonly log: Logger,
  ) {}

  get state(): RedisState {
    return this.currentState;
  }

  async start(onInvalidate: (workspaceId: string) => void): Promise<void> {
    if (!this.redisUrl) return;
    this.currentState = 'connecting';
    const options = {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
    };
    this.publisher = new Redis(this.redisUrl, options);
    this.subscriber = new Redis(this.redisUrl, { ...options, enableOfflineQueue: true });
    this.subscriber.on('ready', () => this.setState('ready'));
    this.subscriber.on('end', () => this.setState('down'));
    this.subscriber.on('error', () => this.setState('down'));
    this.publisher.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, message: string) => {
      const [origin, workspaceId] = message.split(' ');
      if (workspaceId && origin !== this.origin) onInvalidate(workspaceId);
    });
    await Promise.allSettled([this.publisher.connect(), this.subscriber.connect()]);
    await this.subscriber.subscribe(CHANNEL).catch(() => undefined);
  }

  /** Best effort: a failed publish is logged and the other workers fall back to the TTL. */
  publish(workspaceId: string): void {
    if (!this.publisher) return;
    this.publisher.publish(CHANNEL, `${this.origin} ${workspaceId}`).catch((error: Error) => {
      this.log.warn({ workspaceId, reason: error.message }, 'secrets invalidation not published; other workers rely on the cache TTL');
    });
  }

  async stop(): Promise<void> {
    this.stopping = true; // closing our own connections is not Redis going down
    const clients = [this.publisher, this.subscriber].filter((client): client is Redis => client !== undefined);
    await Promise.allSettled(clients.map((client) => client.quit()));
    for (const client of clients) client.disconnect();
  }

  private setState(state: RedisState): void {
    if (state === this.currentState || this.stopping) return;
    const previous = this.currentState;
    this.currentState = state;
    if (state === 'down' && previous !== 'disabled') this.log.warn('redis unreachable: secrets cache falls back to its TTL until it is back');
    if (state === 'ready' && previous === 'down') this.log.info('redis reachable again: secrets invalidations propagate at once');
  }
}
