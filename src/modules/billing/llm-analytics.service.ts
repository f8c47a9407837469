import type { DataSource } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { AnalyticsGroupBy } from '../usage/usage.enums';
import { UsageRecordEntity } from '../usage/usage-record.entity';
import { RefusalDimension, RefusedCallsService } from '../usage/refused-calls.service';
import { UsageMemberRollupEntity } from '../usage/usage-member-rollup.entity';
import { UsageRollupEntity } from '../usage/usage-rollup.entity';
import { validRangeOrThrow } from '../usage/usage-query.service';
import { partialRangesCondition, splitByWholeDays } from '../usage/utc-day';
import { addAmounts, safeAmountOrThrow, sumOrThrow } from './amount-range';
import { AnalyticsBucket } from './billing-summary.type';
import type { UnsettledRecordings } from '../usage/usage-recorder.service';

const ROLLUP_COLUMN: Record<AnalyticsGroupBy, string> = {
  [AnalyticsGroupBy.DAY]: 'u.day',
  [AnalyticsGroupBy.MODEL]: 'u.model',
  [AnalyticsGroupBy.PATH]: 'u.path',
  [AnalyticsGroupBy.KEY_SOURCE]: 'u.key_source',
  [AnalyticsGroupBy.TIER]: 'u.tier',
  [AnalyticsGroupBy.MEMBER]: 'u.actor_key',
};

const RECORD_COLUMN: Record<Exclude<AnalyticsGroupBy, AnalyticsGroupBy.DAY>, string> = {
  [AnalyticsGroupBy.MODEL]: 'r.model',
  [AnalyticsGroupBy.PATH]: 'r.path',
  [AnalyticsGroupBy.KEY_SOURCE]: 'r.key_source',
  [AnalyticsGroupBy.TIER]: 'r.tier',
  [AnalyticsGroupBy.MEMBER]: "COALESCE(r.actor_user_id, '')",
};

/**
 * The refused-call counters' dimension for each grouping. Refusals are counted per day, path and
 * member only; by model, tier or key source their buckets report none.
 */
const REFUSAL_DIMENSION: Partial<Record<AnalyticsGroupBy, RefusalDimension>> = {
  [AnalyticsGroupBy.DAY]: 'day',
  [AnalyticsGroupBy.PATH]: 'path',
  [AnalyticsGroupBy.MEMBER]: 'actor_key',
};

type Totals = Omit<AnalyticsBucket, 'key' | 'refusedCalls'>;
type RawBucket = Record<'key' | keyof Totals, string | number>;

/**
 * Every call, whichever key served it and background paths included, grouped by one dimension.
 * Whole days are read from the rollups and only the partial days at the range's ends from records.
 */
export class LlmAnalyticsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly dialect: SqlDialect,
    private readonly recordings: UnsettledRecordings,
    private readonly refusedCalls: RefusedCallsService,
  ) {}

  async buckets(workspaceId: string, from: Date, to: Date, groupBy: AnalyticsGroupBy): Promise<AnalyticsBucket[]> {
    validRangeOrThrow(from, to);
    await this.recordings.settled(workspaceId);
    const { wholeDays, partial } = splitByWholeDays(from, to);
    const parts: RawBucket[][] = [];
    if (wholeDays) {
      const column = ROLLUP_COLUMN[groupBy];
      const query = this.dataSource
        .getRepository(groupBy === AnalyticsGroupBy.MEMBER ? UsageMemberRollupEntity : UsageRollupEntity)
        .createQueryBuilder('u')
        .select(column, 'key')
        .addSelect('SUM(u.calls)', 'calls')
        .addSelect('SUM(u.input_tokens)', 'inputTokens')
        .addSelect('SUM(u.output_tokens)', 'outputTokens')
        .addSelect('SUM(u.billed_micros)', 'billedMicros')
        .where('u.workspace_id = :workspaceId', { workspaceId })
        .andWhere('u.day >= :fromDay AND u.day < :toDay', wholeDays)
        .groupBy(column);
      parts.push(await sumOrThrow(query.getRawMany<RawBucket>()));
    }
    if (partial.length > 0) {
      const column = groupBy === AnalyticsGroupBy.DAY ? this.dialect.utcDaySql('r.occurred_at') : RECORD_COLUMN[groupBy];
      const { sql, parameters } = partialRangesCondition(partial, 'r.occurred_at');
      const query = this.dataSource
        .getRepository(UsageRecordEntity)
        .createQueryBuilder('r')
        .select(column, 'key')
        .addSelect('COUNT(*)', 'calls')
        .addSelect('SUM(r.input_tokens)', 'inputTokens')
        .addSelect('SUM(r.output_tokens)', 'outputTokens')
        .addSelect('SUM(r.billed_micros)', 'billedMicros')
        .where('r.workspace_id = :workspaceId', { workspaceId })
        .andWhere(sql, parameters)
        .groupBy(column);
      parts.push(await sumOrThrow(query.getRawMany<RawBucket>()));
    }
    const dimension = REFUSAL_DIMENSION[groupBy];
    const refused = dimension ? await this.refusedCalls.byDimension(workspaceId, from, to, dimension) : new Map<string, number>();
    return merge(parts.flat(), refused);
  }
}

const emptyBucket = (key: string) => Object.assign(new AnalyticsBucket(), { key, calls: 0, inputTokens: 0, outputTokens: 0, billedMicros: 0, refusedCalls: 0 });

function merge(rows: RawBucket[], refused: ReadonlyMap<string, number>): AnalyticsBucket[] {
  const byKey = new Map<string, AnalyticsBucket>();
  for (const [key, count] of refused) byKey.set(key, Object.assign(emptyBucket(key), { refusedCalls: count }));
  for (const row of rows) {
    const key = String(row.key);
    const bucket = byKey.get(key) ?? emptyBucket(key);
    bucket.calls = addAmounts(bucket.calls, safeAmountOrThrow(row.calls));
    bucket.inputTokens = addAmounts(bucket.inputTokens, safeAmountOrThrow(row.inputTokens));
    bucket.outputTokens = addAmounts(bucket.outputTokens, safeAmountOrThrow(row.outputTokens));
    bucket.billedMicros = addAmounts(bucket.billedMicros, safeAmountOrThrow(row.billedMicros));
    byKey.set(key, bucket);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
