import { GraphQLScalarType } from 'graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import { amountOutOfRange } from '../errors/app-error';

export { DateTimeResolver as DateTimeScalar } from 'graphql-scalars';

/**
 * graphql-scalars' SafeInt, except that an output value it cannot represent (beyond 2^53 − 1, or
 * not an integer) is AMOUNT_OUT_OF_RANGE rather than an internal error: every amount and token
 * count goes out through it, so no read fails as INTERNAL_SERVER_ERROR because of an amount.
 */
export const SafeIntScalar = new GraphQLScalarType({
  ...GraphQLSafeInt.toConfig(),
  serialize(value) {
    const numeric = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
    if (typeof numeric === 'number' && !Number.isSafeInteger(numeric)) throw amountOutOfRange();
    return GraphQLSafeInt.serialize(value);
  },
});
