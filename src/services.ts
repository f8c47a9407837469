import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { LoadingCache } from './cache/loading-cache';
import { AppConfig, DEFAULT_KEY_RECHECK_INTERVAL_MS } from './config/config';
import { sqlDialectOf } from './db/data-source';
import { TransactionRunner } from './db/transaction-runner';
import { AuditService } from './modules/audit/audit.service';
import { InferenceKeyService } from './modules/inference-key/inference-key.service';
import { KeyVerificationService } from './modules/inference-key/key-verification.service';
import { OpenRouterKeyVerifier } from './modules/inference-key/openrouter-key.verifier';
import type { TenantSecretsCipher } from './modules/secrets/cipher';
import { TenantSecretStore } from './modules/secrets/tenant-secret.store';
import { WorkspaceService } from './modules/workspace/workspace.service';
import { BillingSummaryService } from './modules/billing/billing-summary.service';
import { LlmAnalyticsService } from './modules/billing/llm-analytics.service';
import { DEFAULT_WEBHOOK_RETRY_BASE_MS } from './config/config';
import { WebhookAddressPolicy } from './modules/webhook/webhook-address.policy';
import { WebhookDispatcher } from './modules/webhook/webhook-dispatcher';
import { WebhookEventSources } from './modules/webhook/webhook-event-sources';
import { WebhookOutbox } from './modules/webhook/webhook-outbox';
import { WebhookSecrets, WebhookService } from './modules/webhook/webhook.service';
import { BudgetGuard } from './modules/budget/budget-guard';
import { BudgetSpendBus } from './modules/budget/budget-spend.bus';
import { BudgetService } from './modules/budget/budget.service';
import { PartnerTokenService } from './modules/partner-token/partner-token.service';
import { TierPriceService } from './modules/tier-price/tier-price.service';
import { RefusedCallsService } from './modules/usage/refused-calls.service';
import { UsageExportService } from './modules/usage/usage-export.service';
import { UsageQueryService } from './modules/usage/usage-query.service';
import { UsageRecorderService } from './modules/usage/usage-recorder.service';
import { UsageSettlementService } from './modules/usage/usage-settlement.service';
import { JournalReplay } from './modules/usage/ledger/journal-replay';
import { UsageJournal } from './modules/usage/ledger/usage-journal';
import { UsageLedger } from './modules/usage/ledger/usage-ledger';
import { GatewayKeyPicker } from './modules/gateway/gateway-key.picker';
import { InferenceGateway } from './modules/gateway/inference-gateway';
import { KeyHealthService } from './modules/inference-key/key-health.service';
import { KeyRecheckWorker } from './modules/inference-key/key-recheck.worker';
import { OpenRouterClient } from './modules/gateway/openrouter.client';
import { WorkspaceInvalidationBus } from './modules/workspace/workspace-invalidation.bus';
import type { CachedSecrets } from './modules/secrets/tenant-secrets.cache';
import { WorkspaceDirectory } from './modules/workspace/workspace-directory';
import { WorkspaceEvents } from './modules/workspace/workspace-events';

/** Cached memberships are authorisation data: without Redis they may be this stale at most. */
const ACCESS_CACHE_TTL_MS = 5_000;

/** GATEWAY_DATABASE_OUTAGE=serve: cached workspace rows and keys this old at most serve while the database is unreachable (SPEC.md). */
const STALE_WHILE_UNREACHABLE_MS = 15 * 60_000;

/** The service graph, wired once per process. */
export function createServices(config: AppConfig, dataSource: DataSource, cipher: TenantSecretsCipher, logger: Logger) {
  const dialect = sqlDialectOf(dataSource);
  const transactions = new TransactionRunner(dataSource, dialect);
  const audit = new AuditService(dataSource);
  const webhookOutbox = new WebhookOutbox(dialect);
  const webhookEvents = new WebhookEventSources(webhookOutbox);
  audit.onRecorded(webhookEvents.audited);
  const secrets = new TenantSecretStore(cipher);
  const verifier = new OpenRouterKeyVerifier(config.openrouterBaseUrl, config.openrouterVerifyKeys);
  const workspaceEvents = new WorkspaceEvents();
  // Memberships and workspace rows are kept no longer than that.
  const directory = new WorkspaceDirectory(dataSource, Math.min(config.secretsCacheTtlMs, ACCESS_CACHE_TTL_MS), workspaceEvents);
  const secretsCache = new LoadingCache<CachedSecrets>(config.secretsCacheTtlMs);
  workspaceEvents.subscribeAfterCommit((event) => secretsCache.invalidate(event.workspaceId));
  const invalidationBus = new WorkspaceInvalidationBus(config.redisUrl, logger);
  workspaceEvents.subscribeToLocalCommits((event) => invalidationBus.publish(event.workspaceId));
  const inferenceKeys = new InferenceKeyService(transactions, dialect, secrets, audit, workspaceEvents, verifier);
  const keyVerification = new KeyVerificationService(transactions, dialect, verifier);
  const workspaces = new WorkspaceService(transactions, dialect, audit, workspaceEvents, [inferenceKeys]);
  const tierPrices = new TierPriceService(transactions);
  const usageRecorder = new UsageRecorderService(transactions, dialect, tierPrices, directory);
  const usageQueries = new UsageQueryService(dataSource, dialect, usageRecorder);
  const usageExport = new UsageExportService(dataSource, dialect, usageRecorder);
  const billingSummaries = new BillingSummaryService(dataSource, usageRecorder);
  const refusedCalls = new RefusedCallsService(transactions, dialect, logger);
  const llmAnalytics = new LlmAnalyticsService(dataSource, dialect, usageRecorder, refusedCalls);
  const partnerTokens = new PartnerTokenService(transactions, audit);
  const usageSettlement = new UsageSettlementService(transactions, dialect, tierPrices, webhookEvents.settled);
  const budgets = new BudgetService(transactions, dialect, usageRecorder);
  const budgetGuard = new BudgetGuard(budgets, new BudgetSpendBus(config.redisUrl, logger), logger);
  budgets.raiseEventsThrough(webhookEvents.budget);
  usageRecorder.onRecordsWritten(async (manager, unit, records) => {
    await webhookEvents.recordsWritten(manager, records);
    unit.afterCommit(() => budgetGuard.recorded(records));
  });
  const webhookAddresses = new WebhookAddressPolicy(config.nodeEnv === 'production');
  const webhookSecrets = new WebhookSecrets(cipher);
  const webhooks = new WebhookService(transactions, webhookOutbox, webhookSecrets, webhookAddresses);
  const webhookDispatcher = new WebhookDispatcher(transactions, dialect, webhookOutbox, webhookSecrets, webhookAddresses, config.webhookRetryBaseMs ?? DEFAULT_WEBHOOK_RETRY_BASE_MS, logger);

  const databaseAnswers = () => dataSource.query('SELECT 1').then(
    () => true,
    () => false,
  );
  const staleWhileUnreachableMs = config.gatewayDatabaseOutage === 'serve' ? STALE_WHILE_UNREACHABLE_MS : undefined;
  const usageJournal = new UsageJournal(config.dataDir, logger);
  const usageLedger = new UsageLedger({
    dataSource,
    recorder: usageRecorder,
    journal: usageJournal,
    replay: new JournalReplay({ dir: config.dataDir, recorder: usageRecorder, log: logger, databaseAnswers, ownInstance: usageJournal.instance }),
    log: logger,
    outageWindowMs: staleWhileUnreachableMs ?? 0,
  });
  const keyHealth = new KeyHealthService(transactions, dialect, secrets, workspaceEvents, logger);
  const keyRecheck = new KeyRecheckWorker(dataSource, keyHealth, secrets, verifier, logger, { intervalMs: config.keyRecheckIntervalMs ?? DEFAULT_KEY_RECHECK_INTERVAL_MS });
  keyHealth.onStatusChanged((manager, change) => webhookEvents.keyStatusChanged(manager, change.workspaceId, change.to));
  const gateway = new InferenceGateway({
    workspaces: directory,
    keys: new GatewayKeyPicker(dataSource, secrets, secretsCache, config.platformOpenrouterKey, keyHealth, staleWhileUnreachableMs),
    client: new OpenRouterClient(config.openrouterBaseUrl, config.openrouterTimeoutMs),
    ledger: usageLedger,
    health: keyHealth,
    maxConcurrentPerWorkspace: config.gatewayMaxConcurrentPerWorkspace,
    staleWhileUnreachableMs,
    refusedCalls,
    budget: budgetGuard,
  });
  return {
    dialect,
    transactions,
    audit,
    secrets,
    inferenceKeys,
    keyVerification,
    workspaces,
    tierPrices,
    usageRecorder,
    usageQueries,
    usageExport,
    billingSummaries,
    llmAnalytics,
    refusedCalls,
    partnerTokens,
    usageSettlement,
    budgets,
    budgetGuard,
    webhookOutbox,
    webhooks,
    webhookDispatcher,
    secretsCache,
    workspaceEvents,
    directory,
    invalidationBus,
    usageJournal,
    usageLedger,
    keyHealth,
    keyRecheck,
    gateway,
  };
}

export type AppServices = ReturnType<typeof createServices>;
