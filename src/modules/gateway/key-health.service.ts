import type { Logger } from 'pino';
import { In, IsNull, Not, Or, type DataSource } from 'typeorm';
import { KeyStatus } from '../inference-key/inference-key.enums';
import { TenantSecretEntity } from '../secrets/tenant-secret.entity';

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
  ) {}

  async mark(workspaceId: string, rowUpdatedAt: Date | null, status: KeyStatus): Promise<void> {
    if (!rowUpdatedAt) return;
    const result = await this.dataSource
      .getRepository(TenantSecretEntity)
      .update({ workspaceId, updatedAt: rowUpdatedAt }, { openrouterStatus: status, openrouterLastCheckedAt: new Date() });
    if ((result.affected ?? 0) > 0) this.onChanged(workspaceId);
  }

  /**
   * OpenRouter refused one model on this row version's key (no allowed provider, the key's
   * restrictions): shown to members as aiInferenceKey.lastRefusal. The key's status stays: the
   * key works for other models.
   */
  async noteRefusal(workspaceId: string, rowUpdatedAt: Date | null, model: string, reason: string): Promise<void> {
    if (!rowUpdatedAt) return;
    const result = await this.dataSource
      .getRepository(TenantSecretEntity)
      .update({ workspaceId, updatedAt: rowUpdatedAt }, { lastRefusalModel: model.slice(0, 200), lastRefusalReason: reason.slice(0, 500), lastRefusalAt: new Date() });
    if ((result.affected ?? 0) > 0) this.onChanged(workspaceId);
  }

  /**
   * The stored blob of this row version does not decrypt (tampered, swapped, or written under a
   * phrase this process does not hold): members see KEY_UNAVAILABLE instead of a key that looks
   * ACTIVE. Logged when the status changes, not on every request that finds the blob unreadable.
   */
  async markUnavailable(workspaceId: string, rowUpdatedAt: Date): Promise<void> {
    const result = await this.dataSource
      .getRepository(TenantSecretEntity)
      .update(
        { workspaceId, updatedAt: rowUpdatedAt, openrouterStatus: NOT_YET_UNAVAILABLE },
        { openrouterStatus: KeyStatus.KEY_UNAVAILABLE, openrouterLastCheckedAt: new Date() },
      );
    if ((result.affected ?? 0) === 0) return;
    this.log.error({ workspaceId }, "the workspace's stored OpenRouter key does not decrypt: marked KEY_UNAVAILABLE until it is replaced");
    this.onChanged(workspaceId);
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
