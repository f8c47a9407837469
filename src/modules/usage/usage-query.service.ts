import { DataSource, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { badUserInput } from '../../errors/app-error';
import { decodeCursor, encodeCursor, pageSizeOrThrow } from '../../graphql/pagination';
import { addAmounts, safeAmountOrThrow, sumOrThrow } from '../billing/amount-range';
import { UsageRecordEntity } from './usage-record.entity';
import { UsageConnection, UsageFilter, UsageRecordType } from './usage-record.type';
import { UsageRollupEntity } from './usage-rollup.entity';
import { partialRangesCondition, splitByWholeDays } from './utc-day';
import type { UnsettledRecordings } from './usage-recorder.service';

export function validRangeOrThrow(from: Date, to: Date): void {
  if (!(from.getTime() < to.getTime())) throw badUserInput('from must be before to');
}

function applyFilters<T extends object>(query: SelectQueryBuilder<T>, alias: string, filter: Pick<UsageFilter, 'keySource' | 'path'>): SelectQueryBuilder<T> {
  if (filter.keySource) query.andWhere(`${alias}.keySource = :keySource`, { keySource: filter.keySource });
  if (filter.path) query.andWhere(`${alias}.path = :path`, { path: filter.path });
  return query;
}

/**
 * A SELECT on usage_record that names `idx_usage_record_time` with the dialect's FORCE INDEX
 * (MySQL and MariaDB). For `workspace_id = ? AND occurred_at in [from, to) ORDER BY occurred_at DESC, id DESC
 * LIMIT n`, MariaDB's ORDER BY … LIMIT planning trades the range scan on (workspace_id,
 * occurred_at) for a ref scan on workspace_id alone, walking backwards through every newer call
 * of the workspace before it reaches the range: 3–4 s for a page of a past month, or any page
 * after the first, of a workspace with 1M calls (bench/billing-read.bench.ts). USE INDEX, all
 * that TypeORM writes, does not change that; FORCE INDEX keeps the range scan (a few ms).
 */
class TimeIndexedSelectQueryBuilder<T extends ObjectLiteral> extends SelectQueryBuilder<T> {
  private indexHint = '';

  static of<T extends ObjectLiteral>(query: SelectQueryBuilder<T>, dialect: SqlDialect): TimeIndexedSelectQueryBuilder<T> {
    return Object.assign(new TimeIndexedSelectQueryBuilder<T>(query), { indexHint: dialect.forceIndex('idx_usage_record_time') });
  }

  // TypeORM clones a builder to count or page; the clone must keep the hint.
  override clone(): this {
    return Object.assign(super.clone(), { indexHint: this.indexHint });
  }

  protected override createSelectExpression(): string {
    return `${super.createSelectExpression()}${this.indexHint}`;
  }
}

/** Reads of recorded calls: a keyset-paginated list and its count. */
export class UsageQueryService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly dialect: SqlDialect,
    private readonly recordings: UnsettledRecordings,
  ) {}

  /**
   * Newest first, paged on (occurredAt, id): a page starts strictly after the previous one's last
   * row, so calls recorded while a client pages never shift what it has yet to read.
   */
  async list(filter: UsageFilter, first: number | undefined, after: string | undefined, viewerIsPlatformAdmin: boolean): Promise<UsageConnection> {
    validRangeOrThrow(filter.from, filter.to);
    await this.recordings.settled(filter.workspaceId);
    const size = pageSizeOrThrow(first);
    const query = TimeIndexedSelectQueryBuilder.of(this.dataSource.getRepository(UsageRecordEntity).createQueryBuilder('r'), this.dialect)
      .where('r.workspaceId = :workspaceId', { workspaceId: filter.workspaceId })
      .andWhere('r.occurredAt >= :from AND r.occurredAt < :to', { from: filter.from, to: filter.to })
      .orderBy('r.occurredAt', 'DESC')
      .addOrderBy('r.id', 'DESC')
      .take(size + 1);
    applyFilters(query, 'r', filter);
    if (after) {
      const cursor = decodeCursor(after);
      query.andWhere('(r.occurredAt < :at OR (r.occurredAt = :at AND r.id < :id))', { at: cursor.at, id: cursor.id });
    }
    const rows = await query.getMany();
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return Object.assign(new UsageConnection(), {
      nodes: page.map((row) => UsageRecordType.from(row, viewerIsPlatformAdmin)),
      pageInfo: { hasNextPage: rows.length > size, endCursor: last ? encodeCursor({ at: last.occurredAt, id: last.id }) : null },
      filter,
    });
  }

  /** Whole days come from the rollups; only the partial days at the ends count records. */
  async count(filter: UsageFilter): Promise<number> {
    await this.recordings.settled(filter.workspaceId);
    const { wholeDays, partial } = splitByWholeDays(filter.from, filter.to);
    let total = 0;
    if (wholeDays) {
      const query = this.dataSource
        .getRepository(UsageRollupEntity)
        .createQueryBuilder('u')
        .select('COALESCE(SUM(u.calls), 0)', 'calls')
        .where('u.workspaceId = :workspaceId', { workspaceId: filter.workspaceId })
        .andWhere('u.day >= :fromDay AND u.day < :toDay', wholeDays);
      const row = await sumOrThrow(applyFilters(query, 'u', filter).getRawOne<{ calls: string | number }>());
      total = safeAmountOrThrow(row?.calls);
    }
    if (partial.length > 0) {
      const { sql, parameters } = partialRangesCondition(partial, 'r.occurredAt');
      const query = this.dataSource
        .getRepository(UsageRecordEntity)
        .createQueryBuilder('r')
        .where('r.workspaceId = :workspaceId', { workspaceId: filter.workspaceId })
        .andWhere(sql, parameters);
      total = addAmounts(total, await applyFilters(query, 'r', filter).getCount());
    }
    return total;
  }
}
