const MAX_ENTRIES = 100_000;

/** Lookups since start-up, for the metrics: a hit needed no load of its own, a miss did or joined one. */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
}

/**
 * Per-worker copies of values loaded from the database, each kept for at most `ttlMs`. Concurrent
 * misses for one key share one load; a failed load and a missing value (null) are never kept; a
 * load that started before an invalidation of its key does not keep its (possibly stale) result.
 */
export class LoadingCache<V> implements CacheStats {
  hits = 0;
  misses = 0;
  private readonly entries = new Map<string, { value: V; expiresAt: number; loadedAt: number }>();
  private readonly inFlight = new Map<string, Promise<V>>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string, load: () => Promise<V>): Promise<V> {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.now()) {
      this.hits += 1;
      return entry.value;
    }
    this.misses += 1;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const generation = this.generations.get(key) ?? 0;
    const loading = load()
      .then((value) => {
        if (value !== null && this.ttlMs > 0 && (this.generations.get(key) ?? 0) === generation) {
          if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
          this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs, loadedAt: this.now() });
        }
        return value;
      })
      .finally(() => {
        if (this.inFlight.get(key) === loading) this.inFlight.delete(key);
      });
    this.inFlight.set(key, loading);
    return loading;
  }

  /**
   * The value kept for `key`, even past its TTL, while it was loaded at most `maxAgeMs` ago: for when
   * its source cannot be asked. Never one an invalidation dropped.
   */
  stale(key: string, maxAgeMs: number): V | undefined {
    const entry = this.entries.get(key);
    return entry && this.now() - entry.loadedAt <= maxAgeMs ? entry.value : undefined;
  }

  invalidate(key: string): void {
    this.entries.delete(key);
    this.inFlight.delete(key);
    this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
  }

  get size(): number {
    return this.entries.size;
  }
}
