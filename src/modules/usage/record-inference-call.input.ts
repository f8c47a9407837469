import { IsOptional, Length, MaxLength, Min } from 'class-validator';
import { Field, ID, InputType } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';
import { ModelTier } from '../workspace/workspace.enums';
import { InferencePath, KeySource } from './usage.enums';

@InputType('RecordInferenceCallInput')
export class RecordInferenceCallInput {
  @Field()
  @Length(1, 128)
  requestId: string;

  @Field(() => ID)
  @MaxLength(64)
  workspaceId: string;

  @Field(() => InferencePath)
  path: InferencePath;

  @Field()
  @Length(1, 200)
  model: string;

  @Field(() => ModelTier)
  tier: ModelTier;

  @Field(() => KeySource)
  keySource: KeySource;

  @Field(() => SafeIntScalar)
  @Min(0)
  inputTokens: number;

  @Field(() => SafeIntScalar)
  @Min(0)
  outputTokens: number;

  @Field({ description: 'OpenRouter\'s usage.cost in USD as a decimal string, e.g. "0.000123"' })
  @MaxLength(64)
  rawCostUsd: string;

  @Field({ nullable: true })
  @IsOptional()
  occurredAt?: Date;

  @Field(() => ID, { nullable: true })
  @IsOptional()
  @MaxLength(191)
  actorUserId?: string;

  @Field({ nullable: true, description: "OpenRouter's generation id (the answer's id), to reconcile with its activity export" })
  @IsOptional()
  @Length(1, 128)
  generationId?: string;

  @Field({ nullable: true, description: "OpenRouter's usage.is_byok" })
  @IsOptional()
  isByok?: boolean;

  @Field({ nullable: true, description: "OpenRouter's cost_details.upstream_inference_cost in USD; added to rawCostUsd when isByok" })
  @IsOptional()
  @MaxLength(64)
  upstreamInferenceCostUsd?: string;
}
