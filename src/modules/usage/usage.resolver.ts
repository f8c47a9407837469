import { Arg, Args, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Allow, byWorkspaceIdArg } from '../../graphql/allow.decorator';
import type { GraphQLContext } from '../../graphql/context';
import { SafeIntScalar } from '../../graphql/scalars';
import { MemberType } from '../workspace/member.type';
import { RecordInferenceCallInput } from './record-inference-call.input';
import { UsageConnection, UsageRecordType } from './usage-record.type';
import { SettleUsageRecordArgs, UsageArgs } from './usage.args';
import type { UsageQueryService } from './usage-query.service';
import type { UsageRecorderService } from './usage-recorder.service';
import type { UsageSettlementService } from './usage-settlement.service';

@Resolver(() => UsageRecordType)
export class UsageRecordResolver {
  constructor(
    private readonly usageQueries: UsageQueryService,
    private readonly usageRecorder: UsageRecorderService,
    private readonly usageSettlement: UsageSettlementService,
  ) {}

  @Query(() => UsageConnection)
  @Allow('read', 'Usage', byWorkspaceIdArg)
  usage(@Args() { workspaceId, from, to, keySource, path, first, after }: UsageArgs, @Ctx() ctx: GraphQLContext): Promise<UsageConnection> {
    return this.usageQueries.list({ workspaceId, from, to, keySource, path }, first, after, ctx.auth.isPlatformAdmin);
  }

  @Mutation(() => UsageRecordType, { description: "the inference runtime's service token only; idempotent on (workspaceId, requestId)" })
  @Allow('record', 'InferenceCall')
  async recordInferenceCall(@Arg('input') input: RecordInferenceCallInput, @Ctx() ctx: GraphQLContext): Promise<UsageRecordType> {
    const record = await this.usageRecorder.recordReported(input);
    return UsageRecordType.from(record, ctx.auth.isPlatformAdmin);
  }

  @Mutation(() => UsageRecordType, { description: 'platform admins: give a flagged record its raw cost and re-bill it' })
  @Allow('settle', 'Usage')
  async settleUsageRecord(@Args() { id, rawCostUsd, inputTokens, outputTokens }: SettleUsageRecordArgs, @Ctx() ctx: GraphQLContext): Promise<UsageRecordType> {
    const settled = await this.usageSettlement.settle(id, rawCostUsd, { inputTokens: inputTokens ?? undefined, outputTokens: outputTokens ?? undefined });
    return UsageRecordType.from(settled, ctx.auth.isPlatformAdmin);
  }

  /**
   * Whether someone is a member, and with which role, is for those who may read the workspace's
   * members. A partner token sees who acted (`actorUserId`) and nothing more; the inference
   * runtime, which may name any user id in recordInferenceCall, learns nothing about memberships.
   */
  @FieldResolver(() => MemberType, { nullable: true, description: 'the member on whose behalf the call ran, if any' })
  async actor(@Root() record: UsageRecordType, @Ctx() ctx: GraphQLContext): Promise<MemberType | null> {
    if (!record.actorUserId || !(await ctx.auth.can('read', 'Member', record.workspaceId))) return null;
    const member = await ctx.loaders.memberByWorkspaceAndUser.load(`${record.workspaceId}\u0000${record.actorUserId}`);
    return member ? MemberType.from(member) : null;
  }
}

@Resolver(() => UsageConnection)
export class UsageConnectionResolver {
  constructor(private readonly usageQueries: UsageQueryService) {}

  @FieldResolver(() => SafeIntScalar)
  totalCount(@Root() connection: UsageConnection): Promise<number> {
    return this.usageQueries.count(connection.filter);
  }
}
