import type { Logger } from 'pino';
import { KEY_POLICY, KeyPolicy } from '../gateway/key-policy';
import type { UsageRecordEntity } from '../usage/usage-record.entity';
import { InferencePath } from '../usage/usage.enums';
import { BudgetMessage, BudgetSpendBus } from './budget-spend.bus';
import { reachedThresholds, spendOf, utcMonth } from './budget-spend';
import { BudgetAction } from './budget.enums';
import type { Budget, BudgetService } from './budget.service';

/**
 * How stale a worker's counter may get: without Redis it is reloaded from the database this often
 * (the propagation delay of the overshoot bound, README); with Redis every recording reaches every
 * worker at once and the reload only corrects what a lost message or a settlement changed.
 */
export const BUDGET_RELOAD_MS = 1_000;
export const BUDGET_RELOAD_WITH_REDIS_MS = 30_000;
/**
 * How long a workspace's first call waits for its budget and spend: a database that is up but
 * stalled (locks, a failover) must not hold inference, which is served unchecked meanwhile.
 */
export const BUDGET_LOAD_WAIT_MS = 1_000;
const MAX_WORKSPACES = 100_000;

export interface BudgetRefusal {
  code: 'BUDGET_EXCEEDED';
  message: string;
}

interface Counter {
  budget: Budget | null;
  month: string;
  spentMicros: number;
  loadedAt: number;
  /** spend recorded while a reload is in flight, added to what the reload reads */
  sinceReload: number;
  reloading?: Promise<void>;
  /** thresholds this worker knows were raised this month */
  raised: Set<number>;
}

function dollars(micros: number): string {
  const cents = Math.floor(micros / 10_000);
  return `$${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

/** Background paths always run: the workspace did not ask for them and stopping them breaks the product. */
const USER_INITIATED = new Set(Object.values(InferencePath).filter((path) => KEY_POLICY[path] === KeyPolicy.WORKSPACE_KEY));

/**
 * The gateway's budget check: a per-worker counter of each workspace's spend this UTC month, loaded
 * from the rollups, moved by every call this worker records (and, through Redis, the others
 * record), and reloaded periodically. A check that finds its counter is a map lookup and two
 * comparisons; only the first call of a workspace (or month) waits for the database.
 */
export class BudgetGuard {
  private readonly counters = new Map<string, Counter>();
  /** one load per workspace at a time, however many first calls wait for it */
  private readonly loading = new Map<string, Promise<Counter>>();
  private monthEndsAt = 0;
  private month = '';

  constructor(
    private readonly budgets: BudgetService,
    private readonly bus: BudgetSpendBus,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.budgets.onChanged((workspaceId) => {
      this.counters.delete(workspaceId);
      this.bus.publish({ kind: 'changed', workspaceId });
    });
    await this.bus.start((message) => this.receive(message));
  }

  stop(): Promise<void> {
    return this.bus.stop();
  }

  /** The refusal for a gateway call, or undefined to serve it. */
  async refusalFor(workspaceId: string, path: InferencePath): Promise<BudgetRefusal | undefined> {
    if (!USER_INITIATED.has(path)) return undefined;
    const now = Date.now();
    const month = this.currentMonth(now);
    let counter = this.counters.get(workspaceId);
    if (!counter || counter.month !== month) {
      try {
        counter = await this.loadWithin(workspaceId, month, BUDGET_LOAD_WAIT_MS);
      } catch (error) {
        // A budget is a spending control, not a security boundary: without the database it is not enforced.
        this.log.warn({ workspaceId, reason: (error as Error).message }, 'budget not checked: spend could not be read');
        return undefined;
      }
    } else if (now - counter.loadedAt > this.reloadMs()) {
      this.reloadInBackground(workspaceId, counter);
    }
    const budget = counter.budget;
    if (!budget || budget.action !== BudgetAction.BLOCK || counter.spentMicros < budget.monthlyLimitMicros) return undefined;
    return {
      code: 'BUDGET_EXCEEDED',
      message:
        `This workspace has spent ${dollars(counter.spentMicros)} on AI in ${month} (UTC), reaching its monthly AI budget of ${dollars(budget.monthlyLimitMicros)} ` +
        `(${budget.monthlyLimitMicros} µ$), so user-initiated AI calls are blocked until next month. A workspace owner, admin or billing manager can raise or remove the budget in Settings → Billing.`,
    };
  }

  /** After a recording commits: count its calls, tell the other workers, raise crossed thresholds. */
  recorded(records: readonly UsageRecordEntity[]): void {
    const deltas = new Map<string, { workspaceId: string; month: string; micros: number }>();
    for (const record of records) {
      const month = utcMonth(record.occurredAt);
      const key = `${record.workspaceId}\u0000${month}`;
      const delta = deltas.get(key) ?? { workspaceId: record.workspaceId, month, micros: 0 };
      delta.micros += spendOf({ keySource: record.keySource, billedMicros: record.billedMicros, rawCostMicros: record.rawCostMicros ?? 0 });
      deltas.set(key, delta);
    }
    for (const delta of deltas.values()) {
      this.add(delta.workspaceId, delta.month, delta.micros);
      this.bus.publish({ kind: 'spend', ...delta });
      if (delta.month === this.currentMonth(Date.now())) void this.checkThresholds(delta.workspaceId, delta.month);
    }
  }

  private receive(message: BudgetMessage): void {
    if (message.kind === 'changed') this.counters.delete(message.workspaceId);
    else this.add(message.workspaceId, message.month, message.micros);
  }

  private add(workspaceId: string, month: string, micros: number): void {
    const counter = this.counters.get(workspaceId);
    if (!counter || counter.month !== month) return;
    counter.spentMicros += micros;
    if (counter.reloading) counter.sinceReload += micros;
  }

  private async checkThresholds(workspaceId: string, month: string): Promise<void> {
    try {
      const counter = this.counters.get(workspaceId)?.month === month ? this.counters.get(workspaceId)! : await this.loadOnce(workspaceId, month);
      await this.raiseCrossings(counter);
    } catch (error) {
      this.log.warn({ workspaceId, reason: (error as Error).message }, 'budget thresholds not checked; the next recording checks again');
    }
  }

  private async raiseCrossings(counter: Counter): Promise<void> {
    const budget = counter.budget;
    if (!budget) return;
    const pending = reachedThresholds(budget.monthlyLimitMicros, budget.thresholds, counter.spentMicros).filter((threshold) => !counter.raised.has(threshold));
    if (pending.length === 0) return;
    for (const threshold of await this.budgets.noteCrossings(budget, counter.month, counter.spentMicros)) counter.raised.add(threshold);
  }

  private reloadMs(): number {
    return this.bus.live ? BUDGET_RELOAD_WITH_REDIS_MS : BUDGET_RELOAD_MS;
  }

  private currentMonth(now: number): string {
    if (now >= this.monthEndsAt) {
      const date = new Date(now);
      this.month = utcMonth(date);
      this.monthEndsAt = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    }
    return this.month;
  }

  /** The load goes on after the wait so that a later call finds the counter. */
  private loadWithin(workspaceId: string, month: string, waitMs: number): Promise<Counter> {
    return new Promise((resolveLoad, rejectLoad) => {
      const timer = setTimeout(() => rejectLoad(new Error(`budget and spend not read within ${waitMs} ms`)), waitMs);
      this.loadOnce(workspaceId, month).then(
        (counter) => {
          clearTimeout(timer);
          resolveLoad(counter);
        },
        (error: unknown) => {
          clearTimeout(timer);
          rejectLoad(error);
        },
      );
    });
  }

  private loadOnce(workspaceId: string, month: string): Promise<Counter> {
    const key = `${workspaceId}\u0000${month}`;
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.load(workspaceId, month).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /** A workspace without a budget needs no spend: setting one drops the counter (`changed`). */
  private async read(workspaceId: string, month: string): Promise<{ budget: Budget | null; spentMicros: number }> {
    const budget = await this.budgets.get(workspaceId);
    return { budget, spentMicros: budget ? await this.budgets.spentMicros(workspaceId, month) : 0 };
  }

  private async load(workspaceId: string, month: string): Promise<Counter> {
    const { budget, spentMicros } = await this.read(workspaceId, month);
    const counter: Counter = { budget, month, spentMicros, loadedAt: Date.now(), sinceReload: 0, raised: new Set() };
    if (this.counters.size >= MAX_WORKSPACES) this.counters.clear();
    this.counters.set(workspaceId, counter);
    return counter;
  }

  /**
   * Serves the current figure meanwhile. Spend recorded during the reload is added to what it
   * reads, which may count a call twice until the next reload: the counter errs high, never low.
   */
  private reloadInBackground(workspaceId: string, counter: Counter): void {
    if (counter.reloading) return;
    counter.sinceReload = 0;
    counter.reloading = this.read(workspaceId, counter.month)
      .then(({ budget, spentMicros }) => {
        counter.budget = budget;
        counter.spentMicros = spentMicros + counter.sinceReload;
        counter.loadedAt = Date.now();
        return this.raiseCrossings(counter);
      })
      .catch((error: Error) => this.log.warn({ workspaceId, reason: error.message }, 'budget counter not reloaded'))
      .finally(() => {
        counter.reloading = undefined;
        counter.sinceReload = 0;
      });
  }
}
