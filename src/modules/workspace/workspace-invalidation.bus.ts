import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { Logger } from 'pino';

const CHANNEL = 'byok:tenant-secrets:invalidate';

export type RedisState = 'disabled' | 'connecting' | 'ready' | 'down';

/**
 * Tells every worker, through Redis pub/sub, that a workspace's row, members or key changed, so
 * they drop their cached copies (the directory's rows and memberships, the decrypted secrets) at
 * once instead of at TTL expiry. The channel keeps its old name so that workers of the previous
 * release, running beside these during a deploy, still hear each other.
 * Without Redis, or while it is down, the TTL alone bounds staleness; ioredis reconnects by itself.
 *
 * `ready` means both halves work: the subscriber's SUBSCRIBE was acknowledged on its current
 * connection, and the publisher is connected. The channel is subscribed on every connection
 * ourselves (not by ioredis's auto-resubscribe, which only repeats a SUBSCRIBE that once
 * succeeded: a worker started while Redis was unreachable would otherwise never subscribe, yet
 * report ready). Either connection failing or closing is `down`.
 */
export class WorkspaceInvalidationBus {
  private readonly origin = randomUUID();
  private publisher?: Redis;
  private subscriber?: Redis;
  private currentState: RedisState = 'disabled';
  private stopping = false;
  /** true once SUBSCRIBE was acknowledged on the subscriber's current connection */
  private subscribed = false;
  private subscription?: Promise<void>;

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
    const publisher = new Redis(this.redisUrl, options);
    const subscriber = new Redis(this.redisUrl, { ...options, autoResubscribe: false });
    this.publisher = publisher;
    this.subscriber = subscriber;
    subscriber.on('ready', () => void this.subscribe(subscriber));
    publisher.on('ready', () => this.refresh());
    for (const client of [publisher, subscriber]) {
      for (const event of ['error', 'close', 'end']) {
        client.on(event, () => {
          if (client === subscriber) this.subscribed = false;
          this.setState('down');
        });
      }
    }
    subscriber.on('message', (_channel: string, message: string) => {
      const [origin, workspaceId] = message.split(' ');
      if (workspaceId && origin !== this.origin) onInvalidate(workspaceId);
    });
    await Promise.allSettled([publisher.connect(), subscriber.connect()]);
    // Reachable: ready once subscribed. Unreachable: down now, subscribed once it is reachable.
    await this.subscription;
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

  /** On every (re)connection of the subscriber; if it fails, the connection went away and the next one subscribes. */
  private subscribe(subscriber: Redis): Promise<void> {
    this.subscription = subscriber.subscribe(CHANNEL).then(
      () => {
        if (subscriber.status !== 'ready') return;
        this.subscribed = true;
        this.refresh();
      },
      () => undefined,
    );
    return this.subscription;
  }

  private refresh(): void {
    if (this.subscribed && this.publisher?.status === 'ready') this.setState('ready');
  }

  private setState(state: RedisState): void {
    if (state === this.currentState || this.stopping) return;
    const previous = this.currentState;
    this.currentState = state;
    if (state === 'down' && previous !== 'disabled') this.log.warn('redis unreachable: secrets cache falls back to its TTL until it is back');
    if (state === 'ready' && previous === 'down') this.log.info('redis reachable again: secrets invalidations propagate at once');
  }
}
