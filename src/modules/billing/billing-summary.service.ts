import type { DataSource } from 'typeorm';
import { badUserInput } from '../../errors/app-error';
import { KeySource } from '../usage/usage.enums';
import { UsageRollupEntity } from '../usage/usage-rollup.entity';
import { ModelTier } from '../workspace/workspace.enums';
import { addAmounts, safeAmountOrThrow, sumOrThrow } from './amount-range';
import { BillingSummary, TierBreakdown } from './billing-summary.type';
import { InvoiceLine } from './invoice-line.type';
import type { UnsettledRecordings } from '../usage/usage-recorder.service';

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

interface RollupGroup {
  tier: ModelTier;
  keySource: KeySource;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  tierPriceMicros: number;
  rawCostMicros: number;
  billedMicros: number;
  flaggedCalls: number;
}

/** [first day, first day of next month) as YYYY-MM-DD */
export function monthDaysOrThrow(month: string): { fromDay: string; toDay: string } {
  const match = MONTH.exec(month);
  if (!match) throw badUserInput('month must be YYYY-MM, e.g. 2026-11');
  const year = Number(match[1]);
  const monthIndex = Number(match[2]);
  const next = monthIndex === 12 ? `${year + 1}-01` : `${year}-${String(monthIndex + 1).padStart(2, '0')}`;
  return { fromDay: `${month}-01`, toDay: `${next}-01` };
}

/** Monthly billing figures from the daily rollups: one grouped query, whatever the number of calls. */
export class BillingSummaryService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly recordings: UnsettledRecordings,
  ) {}

  async summary(workspaceId: string, month: string, viewerIsPlatformAdmin: boolean): Promise<BillingSummary> {
    return summarise(workspaceId, month, await this.monthGroups(workspaceId, month), viewerIsPlatformAdmin);
  }

  /**
   * The month's bill as invoice lines, one per tier and key source that had calls: the platform
   * charge of platform-key calls, the margin of BYOK calls. Built from the very groups the summary
   * adds up, so the lines sum to `totalBilledMicros` exactly.
   */
  async invoicePreview(workspaceId: string, month: string): Promise<InvoiceLine[]> {
    const groups = await this.monthGroups(workspaceId, month);
    return Object.values(ModelTier).flatMap((tier) =>
      Object.values(KeySource).flatMap((keySource) => {
        const ofLine = groups.filter((group) => group.tier === tier && group.keySource === keySource);
        const calls = sum(ofLine, 'calls');
        if (calls === 0) return [];
        return [Object.assign(new InvoiceLine(), { tier, keySource, calls, amountMicros: sum(ofLine, 'billedMicros'), description: invoiceLineDescription(tier, keySource, month, calls) })];
      }),
    );
  }

  private async monthGroups(workspaceId: string, month: string): Promise<RollupGroup[]> {
    const days = monthDaysOrThrow(month);
    await this.recordings.settled(workspaceId);
    const query = this.dataSource
      .getRepository(UsageRollupEntity)
      .createQueryBuilder('u')
      .select('u.tier', 'tier')
      .addSelect('u.keySource', 'keySource')
      .addSelect('SUM(u.calls)', 'calls')
      .addSelect('SUM(u.inputTokens)', 'inputTokens')
      .addSelect('SUM(u.outputTokens)', 'outputTokens')
      .addSelect('SUM(u.tierPriceMicros)', 'tierPriceMicros')
      .addSelect('SUM(u.rawCostMicros)', 'rawCostMicros')
      .addSelect('SUM(u.billedMicros)', 'billedMicros')
      .addSelect('SUM(u.flaggedCalls)', 'flaggedCalls')
      .where('u.workspaceId = :workspaceId', { workspaceId })
      .andWhere('u.day >= :fromDay AND u.day < :toDay', days)
      // Grouped by day too, which is the primary key's order after the workspace: the database
      // streams the groups without a temporary table and sort (half the cost on MariaDB), and
      // summarise() adds up the days' groups by tier and key source.
      .groupBy('u.day')
      .addGroupBy('u.tier')
      .addGroupBy('u.keySource');
    const raw = await sumOrThrow(query.getRawMany<Record<keyof RollupGroup, string | number>>());
    return raw.map((row) => ({
      tier: row.tier as ModelTier,
      keySource: row.keySource as KeySource,
      calls: safeAmountOrThrow(row.calls),
      inputTokens: safeAmountOrThrow(row.inputTokens),
      outputTokens: safeAmountOrThrow(row.outputTokens),
      tierPriceMicros: safeAmountOrThrow(row.tierPriceMicros),
      rawCostMicros: safeAmountOrThrow(row.rawCostMicros),
      billedMicros: safeAmountOrThrow(row.billedMicros),
      flaggedCalls: safeAmountOrThrow(row.flaggedCalls),
    }));
  }
}

const TIER_NAMES: Record<ModelTier, string> = {
  [ModelTier.FRONTIER]: 'Frontier',
  [ModelTier.BALANCED]: 'Balanced',
  [ModelTier.COST_EFFECTIVE]: 'Cost-effective',
};

function invoiceLineDescription(tier: ModelTier, keySource: KeySource, month: string, calls: number): string {
  const what = keySource === KeySource.PLATFORM ? 'AI calls on the platform key' : "platform margin on AI calls on the workspace's OpenRouter key";
  return `${TIER_NAMES[tier]} tier: ${what}, ${calls} call${calls === 1 ? '' : 's'} in ${month}`;
}

function sum(groups: RollupGroup[], field: keyof Omit<RollupGroup, 'tier' | 'keySource'>): number {
  return groups.reduce((total, group) => addAmounts(total, group[field]), 0);
}

export function summarise(workspaceId: string, month: string, groups: RollupGroup[], viewerIsPlatformAdmin: boolean): BillingSummary {
  const platform = groups.filter((group) => group.keySource === KeySource.PLATFORM);
  const byok = groups.filter((group) => group.keySource === KeySource.BYOK);
  const byTier = Object.values(ModelTier).map((tier) => {
    const ofTier = groups.filter((group) => group.tier === tier);
    return Object.assign(new TierBreakdown(), {
      tier,
      calls: sum(ofTier, 'calls'),
      inputTokens: sum(ofTier, 'inputTokens'),
      outputTokens: sum(ofTier, 'outputTokens'),
      billedMicros: sum(ofTier, 'billedMicros'),
    });
  });
  const platformChargeMicros = sum(platform, 'billedMicros');
  const byokMarginMicros = sum(byok, 'billedMicros');
  return Object.assign(new BillingSummary(), {
    workspaceId,
    month,
    calls: sum(groups, 'calls'),
    platformCalls: sum(platform, 'calls'),
    byokCalls: sum(byok, 'calls'),
    inputTokens: sum(groups, 'inputTokens'),
    outputTokens: sum(groups, 'outputTokens'),
    tierPriceMicros: sum(groups, 'tierPriceMicros'),
    byokRawCostMicros: sum(byok, 'rawCostMicros'),
    platformRawCostMicros: viewerIsPlatformAdmin ? sum(platform, 'rawCostMicros') : null,
    platformChargeMicros,
    byokMarginMicros,
    totalBilledMicros: addAmounts(platformChargeMicros, byokMarginMicros),
    flaggedCalls: sum(groups, 'flaggedCalls'),
    byTier,
  });
}
