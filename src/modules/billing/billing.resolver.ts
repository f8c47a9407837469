import { Args, Ctx, Query, Resolver } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { BillingSummaryArgs, LlmAnalyticsArgs } from '../usage/usage.args';
import { AnalyticsBucket, BillingSummary } from './billing-summary.type';
import { InvoiceLine } from './invoice-line.type';
import type { BillingSummaryService } from './billing-summary.service';
import type { LlmAnalyticsService } from './llm-analytics.service';

@Resolver()
export class BillingResolver {
  constructor(
    private readonly billingSummaries: BillingSummaryService,
    private readonly analytics: LlmAnalyticsService,
  ) {}

  @Query(() => BillingSummary)
  @Allow('read', 'Usage', byWorkspaceIdArg)
  billingSummary(@Args() { workspaceId, month }: BillingSummaryArgs, @Ctx() ctx: GraphQLContext): Promise<BillingSummary> {
    return this.billingSummaries.summary(workspaceId, month, ctx.auth.isPlatformAdmin);
  }

  @Query(() => [InvoiceLine], { description: 'lines per tier and key source that sum to billingSummary.totalBilledMicros' })
  @Allow('read', 'Usage', byWorkspaceIdArg)
  invoicePreview(@Args() { workspaceId, month }: BillingSummaryArgs): Promise<InvoiceLine[]> {
    return this.billingSummaries.invoicePreview(workspaceId, month);
  }

  @Query(() => [AnalyticsBucket])
  @Allow('read', 'Usage', byWorkspaceIdArg)
  llmAnalytics(@Args() { workspaceId, from, to, groupBy }: LlmAnalyticsArgs): Promise<AnalyticsBucket[]> {
    return this.analytics.buckets(workspaceId, from, to, groupBy);
  }
}
