import { ArgsType, Field, ID, Int } from 'type-graphql';
import { MaxLength } from 'class-validator';
import { SafeIntScalar } from '../../graphql/scalars';
import { WorkspaceIdArgs } from '../workspace/workspace.args';
import { AnalyticsGroupBy, InferencePath, KeySource } from './usage.enums';

@ArgsType()
export class UsageArgs extends WorkspaceIdArgs {
  @Field()
  from: Date;

  @Field()
  to: Date;

  @Field(() => KeySource, { nullable: true })
  keySource?: KeySource;

  @Field(() => InferencePath, { nullable: true })
  path?: InferencePath;

  @Field(() => Int, { nullable: true, defaultValue: 50 })
  first?: number;

  @Field(() => String, { nullable: true })
  after?: string;
}

@ArgsType()
export class BillingSummaryArgs extends WorkspaceIdArgs {
  @Field()
  @MaxLength(16)
  month: string;
}

@ArgsType()
export class LlmAnalyticsArgs extends WorkspaceIdArgs {
  @Field()
  from: Date;

  @Field()
  to: Date;

  @Field(() => AnalyticsGroupBy)
  groupBy: AnalyticsGroupBy;
}

@ArgsType()
export class RecordIdArgs {
  @Field(() => ID)
  @MaxLength(64)
  id: string;
}

@ArgsType()
export class SettleUsageRecordArgs extends RecordIdArgs {
  @Field()
  @MaxLength(64)
  rawCostUsd: string;

  @Field(() => SafeIntScalar, { nullable: true, description: 'the input tokens the call really used (an INTERRUPTED call was recorded with those seen); unchanged when absent' })
  inputTokens?: number | null;

  @Field(() => SafeIntScalar, { nullable: true, description: 'the output tokens the call really used; unchanged when absent' })
  outputTokens?: number | null;
}
