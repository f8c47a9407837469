import { EntityManager } from 'typeorm';
import { timeOrderedId } from '../../db/ids';
import { LoadingCache } from '../../cache/loading-cache';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput } from '../../graphql/app-error';
import { ModelTier } from '../workspace/workspace.enums';
import { TierPriceEntity } from './tier-price.entity';

/** A price per million tokens above $1,000,000 is a typo, not a price. */
const MAX_MICROS_PER_MILLION = 1_000_000_000_000;
/** The one entry of the worker's cache: every tier's prices. */
const SCHEDULE = 'schedule';

/** The prices of every tier over time. */
export class TierPriceSchedule {
  /** newest first */
  constructor(private readonly rows: readonly TierPriceEntity[]) {}

  /** The row in effect at `at`: the latest whose effectiveFrom ≤ at. */
  inEffectOrThrow(tier: ModelTier, at: Date): TierPriceEntity {
    const price = this.rows.find((row) => row.tier === tier && row.effectiveFrom.getTime() <= at.getTime());
    if (!price) throw badUserInput(`No ${tier} price is in effect at ${at.toISOString()}`);
    return price;
  }
}

/**
 * Tier prices. Every recording transaction prices its calls from the schedule, so each worker keeps
 * a copy: a change drops it at once on the worker that made it and, through Redis, on the others;
 * without Redis the TTL bounds how long another worker prices with the schedule as it was. (A call
 * recorded just before a change keeps the price it got: changes never rewrite records.)
 */
export class TierPriceService {
  private readonly cache: LoadingCache<TierPriceSchedule>;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly transactions: TransactionRunner,
    ttlMs: number,
    now: () => number = Date.now,
  ) {
    this.cache = new LoadingCache(ttlMs, now);
  }

  /** Called once a change has committed, to tell other workers. */
  onChanged(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Drops this worker's copy of the schedule. */
  invalidate(): void {
    this.cache.invalidate(SCHEDULE);
  }

  /** Every row, history and scheduled, by tier then newest first. */
  list(): Promise<TierPriceEntity[]> {
    return this.transactions.manager.find(TierPriceEntity, { order: { tier: 'ASC', effectiveFrom: 'DESC' } });
  }

  /** Every price row, from this worker's copy or read in the caller's transaction. */
  schedule(manager: EntityManager): Promise<TierPriceSchedule> {
    return this.cache.get(SCHEDULE, () => this.load(manager));
  }

  private async load(manager: EntityManager): Promise<TierPriceSchedule> {
    // Plain SQL: this runs in every recording transaction, where TypeORM's query building and
    // hydration cost more than the query itself. Dates are converted as TypeORM would.
    const rows = (await manager.query(
      'SELECT tier, input_micros_per_million AS input, output_micros_per_million AS output, effective_from FROM tier_price ORDER BY effective_from DESC',
    )) as Array<{ tier: ModelTier; input: string | number; output: string | number; effective_from: unknown }>;
    const effectiveFrom = manager.connection.getMetadata(TierPriceEntity).findColumnWithPropertyName('effectiveFrom')!;
    return new TierPriceSchedule(
      rows.map((row) =>
        Object.assign(new TierPriceEntity(), {
          tier: row.tier,
          inputMicrosPerMillionTokens: Number(row.input),
          outputMicrosPerMillionTokens: Number(row.output),
          effectiveFrom: manager.connection.driver.prepareHydratedValue(row.effective_from, effectiveFrom) as Date,
        }),
      ),
    );
  }

  /**
   * Adds a price from `effectiveFrom` on (or corrects the row with that exact start). Recorded
   * calls keep the amounts they were billed.
   */
  async set(tier: ModelTier, input: number, output: number, effectiveFrom: Date): Promise<TierPriceEntity> {
    for (const [name, value] of [
      ['inputMicrosPerMillionTokens', input],
      ['outputMicrosPerMillionTokens', output],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0 || value > MAX_MICROS_PER_MILLION) {
        throw badUserInput(`${name} must be an integer from 0 to ${MAX_MICROS_PER_MILLION}`);
      }
    }
    return this.transactions.run(async (manager, unit) => {
      unit.afterCommit(() => {
        this.invalidate();
        for (const listener of this.listeners) listener();
      });
      const existing = await manager.findOne(TierPriceEntity, { where: { tier, effectiveFrom } });
      const row = Object.assign(existing ?? new TierPriceEntity(), {
        id: existing?.id ?? timeOrderedId(),
        tier,
        inputMicrosPerMillionTokens: input,
        outputMicrosPerMillionTokens: output,
        effectiveFrom,
        createdAt: existing?.createdAt ?? new Date(),
      });
      return manager.save(TierPriceEntity, row);
    });
  }
}
