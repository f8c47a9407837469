import { Field, ObjectType } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';
import { KeySource } from '../usage/usage.enums';
import { ModelTier } from '../workspace/workspace.enums';

/** One line of a month's bill: the calls of one tier on one key source. */
@ObjectType('InvoiceLine')
export class InvoiceLine {
  @Field(() => ModelTier)
  tier: ModelTier;

  @Field(() => KeySource)
  keySource: KeySource;

  @Field(() => SafeIntScalar)
  calls: number;

  @Field(() => SafeIntScalar, { description: 'tier price for PLATFORM lines, margin for BYOK lines' })
  amountMicros: number;

  @Field()
  description: string;
}
