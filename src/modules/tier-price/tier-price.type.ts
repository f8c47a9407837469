import { Field, ObjectType } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';
import { ModelTier } from '../workspace/workspace.enums';
import type { TierPriceEntity } from './tier-price.entity';

@ObjectType('TierPrice')
export class TierPriceType {
  @Field(() => ModelTier)
  tier: ModelTier;

  @Field(() => SafeIntScalar)
  inputMicrosPerMillionTokens: number;

  @Field(() => SafeIntScalar)
  outputMicrosPerMillionTokens: number;

  @Field()
  effectiveFrom: Date;

  static from(entity: TierPriceEntity): TierPriceType {
    return Object.assign(new TierPriceType(), {
      tier: entity.tier,
      inputMicrosPerMillionTokens: entity.inputMicrosPerMillionTokens,
      outputMicrosPerMillionTokens: entity.outputMicrosPerMillionTokens,
      effectiveFrom: entity.effectiveFrom,
    });
  }
}
