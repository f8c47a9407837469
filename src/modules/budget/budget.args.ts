import { ArgsType, Field, Int } from 'type-graphql';
import { ArrayMaxSize } from 'class-validator';
import { SafeIntScalar } from '../../graphql/scalars';
import { WorkspaceIdArgs } from '../workspace/workspace.args';
import { BudgetAction } from './budget.enums';

@ArgsType()
export class SetAiBudgetArgs extends WorkspaceIdArgs {
  @Field(() => SafeIntScalar)
  monthlyLimitMicros: number;

  @Field(() => [Int], { nullable: true, description: 'null: keep the current ones (default 50, 80, 100)' })
  @ArrayMaxSize(10)
  thresholds?: number[] | null;

  @Field(() => BudgetAction, { nullable: true, description: 'null: NOTIFY' })
  action?: BudgetAction | null;
}
