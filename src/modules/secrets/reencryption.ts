import type { SqlDialect } from '../../db/dialect';
import type { TransactionRunner } from '../../db/transaction-runner';
import { TenantSecretEntity } from './tenant-secret.entity';
import { isKeyUnavailable, TenantSecretStore } from './tenant-secret.store';

export interface ReencryptionReport {
  rewritten: string[];
  alreadyCurrent: string[];
  failed: Array<{ workspaceId: string; reason: string }>;
}

/** Where a blob found unreadable is recorded: its key's status becomes KEY_UNAVAILABLE. */
export interface UnreadableBlobs {
  markUnavailable(workspaceId: string, rowUpdatedAt: Date): Promise<void>;
}

/**
 * Rewrites every blob under the current phrase, one row per transaction under a row lock, so the
 * service can keep running. Rows already current are skipped; a row that fails is named and the
 * run goes on (a blob that does not decrypt is also marked KEY_UNAVAILABLE, except in a dry run,
 * which changes nothing). After a run with no failures, SECRETS_PHRASE_PREVIOUS can be dropped.
 */
export async function reencryptAll(
  transactions: TransactionRunner,
  dialect: SqlDialect,
  store: TenantSecretStore,
  options: { dryRun: boolean; unreadable: UnreadableBlobs },
): Promise<ReencryptionReport> {
  const report: ReencryptionReport = { rewritten: [], alreadyCurrent: [], failed: [] };
  const ids = (await transactions.manager.getRepository(TenantSecretEntity).find({ select: ['workspaceId'], order: { workspaceId: 'ASC' } })).map(
    (row) => row.workspaceId,
  );
  for (const workspaceId of ids) {
    // The version of a row whose blob did not decrypt: marked after its transaction, which holds
    // the row's lock, has ended.
    let unreadableVersion: Date | undefined;
    try {
      const outcome = await transactions.run(async (manager) => {
        const query = manager.getRepository(TenantSecretEntity).createQueryBuilder('s').where('s.workspaceId = :workspaceId', { workspaceId });
        const row = await dialect.lockForUpdate(query).getOne();
        if (!row) return 'gone' as const;
        if (row.keyId === store.currentKeyId) return 'current' as const;
        let rewritten: TenantSecretEntity;
        try {
          rewritten = store.reencrypt(row);
        } catch (error) {
          if (isKeyUnavailable(error)) unreadableVersion = row.updatedAt;
          throw error;
        }
        if (!options.dryRun) {
          await manager.update(TenantSecretEntity, { workspaceId }, { ciphertext: rewritten.ciphertext, keyId: rewritten.keyId });
        }
        return 'rewritten' as const;
      });
      if (outcome === 'current') report.alreadyCurrent.push(workspaceId);
      if (outcome === 'rewritten') report.rewritten.push(workspaceId);
    } catch (error) {
      report.failed.push({ workspaceId, reason: (error as Error).message });
      if (unreadableVersion && !options.dryRun) await options.unreadable.markUnavailable(workspaceId, unreadableVersion);
    }
  }
  return report;
}
