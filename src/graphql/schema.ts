import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema, ContainerType } from 'type-graphql';
import { AuditResolver } from '../modules/audit/audit.resolver';
import { InferenceKeyResolver } from '../modules/inference-key/inference-key.resolver';
import { ViewerResolver } from '../modules/workspace/viewer.resolver';
import { WorkspaceResolver } from '../modules/workspace/workspace.resolver';
import { BillingSummaryBudgetResolver, BudgetResolver } from '../modules/budget/budget.resolver';
import { WebhookResolver } from '../modules/webhook/webhook.resolver';
import { BillingResolver } from '../modules/billing/billing.resolver';
import { PartnerTokenResolver } from '../modules/partner-token/partner-token.resolver';
import { TierPriceResolver } from '../modules/tier-price/tier-price.resolver';
import { UsageConnectionResolver, UsageRecordResolver } from '../modules/usage/usage.resolver';
import type { AppServices } from '../services';
import { validateArguments } from './argument-validator';
import { DateTimeScalar } from './scalars';

/** Each resolver with the services it delegates to: its dependencies are its constructor's. */
function resolverInstances(services: AppServices) {
  return [
    new ViewerResolver(),
    new WorkspaceResolver(services.workspaces, services.inferenceKeys),
    new InferenceKeyResolver(services.workspaces, services.inferenceKeys, services.keyVerification),
    new AuditResolver(services.audit),
    new TierPriceResolver(services.tierPrices),
    new UsageRecordResolver(services.usageQueries, services.usageRecorder, services.usageSettlement),
    new UsageConnectionResolver(services.usageQueries),
    new BillingResolver(services.billingSummaries, services.llmAnalytics),
    new PartnerTokenResolver(services.partnerTokens),
    new BudgetResolver(services.budgets),
    new BillingSummaryBudgetResolver(services.budgets),
    new WebhookResolver(services.webhooks),
  ] as const;
}

export const resolvers = [
  ViewerResolver,
  WorkspaceResolver,
  InferenceKeyResolver,
  AuditResolver,
  TierPriceResolver,
  UsageRecordResolver,
  UsageConnectionResolver,
  BillingResolver,
  PartnerTokenResolver,
  BudgetResolver,
  BillingSummaryBudgetResolver,
  WebhookResolver,
] as const;

/**
 * type-graphql's container, handing out the one instance of each resolver made for this server.
 * A resolver registered without an instance fails the start, not its first request.
 */
function containerOf(instances: readonly object[]): ContainerType {
  const byClass = new Map<unknown, object>(instances.map((instance) => [instance.constructor, instance]));
  const missing = resolvers.filter((resolverClass) => !byClass.has(resolverClass)).map((resolverClass) => resolverClass.name);
  if (missing.length > 0) throw new Error(`resolvers without an instance: ${missing.join(', ')}`);
  return { get: (resolverClass: unknown) => byClass.get(resolverClass) };
}

/** Without services the schema can be printed (emit, contract check) but not executed. */
export function buildAppSchema(services?: AppServices): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    container: services ? containerOf(resolverInstances(services)) : undefined,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    validateFn: validateArguments,
  });
}

/** The SDL committed in schema/schema.graphql: sorted, so it changes only when the API does. */
export function printAppSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
