import type { SqlDialect } from '../../db/dialect';
import type { TransactionRunner } from '../../db/transaction-runner';
import { WebhookEndpointEntity } from './webhook-endpoint.entity';
import type { WebhookSecrets } from './webhook.service';

export interface WebhookReencryptionReport {
  rewritten: string[];
  alreadyCurrent: string[];
  failed: Array<{ endpointId: string; reason: string }>;
}

/**
 * The webhook signing secrets' part of `npm run secrets:reencrypt`: every secret (and a previous one
 * still in its overlap) sealed under an older phrase is resealed under the current one, one endpoint
 * per transaction under a row lock; failures are named and the run goes on. Without it, dropping
 * SECRETS_PHRASE_PREVIOUS would leave those endpoints unable to sign.
 */
export async function reencryptWebhookSecrets(
  transactions: TransactionRunner,
  dialect: SqlDialect,
  secrets: WebhookSecrets,
  options: { dryRun: boolean },
): Promise<WebhookReencryptionReport> {
  const report: WebhookReencryptionReport = { rewritten: [], alreadyCurrent: [], failed: [] };
  const ids = (await transactions.manager.getRepository(WebhookEndpointEntity).find({ select: ['id'], order: { id: 'ASC' } })).map((row) => row.id);
  for (const endpointId of ids) {
    try {
      const outcome = await transactions.run(async (manager) => {
        const query = manager.getRepository(WebhookEndpointEntity).createQueryBuilder('e').where('e.id = :endpointId', { endpointId });
        const row = await dialect.lockForUpdate(query).getOne();
        if (!row) return 'gone' as const;
        const stale = !secrets.isCurrent(row.secret) || (row.previousSecret !== null && !secrets.isCurrent(row.previousSecret));
        if (!stale) return 'current' as const;
        const secret = secrets.reseal(row.workspaceId, row.secret);
        const previousSecret = row.previousSecret === null ? null : secrets.reseal(row.workspaceId, row.previousSecret);
        if (!options.dryRun) await manager.update(WebhookEndpointEntity, { id: endpointId }, { secret, previousSecret });
        return 'rewritten' as const;
      });
      if (outcome === 'current') report.alreadyCurrent.push(endpointId);
      if (outcome === 'rewritten') report.rewritten.push(endpointId);
    } catch (error) {
      report.failed.push({ endpointId, reason: (error as Error).message });
    }
  }
  return report;
}
