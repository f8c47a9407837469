import type { Logger } from 'pino';
import { In, IsNull, Not, Or, type DataSource, type EntityManager, type FindOperator } from 'typeorm';
import type { TransactionRunner } from '../../db/transaction-runner';
import { KeyStatus } from '../inference-key/inference-key.enums';
import { TenantSecretEntity } from '../secrets/tenant-secret.entity';

export interface KeyStatusEvents {
  transactions: TransactionRunner;
  raise(manager: EntityManager, workspaceId: string, status: KeyStatus): Promise<void>;
}

/** Not yet marked KEY_UNAVAILABLE: the condition that makes the mark (and its log line) happen once. */
const NOT_YET_UNAVAILABLE = Or(IsNull(), Not(KeyStatus.KEY_UNAVAILABLE));

/**
 * Records what is known about a workspace's key: what OpenRouter said about it, and whether its
 * stored blob decrypts at all. Each update names the row version the key was read from, so a
 * verdict on an old key never lands on a key that replaced it meanwhile (a replace is how a member
 * recovers from any of these statuses).
 */
export class KeyHealthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly onChanged: (workspaceId: string) => void,
    private readonly log: Logger,
    /** key.status_changed, raised in the transaction that writes a different status */
    private readonly statusEvents?: KeyStatusEvents,
  ) {}

  async mark(workspaceId: string, rowUpdatedAt: Date | null, status: KeyStatus): Promise<void> {
    if (!rowUpdatedAt) return;
    if (this.statusEvents && (await this.changeStatus(workspaceId, rowUpdatedAt, status, Or(IsNull(), Not(status))))) return;
    const result = await this.dataSource
      .getRepository(TenantSecretEntity)
      .update({ workspaceId, updatedAt: rowUpdatedAt }, { openrouterStatus: status, openrouterLastCheckedAt: new Date() });
    if ((result.affected ?? 0) > 0) this.onChanged(workspaceId);
  }

  /** Writes a status that differs from the stored one, with its event; false when nothing changed. */
  private async changeStatus(workspaceId: string, rowUpdatedAt: Date, status: KeyStatus, unlessAlready: FindOperator<string>): Promise<boolean> {
    const { transactions, raise } = this.statusEvents!;
    const changed = await transactions.run(async (manager) => {
      const result = await manager
        .getRepository(TenantSecretEntity)
        .update({ workspaceId, updatedAt: rowUpdatedAt, openrouterStatus: unlessAlready }, { openrouterStatus: status, openrouterLastCheckedAt: new Date() });
      if ((result.affected ?? 0) === 0) return false;
      await raise(manager, workspaceId, status);
      return true;
    });
    if (changed) this.onChanged(workspaceId);
    return changed;
  }

  /**
   * The stored blob of this row version does not decrypt (tampered, swapped, or written under a
   * phrase this process does not hold): members see KEY_UNAVAILABLE instead of a key that looks
   * ACTIVE. Logged when the status changes, not on every request that finds the blob unreadable.
   */
  async markUnavailable(workspaceId: string, rowUpdatedAt: Date): Promise<void> {
    if (this.statusEvents) {
      if (!(await this.changeStatus(workspaceId, rowUpdatedAt, KeyStatus.KEY_UNAVAILABLE, NOT_YET_UNAVAILABLE))) return;
    } else {
      const result = await this.dataSource
        .getRepository(TenantSecretEntity)
        .update(
          { workspaceId, updatedAt: rowUpdatedAt, openrouterStatus: NOT_YET_UNAVAILABLE },
          { openrouterStatus: KeyStatus.KEY_UNAVAILABLE, openrouterLastCheckedAt: new Date() },
        );
      if ((result.affected ?? 0) === 0) return;
      this.onChanged(workspaceId);
    }
    this.log.error({ workspaceId }, "the workspace's stored OpenRouter key does not decrypt: marked KEY_UNAVAILABLE until it is replaced");
  }

  /** At start-up: every blob written under a key id this process cannot derive is unreadable. */
  async markUnavailableUnderKeyIds(keyIds: readonly string[]): Promise<void> {
    if (keyIds.length === 0) return;
    const rows = await this.dataSource.getRepository(TenantSecretEntity).find({
      select: ['workspaceId', 'updatedAt'],
      where: { keyId: In([...keyIds]), openrouterStatus: NOT_YET_UNAVAILABLE },
    });
    for (const row of rows) await this.markUnavailable(row.workspaceId, row.updatedAt);
  }
}
