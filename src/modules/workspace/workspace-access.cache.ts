import type { CacheStats } from '../../cache/loading-cache';
import type { InferenceKeyRecordEntity } from '../inference-key/inference-key-record.entity';
import type { MemberEntity } from './member.entity';
import type { WorkspaceEntity } from './workspace.entity';

/** What answering a read about one workspace needs: its row, its key's record, and who is a member. */
export interface WorkspaceAccess {
  workspace: WorkspaceEntity;
  key: InferenceKeyRecordEntity | null;
  /** the caller's membership, or null when the caller is not a member */
  membership: MemberEntity | null;
}

interface Entry {
  workspace: WorkspaceEntity;
  key: InferenceKeyRecordEntity | null;
  members: Map<string, MemberEntity | null>;
  expiresAt: number;
}

/**
 * Per-worker copies of the rows that every read about a workspace needs, so hot reads (the key
 * status) need no database round trip. Every change to a workspace, its members or its key drops
 * the entry here and, through Redis, on every other worker; the short TTL bounds staleness when
 * Redis is down. Only reads are served from here: writes authorise against fresh rows.
 */
export class WorkspaceAccessCache implements CacheStats {
  hits = 0;
  misses = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(workspaceId: string, userId: string): WorkspaceAccess | undefined {
    const entry = this.entries.get(workspaceId);
    if (!entry || entry.expiresAt <= this.now() || !entry.members.has(userId)) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    return { workspace: entry.workspace, key: entry.key, membership: entry.members.get(userId) ?? null };
  }

  /** A token to pass back to `put`, so that a read which raced an invalidation is not cached. */
  generation(workspaceId: string): number {
    return this.generations.get(workspaceId) ?? 0;
  }

  put(workspaceId: string, userId: string, access: WorkspaceAccess, generation: number): void {
    if (this.ttlMs <= 0 || this.generation(workspaceId) !== generation) return;
    const existing = this.entries.get(workspaceId);
    const fresh = existing && existing.expiresAt > this.now() ? existing : undefined;
    const entry: Entry = fresh ?? { workspace: access.workspace, key: access.key, members: new Map(), expiresAt: this.now() + this.ttlMs };
    entry.members.set(userId, access.membership);
    this.entries.set(workspaceId, entry);
  }

  invalidate(workspaceId: string): void {
    this.entries.delete(workspaceId);
    this.generations.set(workspaceId, this.generation(workspaceId) + 1);
  }
}
