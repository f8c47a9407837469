import { Args, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { BillingSummary } from '../billing/billing-summary.type';
import { WorkspaceIdArgs } from '../workspace/workspace.args';
import { AiBudgetType } from './ai-budget.type';
import { SetAiBudgetArgs } from './budget.args';
import { utcMonth } from './budget-spend';
import type { BudgetService } from './budget.service';

@Resolver(() => AiBudgetType)
export class BudgetResolver {
  constructor(private readonly budgets: BudgetService) {}

  @Query(() => AiBudgetType, { nullable: true, description: 'the current UTC month; null when the workspace has no budget' })
  @Allow('read', 'AiBudget', byWorkspaceIdArg)
  aiBudget(@Args() { workspaceId }: WorkspaceIdArgs): Promise<AiBudgetType | null> {
    return this.budgets.view(workspaceId, utcMonth(new Date()));
  }

  @Mutation(() => AiBudgetType, { description: 'Manage billing holders; thresholds null: keep the current ones (default 50, 80, 100); action null: NOTIFY' })
  @Allow('manage', 'AiBudget', byWorkspaceIdArg)
  async setAiBudget(@Args() { workspaceId, monthlyLimitMicros, thresholds, action }: SetAiBudgetArgs, @Ctx() ctx: GraphQLContext): Promise<AiBudgetType> {
    await this.budgets.set(ctx, workspaceId, monthlyLimitMicros, thresholds, action);
    return (await this.budgets.view(workspaceId, utcMonth(new Date())))!;
  }

  @Mutation(() => Boolean, { description: 'Manage billing holders; idempotent' })
  @Allow('manage', 'AiBudget', byWorkspaceIdArg)
  removeAiBudget(@Args() { workspaceId }: WorkspaceIdArgs): Promise<boolean> {
    return this.budgets.remove(workspaceId);
  }
}

/** `billingSummary.budget`: whoever reads the summary sees the month's limit and spend. */
@Resolver(() => BillingSummary)
export class BillingSummaryBudgetResolver {
  constructor(private readonly budgets: BudgetService) {}

  @FieldResolver(() => AiBudgetType, { nullable: true, description: "the workspace's budget and its spend in the summary's month" })
  budget(@Root() summary: BillingSummary): Promise<AiBudgetType | null> {
    return this.budgets.view(summary.workspaceId, summary.month);
  }
}
