import type { WorkspaceEntity } from './workspace.entity';

const MAX_ENTRIES = 100_000;

/**
 * Per-worker copies of workspace rows (plan, default tier, fallback) for the inference gateway,
 * whose every call needs one before it can pick a key. Every change to a workspace drops its entry
 * here and, through Redis, on every other worker; the TTL bounds staleness when Redis is down.
 */
export class WorkspaceRowCache {
  private readonly entries = new Map<string, { row: WorkspaceEntity; expiresAt: number }>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async getOrLoad(workspaceId: string, load: () => Promise<WorkspaceEntity | null>): Promise<WorkspaceEntity | null> {
    const entry = this.entries.get(workspaceId);
    if (entry && entry.expiresAt > this.now()) return entry.row;
    const generation = this.generations.get(workspaceId) ?? 0;
    const row = await load();
    // A load that raced a change may have read the row as it was: it is used once, never kept.
    if (row && this.ttlMs > 0 && (this.generations.get(workspaceId) ?? 0) === generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(workspaceId, { row, expiresAt: this.now() + this.ttlMs });
    }
    return row;
  }

  invalidate(workspaceId: string): void {
    this.entries.delete(workspaceId);
    this.generations.set(workspaceId, (this.generations.get(workspaceId) ?? 0) + 1);
  }
}
