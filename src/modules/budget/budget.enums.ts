import { registerEnumType } from 'type-graphql';

/** What happens once the month's spend reaches the limit. */
export enum BudgetAction {
  NOTIFY = 'NOTIFY',
  /** user-initiated gateway calls are refused; background paths keep running and counting */
  BLOCK = 'BLOCK',
}

registerEnumType(BudgetAction, { name: 'BudgetAction' });

export const DEFAULT_THRESHOLDS: readonly number[] = [50, 80, 100];
