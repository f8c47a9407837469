export { DateTimeResolver as DateTimeScalar, SafeIntResolver as SafeIntScalar } from 'graphql-scalars';
