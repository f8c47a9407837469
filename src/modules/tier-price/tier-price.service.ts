import { EntityManager } from 'typeorm';
import { timeOrderedId } from '../../db/ids';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput } from '../../errors/app-error';
import { ModelTier } from '../workspace/workspace.enums';
import { TierPriceEntity } from './tier-price.entity';

/** A price per million tokens above $1,000,000 is a typo, not a price. */
const MAX_MICROS_PER_MILLION = 1_000_000_000_000;

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
 * Tier prices. Every recording transaction reads the schedule afresh (a handful of rows), so a call
 * is priced with the row in effect at its time on every worker the moment a change commits; a
 * per-worker copy would bill other workers' calls at the old price until it expired. (A call
 * recorded before a change keeps the price it got: changes never rewrite records.)
 */
export class TierPriceService {
  constructor(private readonly transactions: TransactionRunner) {}

  /** Every row, history and scheduled, by tier then newest first. */
  list(): Promise<TierPriceEntity[]> {
    return this.transactions.manager.find(TierPriceEntity, { order: { tier: 'ASC', effectiveFrom: 'DESC' } });
  }

  /** Every price row, read in the caller's transaction. */
  async schedule(manager: EntityManager): Promise<TierPriceSchedule> {
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
    return this.transactions.run(async (manager) => {
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
