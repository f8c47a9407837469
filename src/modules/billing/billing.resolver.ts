import { Args, Ctx, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { BillingSummaryArgs, LlmAnalyticsArgs } from '../usage/usage.args';
import { AnalyticsBucket, BillingSummary } from './billing-summary.type';
import { InvoiceLine } from './invoice-line.type';

@Resolver()
export class BillingResolver {
  @Query(() => BillingSummary)
  @Allow('read', 'Usage', byWorkspaceIdArg)
  billingSummary(@Args() { workspaceId, month }: BillingSummaryArgs, @Ctx() ctx: GraphQLContext): Promise<BillingSummary> {
    return ctx.services.billingSummaries.summary(workspaceId, month, ctx.auth.isPlatformAdmin);
  }

  @Query(() => [InvoiceLine], { description: 'lines per tier and key source that sum to billingSummary.totalBilledMicros' })
  @Allow('read', 'Usage', byWorkspaceIdArg)
  invoicePreview(@Args() { workspaceId, month }: BillingSummaryArgs, @Ctx() ctx: GraphQLContext): Promise<InvoiceLine[]> {
    return ctx.services.billingSummaries.invoicePreview(workspaceId, month);
  }

  @Query(() => [AnalyticsBucket])
  @Allow('read', 'Usage', byWorkspaceIdArg)
  llmAnalytics(@Args() { workspaceId, from, to, groupBy }: LlmAnalyticsArgs, @Ctx() ctx: GraphQLContext): Promise<AnalyticsBucket[]> {
    return ctx.services.llmAnalytics.buckets(workspaceId, from, to, groupBy);
  }
}
