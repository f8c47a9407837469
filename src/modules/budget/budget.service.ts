import type { EntityManager } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { insertNewRows } from '../../db/insert-new-rows';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput } from '../../errors/app-error';
import type { RequestContext } from '../../request-context';
import { safeAmountOrThrow, sumOrThrow } from '../billing/amount-range';
import { monthDaysOrThrow } from '../billing/billing-summary.service';
import type { UnsettledRecordings } from '../usage/usage-recorder.service';
import { UsageRollupEntity } from '../usage/usage-rollup.entity';
import { KeySource } from '../usage/usage.enums';
import { AiBudgetType } from './ai-budget.type';
import { AiBudgetCrossingEntity, AiBudgetEntity } from './ai-budget.entity';
import { reachedThresholds, totalSpend } from './budget-spend';
import { BudgetAction, DEFAULT_THRESHOLDS } from './budget.enums';

export interface Budget {
  workspaceId: string;
  monthlyLimitMicros: number;
  thresholds: number[];
  action: BudgetAction;
}

/** An event raised inside the transaction of its cause (the webhook outbox). */
export type EventSink = (manager: EntityManager, workspaceId: string, type: string, payload: Record<string, unknown>) => Promise<void>;

const MAX_THRESHOLDS = 10;
const MAX_THRESHOLD_PERCENT = 1000;

function thresholdsOrThrow(thresholds: readonly number[]): number[] {
  if (thresholds.length === 0 || thresholds.length > MAX_THRESHOLDS) throw badUserInput(`thresholds must hold 1 to ${MAX_THRESHOLDS} percentages`);
  for (const threshold of thresholds) {
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > MAX_THRESHOLD_PERCENT) {
      throw badUserInput(`thresholds must be whole percentages from 1 to ${MAX_THRESHOLD_PERCENT}`);
    }
  }
  return [...new Set(thresholds)].sort((a, b) => a - b);
}

export function budgetOf(entity: AiBudgetEntity): Budget {
  return {
    workspaceId: entity.workspaceId,
    monthlyLimitMicros: entity.monthlyLimitMicros,
    thresholds: entity.thresholds.split(',').map(Number),
    action: entity.action,
  };
}

/** Monthly AI budgets: their settings, the month's spend from the rollups, and threshold crossings. */
export class BudgetService {
  private readonly changeListeners: Array<(workspaceId: string) => void> = [];
  private events: EventSink = async () => undefined;

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly recordings: UnsettledRecordings,
  ) {}

  /** Called after a budget is set or removed (the gateway's counters reload it). */
  onChanged(listener: (workspaceId: string) => void): void {
    this.changeListeners.push(listener);
  }

  raiseEventsThrough(sink: EventSink): void {
    this.events = sink;
  }

  async get(workspaceId: string): Promise<Budget | null> {
    const entity = await this.transactions.manager.findOne(AiBudgetEntity, { where: { workspaceId } });
    return entity ? budgetOf(entity) : null;
  }

  async set(ctx: RequestContext, workspaceId: string, monthlyLimitMicros: number, thresholds: number[] | null | undefined, action: BudgetAction | null | undefined): Promise<Budget> {
    if (!Number.isSafeInteger(monthlyLimitMicros) || monthlyLimitMicros <= 0) throw badUserInput('monthlyLimitMicros must be a positive whole number of micro-USD');
    const given = thresholds === null || thresholds === undefined ? undefined : thresholdsOrThrow(thresholds);
    const budget = await this.transactions.run(async (manager, unit) => {
      const current = await manager.findOne(AiBudgetEntity, { where: { workspaceId } });
      const entity = Object.assign(new AiBudgetEntity(), {
        workspaceId,
        monthlyLimitMicros,
        thresholds: (given ?? (current ? budgetOf(current).thresholds : DEFAULT_THRESHOLDS)).join(','),
        action: action ?? BudgetAction.NOTIFY,
        updatedBy: ctx.auth.userId ?? null,
        updatedAt: new Date(),
      });
      await manager.save(AiBudgetEntity, entity);
      unit.afterCommit(() => this.changed(workspaceId));
      return budgetOf(entity);
    });
    return budget;
  }

  /** Idempotent. */
  async remove(workspaceId: string): Promise<boolean> {
    await this.transactions.run(async (manager, unit) => {
      await manager.delete(AiBudgetEntity, { workspaceId });
      unit.afterCommit(() => this.changed(workspaceId));
    });
    return true;
  }

  /** The budget with the month's spend, or null when the workspace has none. */
  async view(workspaceId: string, month: string): Promise<AiBudgetType | null> {
    const budget = await this.get(workspaceId);
    return budget ? AiBudgetType.from(budget, month, await this.spentMicros(workspaceId, month)) : null;
  }

  /** Platform charges + BYOK margin + BYOK raw cost in the UTC month, from the daily rollups. */
  async spentMicros(workspaceId: string, month: string): Promise<number> {
    const days = monthDaysOrThrow(month);
    await this.recordings.settled(workspaceId);
    const rows = await sumOrThrow(
      this.transactions.manager
        .getRepository(UsageRollupEntity)
        .createQueryBuilder('u')
        .select('u.keySource', 'keySource')
        .addSelect('SUM(u.billedMicros)', 'billedMicros')
        .addSelect('SUM(u.rawCostMicros)', 'rawCostMicros')
        .where('u.workspaceId = :workspaceId', { workspaceId })
        .andWhere('u.day >= :fromDay AND u.day < :toDay', days)
        .groupBy('u.keySource')
        .getRawMany<{ keySource: string; billedMicros: string | number; rawCostMicros: string | number }>(),
    );
    return totalSpend(
      rows.map((row) => ({
        keySource: row.keySource as KeySource,
        billedMicros: safeAmountOrThrow(row.billedMicros),
        rawCostMicros: safeAmountOrThrow(row.rawCostMicros),
      })),
    );
  }

  /**
   * Raises `budget.threshold_crossed` for each threshold `spent` has reached and no worker has
   * raised yet this month. The crossing row and the event commit together, and the row's primary
   * key lets only one of two workers that see the same crossing raise it.
   * Returns the thresholds now known to be crossed.
   */
  async noteCrossings(budget: Budget, month: string, spentMicros: number): Promise<number[]> {
    const reached = reachedThresholds(budget.monthlyLimitMicros, budget.thresholds, spentMicros);
    if (reached.length === 0) return [];
    return this.transactions.run(async (manager) => {
      const known = new Set(
        (await manager.find(AiBudgetCrossingEntity, { where: { workspaceId: budget.workspaceId, month } })).map((crossing) => crossing.threshold),
      );
      for (const threshold of reached) {
        if (known.has(threshold)) continue;
        const crossing = Object.assign(new AiBudgetCrossingEntity(), { workspaceId: budget.workspaceId, month, threshold, spentMicros, crossedAt: new Date() });
        if ((await insertNewRows(manager, this.dialect, AiBudgetCrossingEntity, [crossing])) === 0) continue;
        await this.events(manager, budget.workspaceId, 'budget.threshold_crossed', {
          workspaceId: budget.workspaceId,
          month,
          threshold,
          monthlyLimitMicros: budget.monthlyLimitMicros,
          spentMicros,
          action: budget.action,
        });
      }
      return reached;
    });
  }

  private changed(workspaceId: string): void {
    for (const listener of this.changeListeners) listener(workspaceId);
  }
}
