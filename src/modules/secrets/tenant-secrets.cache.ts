import type { TenantSecrets } from './tenant-secret.store';

interface Entry {
  value: CachedSecrets;
  expiresAt: number;
}

/** What the gateway needs per workspace: the decrypted secrets and the key's last known status. */
export interface CachedSecrets {
  secrets: TenantSecrets;
  keyStatus: string | null;
  /** the row version the secrets were read from */
  rowUpdatedAt: Date | null;
}

/**
 * Decrypted tenant secrets, per worker, for at most `ttlMs`. Concurrent misses for one workspace
 * share one load; a failed load is never cached; a load that started before an invalidation does
 * not put its (possibly stale) result in the cache.
 */
export class TenantSecretsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<CachedSecrets>>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(workspaceId: string, load: () => Promise<CachedSecrets>): Promise<CachedSecrets> {
    const entry = this.entries.get(workspaceId);
    if (entry && entry.expiresAt > this.now()) return entry.value;
    const pending = this.inFlight.get(workspaceId);
    if (pending) return pending;
    const generation = this.generations.get(workspaceId) ?? 0;
    const loading = load()
      .then((value) => {
        if ((this.generations.get(workspaceId) ?? 0) === generation && this.ttlMs > 0) {
          this.entries.set(workspaceId, { value, expiresAt: this.now() + this.ttlMs });
        }
        return value;
      })
      .finally(() => {
        if (this.inFlight.get(workspaceId) === loading) this.inFlight.delete(workspaceId);
      });
    this.inFlight.set(workspaceId, loading);
    return loading;
  }

  invalidate(workspaceId: string): void {
    this.entries.delete(workspaceId);
    this.inFlight.delete(workspaceId);
    this.generations.set(workspaceId, (this.generations.get(workspaceId) ?? 0) + 1);
  }

  get size(): number {
    return this.entries.size;
  }
}
