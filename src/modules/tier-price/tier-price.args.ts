import { ArgsType, Field } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';
import { ModelTier } from '../workspace/workspace.enums';

@ArgsType()
export class SetTierPriceArgs {
  @Field(() => ModelTier)
  tier: ModelTier;

  @Field(() => SafeIntScalar)
  inputMicrosPerMillionTokens: number;

  @Field(() => SafeIntScalar)
  outputMicrosPerMillionTokens: number;

  @Field()
  effectiveFrom: Date;
}
