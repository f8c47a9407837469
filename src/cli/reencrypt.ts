import pino from 'pino';
import { sqlDialectOf } from '../db/data-source';
import { TransactionRunner } from '../db/transaction-runner';
import { createLogger } from '../logging/logger';
import { KeyHealthService } from '../modules/inference-key/key-health.service';
import { TenantSecretsCipher } from '../modules/secrets/cipher';
import { reencryptAll } from '../modules/secrets/reencryption';
import { TenantSecretStore } from '../modules/secrets/tenant-secret.store';
import { reencryptWebhookSecrets } from '../modules/webhook/webhook-secret-reencryption';
import { WebhookSecrets } from '../modules/webhook/webhook.service';
import { configOrExit, flag, openDatabase } from './cli-support';
import { WorkspaceEvents } from '../modules/workspace/workspace-events';

/**
 * npm run secrets:reencrypt [-- --dry-run]
 * Rewrites every tenant-secrets blob under SECRETS_PHRASE (reading old ones with
 * SECRETS_PHRASE_PREVIOUS), then every webhook signing secret. Exits 1 when any row failed, naming each.
 */
async function main(): Promise<void> {
  const dryRun = flag(process.argv, 'dry-run');
  const loaded = configOrExit();
  const cipher = await TenantSecretsCipher.fromPhrases(loaded.config.secretsPhrase, loaded.config.secretsPhrasePrevious);
  const dataSource = await openDatabase(loaded);
  try {
    // Log lines go to stderr: stdout is the report. No worker caches anything here, so no event has a subscriber.
    const store = new TenantSecretStore(cipher);
    const dialect = sqlDialectOf(dataSource);
    const transactions = new TransactionRunner(dataSource, dialect);
    const health = new KeyHealthService(transactions, dialect, store, new WorkspaceEvents(), createLogger(loaded.config.logLevel, pino.destination(2)));
    const report = await reencryptAll(transactions, dialect, store, { dryRun, unreadable: health });
    const verb = dryRun ? 'would rewrite' : 'rewrote';
    process.stdout.write(`${verb} ${report.rewritten.length}, already current ${report.alreadyCurrent.length}, failed ${report.failed.length}\n`);
    for (const workspaceId of report.rewritten) process.stdout.write(`  ${verb}: workspace ${workspaceId}\n`);
    for (const failure of report.failed) process.stdout.write(`  FAILED: workspace ${failure.workspaceId}: ${failure.reason}\n`);
    const webhooks = await reencryptWebhookSecrets(transactions, dialect, new WebhookSecrets(cipher), { dryRun });
    process.stdout.write(`webhook secrets: ${verb} ${webhooks.rewritten.length}, already current ${webhooks.alreadyCurrent.length}, failed ${webhooks.failed.length}\n`);
    for (const endpointId of webhooks.rewritten) process.stdout.write(`  ${verb}: webhook endpoint ${endpointId}\n`);
    for (const failure of webhooks.failed) process.stdout.write(`  FAILED: webhook endpoint ${failure.endpointId}: ${failure.reason}\n`);
    process.exitCode = report.failed.length + webhooks.failed.length > 0 ? 1 : 0;
  } finally {
    await dataSource.destroy();
  }
}

void main();
