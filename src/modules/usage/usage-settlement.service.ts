import type { EntityManager } from 'typeorm';
import { supportsRowLocks } from '../../db/data-source';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput, notFound } from '../../graphql/app-error';
import { billedMicros } from '../billing/billing-calculator';
import { parseUsdToMicrosOrThrow } from '../billing/usd';
import { UsageRecordEntity } from './usage-record.entity';
import { addToRollup } from './usage-rollup.repository';

/**
 * A platform admin gives a flagged record the raw cost OpenRouter should have reported. The record
 * is re-billed and the difference added to its day's rollup in one transaction.
 */
export class UsageSettlementService {
  constructor(
    private readonly transactions: TransactionRunner,
    /** in the settlement's transaction: the usage.settled webhook event */
    private readonly onSettled: (manager: EntityManager, record: UsageRecordEntity) => Promise<void> = async () => undefined,
  ) {}

  settle(recordId: string, rawCostUsd: string): Promise<UsageRecordEntity> {
    let rawCostMicros: number;
    try {
      rawCostMicros = parseUsdToMicrosOrThrow(rawCostUsd);
    } catch {
      throw badUserInput('rawCostUsd must be a non-negative decimal number of US dollars, such as "0.000123"');
    }
    return this.transactions.run(async (manager) => {
      const query = manager.getRepository(UsageRecordEntity).createQueryBuilder('r').where('r.id = :recordId', { recordId });
      if (supportsRowLocks(manager.connection)) query.setLock('pessimistic_write');
      const record = await query.getOne();
      if (!record) throw notFound('Usage record');
      if (!record.flagged) throw badUserInput('Only flagged usage records can be settled');
      const billed = billedMicros(record.keySource, record.tierPriceMicros, rawCostMicros);
      await addToRollup(manager, {
        ...record,
        calls: 0,
        inputTokens: 0,
        outputTokens: 0,
        tierPriceMicros: 0,
        rawCostMicros,
        billedMicros: billed - record.billedMicros,
        flaggedCalls: -1,
      });
      Object.assign(record, { rawCostMicros, billedMicros: billed, flagged: false, settledAt: new Date() });
      await manager.update(
        UsageRecordEntity,
        { id: record.id },
        { rawCostMicros, billedMicros: billed, flagged: false, settledAt: record.settledAt },
      );
      await this.onSettled(manager, record);
      return record;
    });
  }
}
