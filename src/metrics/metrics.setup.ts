import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/config';
import { poolUsageOf } from '../db/pool-usage';
import type { AppServices } from '../services';
import { MetricsEndpoint } from './metrics-endpoint';
import { ServiceMetrics } from './service-metrics';

export interface MetricsSetup {
  metrics: ServiceMetrics;
  endpoint: MetricsEndpoint;
}

/**
 * The service's metrics, or undefined when they would be served nowhere (neither `METRICS_TOKEN`
 * nor `METRICS_PORT`): then nothing is counted either, and requests pay nothing for them.
 */
export function setUpMetrics(config: AppConfig, logger: Logger): MetricsSetup | undefined {
  if (config.metricsToken === undefined && config.metricsPort === undefined) return undefined;
  const metrics = new ServiceMetrics(logger);
  return { metrics, endpoint: new MetricsEndpoint(metrics, config.metricsToken, logger) };
}

/** Points the scrape-time series at the service's caches, key statuses, database pool and ledger files; the gateway reports its calls. */
export function watchServices(metrics: ServiceMetrics, services: AppServices, dataSource: DataSource): void {
  metrics.watch({
    caches: { secrets: services.secretsCache, workspace_access: services.directory.access },
    keyStatusCounts: () => services.inferenceKeys.countByStatus(),
    poolUsage: () => poolUsageOf(dataSource),
  });
  services.gateway.reportTo(metrics.gateway);
  services.usageLedger.reportTo(metrics.gateway);
}
