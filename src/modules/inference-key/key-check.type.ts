import { Field, ObjectType } from 'type-graphql';
import { SafeIntScalar } from '../../graphql/scalars';

/** What OpenRouter says about a key checked without saving it (verifyKey). */
@ObjectType('KeyCheck')
export class KeyCheckType {
  @Field()
  valid: boolean;

  @Field(() => SafeIntScalar, { nullable: true })
  limitMicros: number | null;

  @Field(() => SafeIntScalar, { nullable: true })
  limitRemainingMicros: number | null;

  @Field(() => Boolean, { nullable: true })
  isFreeTier: boolean | null;

  @Field(() => String, { nullable: true, description: 'why OpenRouter refused the key, when it did' })
  message: string | null;
}
