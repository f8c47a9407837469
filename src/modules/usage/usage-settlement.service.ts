import type { EntityManager } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput, notFound } from '../../errors/app-error';
import { BillingRangeError, billedMicros, tierPriceMicros } from '../billing/billing-calculator';
import type { TierPriceService } from '../tier-price/tier-price.service';
import { MAX_TOKENS_PER_CALL } from './call-limits';
import { parseUsdToMicrosOrThrow } from '../../money/usd';
import { UsageRecordEntity } from './usage-record.entity';
import { addToRollup } from './usage-rollup.repository';

/** Tokens an admin gives with the raw cost: an INTERRUPTED call was recorded with only those seen. */
export interface SettledTokens {
  inputTokens?: number;
  outputTokens?: number;
}

function tokensOrThrow(name: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_TOKENS_PER_CALL) throw badUserInput(`${name} must be an integer from 0 to ${MAX_TOKENS_PER_CALL}`);
}

/**
 * A platform admin gives a flagged record the raw cost OpenRouter should have reported, and the
 * tokens when they differ from those recorded. The record is re-priced at the tier prices in effect
 * when the call occurred, re-billed, and the differences added to its day's rollup in one
 * transaction.
 */
export class UsageSettlementService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly prices: TierPriceService,
    /** in the settlement's transaction: the usage.settled webhook event */
    private readonly onSettled: (manager: EntityManager, record: UsageRecordEntity) => Promise<void> = async () => undefined,
  ) {}

  settle(recordId: string, rawCostUsd: string, tokens: SettledTokens = {}): Promise<UsageRecordEntity> {
    let rawCostMicros: number;
    try {
      rawCostMicros = parseUsdToMicrosOrThrow(rawCostUsd);
    } catch {
      throw badUserInput('rawCostUsd must be a non-negative decimal number of US dollars, such as "0.000123"');
    }
    tokensOrThrow('inputTokens', tokens.inputTokens);
    tokensOrThrow('outputTokens', tokens.outputTokens);
    return this.transactions.run(async (manager) => {
      const query = manager.getRepository(UsageRecordEntity).createQueryBuilder('r').where('r.id = :recordId', { recordId });
      const record = await this.dialect.lockForUpdate(query).getOne();
      if (!record) throw notFound('Usage record');
      if (!record.flagged) throw badUserInput('Only flagged usage records can be settled');
      const inputTokens = tokens.inputTokens ?? record.inputTokens;
      const outputTokens = tokens.outputTokens ?? record.outputTokens;
      let tierPrice = record.tierPriceMicros;
      if (inputTokens !== record.inputTokens || outputTokens !== record.outputTokens) {
        const schedule = await this.prices.schedule(manager);
        try {
          tierPrice = tierPriceMicros(inputTokens, outputTokens, schedule.inEffectOrThrow(record.tier, record.occurredAt));
        } catch (error) {
          if (!(error instanceof BillingRangeError)) throw error;
          throw badUserInput(`${inputTokens} input and ${outputTokens} output tokens at ${record.tier} prices come to more than ${Number.MAX_SAFE_INTEGER} µ$`);
        }
      }
      const billed = billedMicros(record.keySource, tierPrice, rawCostMicros);
      await addToRollup(manager, this.dialect, {
        ...record,
        calls: 0,
        inputTokens: inputTokens - record.inputTokens,
        outputTokens: outputTokens - record.outputTokens,
        tierPriceMicros: tierPrice - record.tierPriceMicros,
        rawCostMicros: rawCostMicros - (record.rawCostMicros ?? 0),
        billedMicros: billed - record.billedMicros,
        flaggedCalls: -1,
      });
      const changes = { inputTokens, outputTokens, tierPriceMicros: tierPrice, rawCostMicros, billedMicros: billed, flagged: false, settledAt: new Date() };
      Object.assign(record, changes);
      await manager.update(UsageRecordEntity, { id: record.id }, changes);
      await this.onSettled(manager, record);
      return record;
    });
  }
}
