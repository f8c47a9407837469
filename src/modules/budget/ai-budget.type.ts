import { Field, ID, Int, ObjectType } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';
import type { Budget } from './budget.service';
import { BudgetAction } from './budget.enums';

@ObjectType('AiBudget')
export class AiBudgetType {
  @Field(() => ID)
  workspaceId: string;

  @Field(() => SafeIntScalar)
  monthlyLimitMicros: number;

  @Field(() => [Int], { description: 'percentages of the limit that raise budget.threshold_crossed, once a month each' })
  thresholds: number[];

  @Field(() => BudgetAction)
  action: BudgetAction;

  @Field({ description: 'YYYY-MM, UTC' })
  month: string;

  @Field(() => SafeIntScalar, { description: 'platform charges + BYOK margin + BYOK raw cost in the month' })
  spentMicros: number;

  static from(budget: Budget, month: string, spentMicros: number): AiBudgetType {
    return Object.assign(new AiBudgetType(), { ...budget, thresholds: [...budget.thresholds], month, spentMicros });
  }
}
