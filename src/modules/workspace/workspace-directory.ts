import type { DataSource } from 'typeorm';
import { LoadingCache } from '../../cache/loading-cache';
import { WorkspaceAccessCache } from './workspace-access.cache';
import { WorkspaceEntity } from './workspace.entity';
import type { WorkspaceEvents } from './workspace-events';

/**
 * This worker's copies of workspace rows and memberships, kept for at most `ttlMs` and dropped on
 * every change to the workspace (WorkspaceEvents, here or, through Redis, on another worker).
 * Reads that must not be stale (writes authorising) go to the database instead.
 */
export class WorkspaceDirectory {
  /** memberships and key metadata for GraphQL reads, see the request loaders */
  readonly access: WorkspaceAccessCache;
  private readonly rows: LoadingCache<WorkspaceEntity | null>;

  constructor(
    private readonly dataSource: DataSource,
    ttlMs: number,
    events: WorkspaceEvents,
  ) {
    this.access = new WorkspaceAccessCache(ttlMs);
    this.rows = new LoadingCache<WorkspaceEntity | null>(ttlMs);
    events.subscribeAfterCommit((event) => this.drop(event.workspaceId));
  }

  /** The workspace row, usually from this worker's copy; null when there is no such workspace. */
  workspace(workspaceId: string): Promise<WorkspaceEntity | null> {
    return this.rows.get(workspaceId, () => this.dataSource.getRepository(WorkspaceEntity).findOne({ where: { id: workspaceId } }));
  }

  /** The copy kept for a workspace even past its TTL, when at most `maxAgeMs` old: for when the database cannot be asked. */
  staleWorkspace(workspaceId: string, maxAgeMs: number): WorkspaceEntity | null | undefined {
    return this.rows.stale(workspaceId, maxAgeMs);
  }

  private drop(workspaceId: string): void {
    this.rows.invalidate(workspaceId);
    this.access.invalidate(workspaceId);
  }
}
