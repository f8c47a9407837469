import { GRAPHQL_MAX_INT, GRAPHQL_MIN_INT, GraphQLInputType, isEnumType, isListType, isNonNullType, isSpecifiedScalarType } from 'graphql';

/** Whether a JSON value fits one of graphql-js's built-in scalars, as its `parseValue` decides. */
const BUILT_IN_SCALARS: Record<string, (value: unknown) => boolean> = {
  Int: (value) => typeof value === 'number' && Number.isInteger(value) && value >= GRAPHQL_MIN_INT && value <= GRAPHQL_MAX_INT,
  Float: (value) => typeof value === 'number' && Number.isFinite(value),
  String: (value) => typeof value === 'string',
  Boolean: (value) => typeof value === 'boolean',
  ID: (value) => typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)),
};

/**
 * The verdict graphql-js's coercion would reach for a variable whose type is built only of
 * built-in scalars, enums, lists and non-null: `valid` or `invalid`. `unknown` for any other type
 * (input objects, custom scalars), which graphql-js must coerce. A wrong-typed leaf makes
 * graphql-js write the whole value into a message (a 2 MB string, once more per body) that is
 * thrown away, since the answer names only the variable and its type: this decides without it.
 */
export function precheckVariable(value: unknown, type: GraphQLInputType): 'valid' | 'invalid' | 'unknown' {
  if (isNonNullType(type)) return value === null || value === undefined ? 'invalid' : precheckVariable(value, type.ofType);
  if (value === null || value === undefined) return 'valid';
  if (isListType(type)) {
    // A value that is not a list is taken as a list of one, as graphql-js does.
    if (!Array.isArray(value)) return precheckVariable(value, type.ofType);
    let verdict: 'valid' | 'invalid' | 'unknown' = 'valid';
    for (const item of value) {
      const itemVerdict = precheckVariable(item, type.ofType);
      if (itemVerdict === 'invalid') return 'invalid';
      if (itemVerdict === 'unknown') verdict = 'unknown';
    }
    return verdict;
  }
  if (isEnumType(type)) return typeof value === 'string' && type.getValue(value) !== undefined ? 'valid' : 'invalid';
  const fits = isSpecifiedScalarType(type) ? BUILT_IN_SCALARS[type.name] : undefined;
  if (!fits) return 'unknown';
  return fits(value) ? 'valid' : 'invalid';
}
