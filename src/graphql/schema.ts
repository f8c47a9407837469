import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
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
import { validateArguments } from './argument-validator';
import { DateTimeScalar } from './scalars';

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

export function buildAppSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    validateFn: validateArguments,
  });
}

/** The SDL committed in schema/schema.graphql: sorted, so it changes only when the API does. */
export function printAppSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
