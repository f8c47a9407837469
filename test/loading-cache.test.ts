import { LoadingCache } from '../src/cache/loading-cache';
import { WorkspaceEntity } from '../src/modules/workspace/workspace.entity';
import { ModelTier } from '../src/modules/workspace/workspace.enums';

const row = (defaultTier: ModelTier) => Object.assign(new WorkspaceEntity(), { id: 'w1', defaultTier });

describe('LoadingCache, as the gateway’s copies of workspace rows', () => {
  it('loads a row once and serves it until its TTL', async () => {
    let now = 0;
    let loads = 0;
    const cache = new LoadingCache<WorkspaceEntity | null>(1000, () => now);
    const load = async () => {
      loads += 1;
      return row(ModelTier.BALANCED);
    };
    await cache.get('w1', load);
    now = 999;
    expect((await cache.get('w1', load))?.defaultTier).toBe(ModelTier.BALANCED);
    expect(loads).toBe(1);
    now = 1000;
    await cache.get('w1', load);
    expect(loads).toBe(2);
  });

  it('counts, for the metrics, a lookup served from an entry as a hit and one that loads or joins a load as a miss', async () => {
    let now = 0;
    const cache = new LoadingCache<WorkspaceEntity | null>(1000, () => now);
    const load = async () => row(ModelTier.BALANCED);
    await Promise.all([cache.get('w1', load), cache.get('w1', load)]);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 0, misses: 2 });
    await cache.get('w1', load);
    await cache.get('w1', load);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 2 });
    now = 1000;
    await cache.get('w1', load);
    cache.invalidate('w1');
    await cache.get('w1', load);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 4 });
  });

  it('loads again after invalidate', async () => {
    const cache = new LoadingCache<WorkspaceEntity | null>(1000);
    await cache.get('w1', async () => row(ModelTier.BALANCED));
    cache.invalidate('w1');
    expect((await cache.get('w1', async () => row(ModelTier.FRONTIER)))?.defaultTier).toBe(ModelTier.FRONTIER);
  });

  it('uses but never keeps a row read while the workspace changed', async () => {
    const cache = new LoadingCache<WorkspaceEntity | null>(1000);
    const stale = await cache.get('w1', async () => {
      cache.invalidate('w1');
      return row(ModelTier.BALANCED);
    });
    expect(stale?.defaultTier).toBe(ModelTier.BALANCED);
    expect((await cache.get('w1', async () => row(ModelTier.FRONTIER)))?.defaultTier).toBe(ModelTier.FRONTIER);
  });

  it('keeps no unknown workspace and nothing with a TTL of 0', async () => {
    const none = new LoadingCache<WorkspaceEntity | null>(1000);
    expect(await none.get('w1', async () => null)).toBeNull();
    expect((await none.get('w1', async () => row(ModelTier.BALANCED)))?.defaultTier).toBe(ModelTier.BALANCED);
    const off = new LoadingCache<WorkspaceEntity | null>(0);
    await off.get('w1', async () => row(ModelTier.BALANCED));
    expect((await off.get('w1', async () => row(ModelTier.FRONTIER)))?.defaultTier).toBe(ModelTier.FRONTIER);
  });

  it('hands out a value past its TTL for an outage while it is young enough, never one an invalidation dropped', async () => {
    let now = 0;
    const cache = new LoadingCache<WorkspaceEntity | null>(1000, () => now);
    await cache.get('w1', async () => row(ModelTier.FRONTIER));
    now = 5_000;
    expect(cache.stale('w1', 15 * 60_000)?.defaultTier).toBe(ModelTier.FRONTIER);
    now = 15 * 60_000 + 1;
    expect(cache.stale('w1', 15 * 60_000)).toBeUndefined();
    now = 0;
    cache.invalidate('w1');
    expect(cache.stale('w1', 15 * 60_000)).toBeUndefined();
    expect(cache.stale('never-loaded', 15 * 60_000)).toBeUndefined();
  });
});
