import { Field, ID, ObjectType } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';
import { ModelTier } from '../workspace/workspace.enums';

/** The totals every usage breakdown carries; not itself part of the API (nothing returns it). */
@ObjectType('UsageTotals')
abstract class UsageTotals {
  @Field(() => SafeIntScalar)
  calls: number;

  @Field(() => SafeIntScalar)
  inputTokens: number;

  @Field(() => SafeIntScalar)
  outputTokens: number;

  @Field(() => SafeIntScalar)
  billedMicros: number;
}

@ObjectType('TierBreakdown')
export class TierBreakdown extends UsageTotals {
  @Field(() => ModelTier)
  tier: ModelTier;
}

@ObjectType('BillingSummary')
export class BillingSummary {
  @Field(() => ID)
  workspaceId: string;

  @Field({ description: 'YYYY-MM, UTC' })
  month: string;

  @Field(() => SafeIntScalar)
  calls: number;

  @Field(() => SafeIntScalar)
  platformCalls: number;

  @Field(() => SafeIntScalar)
  byokCalls: number;

  @Field(() => SafeIntScalar)
  inputTokens: number;

  @Field(() => SafeIntScalar)
  outputTokens: number;

  @Field(() => SafeIntScalar)
  tierPriceMicros: number;

  @Field(() => SafeIntScalar, { description: 'what the customer paid OpenRouter directly for BYOK calls' })
  byokRawCostMicros: number;

  @Field(() => SafeIntScalar, {
    nullable: true,
    description: "the platform's own OpenRouter cost of platform-key calls; platform admins only, null for everyone else",
  })
  platformRawCostMicros: number | null;

  @Field(() => SafeIntScalar)
  platformChargeMicros: number;

  @Field(() => SafeIntScalar)
  byokMarginMicros: number;

  @Field(() => SafeIntScalar)
  totalBilledMicros: number;

  @Field(() => SafeIntScalar, { description: 'calls whose raw cost is unknown and awaits settlement' })
  flaggedCalls: number;

  @Field(() => [TierBreakdown])
  byTier: TierBreakdown[];
}

@ObjectType('AnalyticsBucket')
export class AnalyticsBucket extends UsageTotals {
  @Field()
  key: string;

  @Field(() => SafeIntScalar, { description: 'calls refused upstream or blocked by a budget: never billed, never usage records' })
  refusedCalls: number;
}
