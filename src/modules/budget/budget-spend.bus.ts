import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { Logger } from 'pino';

const CHANNEL = 'byok:budget:spend';

/** What workers tell each other: spend one of them recorded, or a budget that changed. */
export type BudgetMessage = { kind: 'spend'; workspaceId: string; month: string; micros: number } | { kind: 'changed'; workspaceId: string };

/**
 * Spreads each worker's recorded spend and budget changes to the others through Redis pub/sub, so
 * every worker's counter follows within the publish latency. Best effort: a lost message is
 * corrected by the counters' periodic reload from the database.
 */
export class BudgetSpendBus {
  private readonly origin = randomUUID();
  private publisher?: Redis;
  private subscriber?: Redis;
  private subscribed = false;

  constructor(
    private readonly redisUrl: string | undefined,
    private readonly log: Logger,
  ) {}

  /** True while messages flow both ways: counters may then reload less often. */
  get live(): boolean {
    return this.subscribed && this.publisher?.status === 'ready';
  }

  async start(onMessage: (message: BudgetMessage) => void): Promise<void> {
    if (!this.redisUrl) return;
    const options = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000) };
    const publisher = new Redis(this.redisUrl, options);
    const subscriber = new Redis(this.redisUrl, { ...options, autoResubscribe: false });
    this.publisher = publisher;
    this.subscriber = subscriber;
    let subscription: Promise<unknown> | undefined;
    subscriber.on('ready', () => {
      subscription = subscriber.subscribe(CHANNEL).then(
        () => (this.subscribed = subscriber.status === 'ready'),
        () => undefined,
      );
    });
    for (const client of [publisher, subscriber]) {
      client.on('error', () => undefined);
      client.on('close', () => {
        if (client === subscriber) this.subscribed = false;
      });
    }
    subscriber.on('message', (_channel: string, text: string) => {
      const parsed = parse(text);
      if (parsed && parsed.origin !== this.origin) onMessage(parsed.message);
    });
    await Promise.allSettled([publisher.connect(), subscriber.connect()]);
    await subscription;
  }

  publish(message: BudgetMessage): void {
    if (!this.publisher || this.publisher.status !== 'ready') return;
    this.publisher.publish(CHANNEL, JSON.stringify({ origin: this.origin, ...message })).catch((error: Error) => {
      this.log.warn({ reason: error.message }, 'budget spend not published; other workers catch up at their next reload');
    });
  }

  async stop(): Promise<void> {
    const clients = [this.publisher, this.subscriber].filter((client): client is Redis => client !== undefined);
    await Promise.allSettled(clients.map((client) => client.quit()));
    for (const client of clients) client.disconnect();
  }
}

function parse(text: string): { origin: string; message: BudgetMessage } | undefined {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    if (typeof value.origin !== 'string' || typeof value.workspaceId !== 'string') return undefined;
    if (value.kind === 'changed') return { origin: value.origin, message: { kind: 'changed', workspaceId: value.workspaceId } };
    if (value.kind === 'spend' && typeof value.month === 'string' && Number.isSafeInteger(value.micros)) {
      return { origin: value.origin, message: { kind: 'spend', workspaceId: value.workspaceId, month: value.month, micros: value.micros as number } };
    }
  } catch {
    // not one of ours
  }
  return undefined;
}
