import { LoadingCache } from '../src/cache/loading-cache';
import { CachedSecrets } from '../src/modules/secrets/tenant-secrets.cache';

/** Unit tests of the per-worker cache of decrypted tenant secrets, with an injected clock. */

function secretsWith(key: string): CachedSecrets {
  return { secrets: { openrouterKey: key }, keyStatus: 'ACTIVE', rowUpdatedAt: new Date(0) };
}

/** A loader that counts its calls and resolves (or rejects) only when told to. */
function deferredLoader() {
  const pending: Array<{ resolve: (value: CachedSecrets) => void; reject: (error: Error) => void }> = [];
  let calls = 0;
  const load = () => {
    calls += 1;
    return new Promise<CachedSecrets>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return {
    load,
    get calls() {
      return calls;
    },
    resolveNext: (value: CachedSecrets) => pending.shift()!.resolve(value),
    /** resolves the load started `index`-th among those still pending (0 = oldest) */
    resolveAt: (index: number, value: CachedSecrets) => pending.splice(index, 1)[0].resolve(value),
    rejectNext: (error: Error) => pending.shift()!.reject(error),
  };
}

describe('LoadingCache, as the tenant-secrets cache', () => {
  let clock: number;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('serves a hit from memory until the TTL passes, then loads again', async () => {
    const cache = new LoadingCache<CachedSecrets>(1_000, now);
    let calls = 0;
    const load = async () => secretsWith(`sk-or-v1-load-${++calls}`);

    expect((await cache.get('w1', load)).secrets.openrouterKey).toBe('sk-or-v1-load-1');
    clock += 999;
    expect((await cache.get('w1', load)).secrets.openrouterKey).toBe('sk-or-v1-load-1');
    expect(calls).toBe(1);
    clock += 1; // exactly ttl after the load: expired
    expect((await cache.get('w1', load)).secrets.openrouterKey).toBe('sk-or-v1-load-2');
    expect(calls).toBe(2);
    clock += 500;
    expect((await cache.get('w1', load)).secrets.openrouterKey).toBe('sk-or-v1-load-2');
    expect(calls).toBe(2);
  });

  it('keeps workspaces apart', async () => {
    const cache = new LoadingCache<CachedSecrets>(60_000, now);
    await cache.get('w1', async () => secretsWith('sk-or-v1-one'));
    await cache.get('w2', async () => secretsWith('sk-or-v1-two'));
    const unexpected = jest.fn(async () => secretsWith('sk-or-v1-wrong'));
    expect((await cache.get('w1', unexpected)).secrets.openrouterKey).toBe('sk-or-v1-one');
    expect((await cache.get('w2', unexpected)).secrets.openrouterKey).toBe('sk-or-v1-two');
    expect(unexpected).not.toHaveBeenCalled();
    expect(cache.size).toBe(2);
  });

  it('shares one load between concurrent misses for a workspace', async () => {
    const cache = new LoadingCache<CachedSecrets>(60_000, now);
    const loader = deferredLoader();
    const waiting = Array.from({ length: 10 }, () => cache.get('w1', loader.load));
    expect(loader.calls).toBe(1);
    loader.resolveNext(secretsWith('sk-or-v1-shared'));
    const results = await Promise.all(waiting);
    expect(results.map((result) => result.secrets.openrouterKey)).toEqual(Array(10).fill('sk-or-v1-shared'));
    await cache.get('w1', loader.load);
    expect(loader.calls).toBe(1);
  });

  it('does not share a load across workspaces', async () => {
    const cache = new LoadingCache<CachedSecrets>(60_000, now);
    const loader = deferredLoader();
    const first = cache.get('w1', loader.load);
    const second = cache.get('w2', loader.load);
    expect(loader.calls).toBe(2);
    loader.resolveNext(secretsWith('sk-or-v1-one'));
    loader.resolveNext(secretsWith('sk-or-v1-two'));
    expect((await first).secrets.openrouterKey).toBe('sk-or-v1-one');
    expect((await second).secrets.openrouterKey).toBe('sk-or-v1-two');
  });

  it('never caches a failed load: every waiter sees the failure and the next get loads again', async () => {
    const cache = new LoadingCache<CachedSecrets>(60_000, now);
    const loader = deferredLoader();
    const a = cache.get('w1', loader.load);
    const b = cache.get('w1', loader.load);
    loader.rejectNext(new Error('KEY_UNAVAILABLE'));
    await expect(a).rejects.toThrow('KEY_UNAVAILABLE');
    await expect(b).rejects.toThrow('KEY_UNAVAILABLE');
    expect(cache.size).toBe(0);

    const retry = cache.get('w1', loader.load);
    expect(loader.calls).toBe(2);
    loader.resolveNext(secretsWith('sk-or-v1-after-failure'));
    expect((await retry).secrets.openrouterKey).toBe('sk-or-v1-after-failure');
    expect(cache.size).toBe(1);
  });

  it('drops an entry on invalidate, so the next get loads the new value', async () => {
    const cache = new LoadingCache<CachedSecrets>(60_000, now);
    await cache.get('w1', async () => secretsWith('sk-or-v1-old'));
    cache.invalidate('w1');
    expect(cache.size).toBe(0);
    expect((await cache.get('w1', async () => secretsWith('sk-or-v1-new'))).secrets.openrouterKey).toBe('sk-or-v1-new');
  });

  it('does not let a load that began before an invalidation populate the cache', async () => {
    const cache = new LoadingCache<CachedSecrets>(60_000, now);
    const loader = deferredLoader();
    const stale = cache.get('w1', loader.load);
    cache.invalidate('w1'); // e.g. replaceKey committed while the old row was being read
    // A get after the invalidation must not join the stale load: it starts its own.
    const fresh = cache.get('w1', loader.load);
    expect(loader.calls).toBe(2);

    loader.resolveNext(secretsWith('sk-or-v1-stale'));
    expect((await stale).secrets.openrouterKey).toBe('sk-or-v1-stale');
    expect(cache.size).toBe(0);

    loader.resolveNext(secretsWith('sk-or-v1-fresh'));
    expect((await fresh).secrets.openrouterKey).toBe('sk-or-v1-fresh');
    // What is cached now is the fresh value, and nothing loads again within the TTL.
    expect((await cache.get('w1', loader.load)).secrets.openrouterKey).toBe('sk-or-v1-fresh');
    expect(loader.calls).toBe(2);
  });

  it('a stale load finishing after a fresh one does not overwrite the fresh entry', async () => {
    const cache = new LoadingCache<CachedSecrets>(60_000, now);
    const loader = deferredLoader();
    const stale = cache.get('w1', loader.load);
    cache.invalidate('w1');
    const fresh = cache.get('w1', loader.load);
    // Out of order: the fresh load completes first, then the stale one.
    loader.resolveAt(1, secretsWith('sk-or-v1-fresh'));
    expect((await fresh).secrets.openrouterKey).toBe('sk-or-v1-fresh');
    loader.resolveAt(0, secretsWith('sk-or-v1-stale'));
    await Promise.all([stale, fresh]);
    expect((await cache.get('w1', loader.load)).secrets.openrouterKey).toBe('sk-or-v1-fresh');
    expect(loader.calls).toBe(2);
  });

  it('with a TTL of 0 never caches: every get loads', async () => {
    const cache = new LoadingCache<CachedSecrets>(0, now);
    let calls = 0;
    const load = async () => secretsWith(`sk-or-v1-${++calls}`);
    expect((await cache.get('w1', load)).secrets.openrouterKey).toBe('sk-or-v1-1');
    expect((await cache.get('w1', load)).secrets.openrouterKey).toBe('sk-or-v1-2');
    expect((await cache.get('w1', load)).secrets.openrouterKey).toBe('sk-or-v1-3');
    expect(cache.size).toBe(0);
  });

  it('with a TTL of 0 still shares a load between concurrent misses', async () => {
    const cache = new LoadingCache<CachedSecrets>(0, now);
    const loader = deferredLoader();
    const both = [cache.get('w1', loader.load), cache.get('w1', loader.load)];
    expect(loader.calls).toBe(1);
    loader.resolveNext(secretsWith('sk-or-v1-once'));
    await Promise.all(both);
    expect(cache.size).toBe(0);
  });
});
