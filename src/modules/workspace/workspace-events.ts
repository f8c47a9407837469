import type { EntityManager } from 'typeorm';
import type { UnitOfWork } from '../../db/transaction-runner';

/** What changed about a workspace; every kind makes per-worker copies of it stale. */
export type WorkspaceEvent =
  /** the workspace row itself: plan, BYOK fallback */
  | { kind: 'changed'; workspaceId: string }
  /** a member added, removed or given another role */
  | { kind: 'membershipChanged'; workspaceId: string; userId: string }
  /** the key saved, replaced or removed, or what is known of its health */
  | { kind: 'keyChanged'; workspaceId: string };

/** Runs inside the transaction that makes the change, with its manager: it commits or rolls back with it. */
export type InTransactionSubscriber = (manager: EntityManager, event: WorkspaceEvent) => Promise<void>;

/** Runs once the change has committed: caches, and the bus that tells the other workers. */
export type AfterCommitSubscriber = (event: WorkspaceEvent) => void;

/**
 * The one stream of changes to workspaces, their members and their keys. Whoever changes one
 * publishes in its transaction; whoever keeps a copy subscribes, and never the other way round.
 */
export class WorkspaceEvents {
  private readonly inTransaction: InTransactionSubscriber[] = [];
  private readonly afterCommit: AfterCommitSubscriber[] = [];
  private readonly afterLocalCommit: AfterCommitSubscriber[] = [];

  subscribeInTransaction(subscriber: InTransactionSubscriber): void {
    this.inTransaction.push(subscriber);
  }

  /** Told of changes committed here and of those another worker committed (`committedElsewhere`). */
  subscribeAfterCommit(subscriber: AfterCommitSubscriber): void {
    this.afterCommit.push(subscriber);
  }

  /** Told only of changes committed here: what tells the other workers must not echo their news. */
  subscribeToLocalCommits(subscriber: AfterCommitSubscriber): void {
    this.afterLocalCommit.push(subscriber);
  }

  async publish(manager: EntityManager, unit: UnitOfWork, event: WorkspaceEvent): Promise<void> {
    for (const subscriber of this.inTransaction) await subscriber(manager, event);
    unit.afterCommit(() => {
      for (const subscriber of [...this.afterCommit, ...this.afterLocalCommit]) subscriber(event);
    });
  }

  /**
   * Another worker committed a change to the workspace. The bus carries only the workspace's id,
   * so it arrives as `changed`: every copy of the workspace is dropped whatever the change was.
   */
  committedElsewhere(workspaceId: string): void {
    const event: WorkspaceEvent = { kind: 'changed', workspaceId };
    for (const subscriber of this.afterCommit) subscriber(event);
  }
}
