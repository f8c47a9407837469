import { Field, ID, ObjectType } from 'type-graphql';
import { PageInfo } from '../../graphql/pagination';
import { SafeIntScalar } from '../../graphql/scalars';
import { ModelTier } from '../workspace/workspace.enums';
import type { UsageRecordEntity } from './usage-record.entity';
import { InferencePath, KeySource, UsageOutcome } from './usage.enums';

@ObjectType('UsageRecord')
export class UsageRecordType {
  @Field(() => ID)
  id: string;

  @Field()
  requestId: string;

  @Field(() => ID)
  workspaceId: string;

  @Field(() => InferencePath)
  path: InferencePath;

  @Field()
  model: string;

  @Field(() => ModelTier)
  tier: ModelTier;

  @Field(() => KeySource)
  keySource: KeySource;

  @Field(() => SafeIntScalar)
  inputTokens: number;

  @Field(() => SafeIntScalar)
  outputTokens: number;

  @Field(() => SafeIntScalar, { nullable: true, description: 'raw OpenRouter cost; null for platform-key calls unless the viewer is a platform admin' })
  rawCostMicros: number | null;

  @Field(() => SafeIntScalar)
  tierPriceMicros: number;

  @Field(() => SafeIntScalar)
  billedMicros: number;

  @Field()
  occurredAt: Date;

  @Field({ description: 'the raw cost reported upstream was missing or implausible; billed per SPEC until settled' })
  flagged: boolean;

  /** also resolved to `actor` (the membership) through a per-request loader, for those who may read members */
  @Field(() => ID, { nullable: true, description: 'readable by everyone who reads usage; actor (roles) is null for partner and service tokens' })
  actorUserId: string | null;

  @Field(() => String, { nullable: true, description: "OpenRouter's generation id, to reconcile with its activity export" })
  generationId: string | null;

  @Field(() => Boolean, { nullable: true, description: "OpenRouter's usage.is_byok: the call ran on the customer's own provider keys" })
  isByok: boolean | null;

  @Field(() => UsageOutcome, { description: 'INTERRUPTED: the call went upstream but its completion never reached the record; flagged and billed 0 until settled' })
  outcome: UsageOutcome;

  /**
   * The raw cost of a platform-key call is the platform's own cost: only platform admins see it.
   * A workspace sees the raw cost of its BYOK calls, which it paid itself.
   */
  static from(entity: UsageRecordEntity, viewerIsPlatformAdmin: boolean): UsageRecordType {
    const showRawCost = viewerIsPlatformAdmin || entity.keySource === KeySource.BYOK;
    return Object.assign(new UsageRecordType(), {
      id: entity.id,
      requestId: entity.requestId,
      workspaceId: entity.workspaceId,
      path: entity.path,
      model: entity.model,
      tier: entity.tier,
      keySource: entity.keySource,
      inputTokens: entity.inputTokens,
      outputTokens: entity.outputTokens,
      rawCostMicros: showRawCost ? entity.rawCostMicros : null,
      tierPriceMicros: entity.tierPriceMicros,
      billedMicros: entity.billedMicros,
      occurredAt: entity.occurredAt,
      flagged: entity.flagged,
      actorUserId: entity.actorUserId,
      generationId: entity.generationId,
      isByok: entity.isByok,
      outcome: entity.outcome,
    });
  }
}

export interface UsageFilter {
  workspaceId: string;
  from: Date;
  to: Date;
  keySource?: KeySource;
  path?: InferencePath;
}

@ObjectType('UsageConnection')
export class UsageConnection {
  @Field(() => [UsageRecordType])
  nodes: UsageRecordType[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;

  /** what totalCount counts; computed only when asked for */
  filter: UsageFilter;
}
