import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { CacheStats } from '../cache/loading-cache';
import type { PoolUsage } from '../db/pool-usage';
import { PrometheusGatewayMetrics } from './gateway.metrics';
import { GraphQLMetrics } from './graphql.metrics';
import { HttpMetrics } from './http.metrics';

/** What the metrics read when they are scraped, rather than on every request. */
export interface ScrapedState {
  /** per-worker caches by a fixed name (`secrets`: the decrypted tenant secrets) */
  caches: Readonly<Record<string, CacheStats>>;
  /** configured OpenRouter keys by status: one database query per scrape */
  keyStatusCounts(): Promise<Record<string, number>>;
  /** undefined when the database has no pool (SQLite) */
  poolUsage(): PoolUsage | undefined;
}

/** A scrape does not wait longer than this for the database; the key-status series are left out then. */
const SCRAPE_QUERY_TIMEOUT_MS = 2_000;

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Every Prometheus series of one service instance, in a registry of its own (tests run several
 * instances in one process). Labels only ever take values from fixed sets: routes, root fields of
 * the schema, error codes, enum values; never an id, a name, a token or an operation name.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly http: HttpMetrics;
  readonly graphql: GraphQLMetrics;
  readonly gateway: PrometheusGatewayMetrics;
  private state?: ScrapedState;

  constructor(logger: Logger) {
    const registers = [this.registry];
    const state = () => this.state;
    // Process CPU, memory, GC, handles and the event loop's lag (nodejs_eventloop_lag_*).
    collectDefaultMetrics({ register: this.registry });
    this.http = new HttpMetrics(this.registry);
    this.graphql = new GraphQLMetrics(this.registry);
    this.gateway = new PrometheusGatewayMetrics(this.registry);

    new Counter({
      name: 'cache_lookups_total',
      help: 'Lookups in the per-worker caches by result (secrets: the decrypted tenant secrets).',
      labelNames: ['cache', 'result'],
      registers,
      collect() {
        this.reset();
        for (const [cache, stats] of Object.entries(state()?.caches ?? {})) {
          this.inc({ cache, result: 'hit' }, stats.hits);
          this.inc({ cache, result: 'miss' }, stats.misses);
        }
      },
    });
    new Gauge({
      name: 'inference_keys',
      help: 'Configured workspace OpenRouter keys by status (NONE: no status recorded).',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        const read = state()?.keyStatusCounts;
        if (!read) return;
        try {
          const counts = await within(read(), SCRAPE_QUERY_TIMEOUT_MS);
          for (const [status, keys] of Object.entries(counts)) this.set({ status }, keys);
        } catch (error) {
          logger.warn({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'metrics: key statuses not read');
        }
      },
    });
    new Gauge({
      name: 'db_pool_connections',
      help: 'The database connection pool: connections in_use and idle, queries queued for a connection, and its limit. Absent on SQLite (no pool).',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const usage = state()?.poolUsage();
        if (!usage) return;
        this.set({ state: 'in_use' }, usage.inUse);
        this.set({ state: 'idle' }, usage.idle);
        this.set({ state: 'queued' }, usage.queued);
        this.set({ state: 'limit' }, usage.limit);
      },
    });
  }

  /** What the scrape-time series read; the gateway's and HTTP's series need nothing of the kind. */
  watch(state: ScrapedState): void {
    this.state = state;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The exposition text, less samples that are not a number: the event loop's lag statistics
   * cover the time since the previous scrape, and two scrapes within one sampling interval (10 ms)
   * leave them empty. prom-client writes those as `Nan`, which the format spells `NaN` and which
   * strict parsers refuse; a sample left out says the same, "no value now", to every scraper.
   */
  async render(): Promise<string> {
    return (await this.registry.metrics()).replace(/^[^#\n][^\n]* Nan\n/gm, '');
  }
}
