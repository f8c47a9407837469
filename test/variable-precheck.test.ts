import { buildSchema, coerceInputValue, GraphQLInputType, GraphQLInt, GraphQLString, isInputType, OperationDefinitionNode, parse, parseType, typeFromAST } from 'graphql';
import { invalidVariablesOf } from '../src/graphql/variable-error';
import { precheckVariable } from '../src/graphql/variable-precheck';

/**
 * SPEC.md "Hostile input": variables of built-in scalars and enums are judged without graphql-js's
 * coercion, which would write a wrong value (a 2 MB string) into a message only to throw it away.
 */
const schema = buildSchema(`
  enum Tier { FAST BALANCED }
  scalar DateTime
  input Window { from: DateTime!, to: DateTime }
  type Query { audit(w: ID!, first: Int, after: String, tier: Tier, window: Window, ratio: Float, on: Boolean): Int }
`);

function typeOf(source: string): GraphQLInputType {
  const type = typeFromAST(schema, parseType(source));
  if (!type || !isInputType(type)) throw new Error(`no input type ${source}`);
  return type;
}

function graphqlJsRefuses(value: unknown, type: GraphQLInputType): boolean {
  let refused = false;
  coerceInputValue(value, type, () => (refused = true));
  return refused;
}

const TYPES = ['Int', 'Int!', 'Float', 'String', 'Boolean', 'ID', 'ID!', 'Tier', '[Int]', '[Int!]!', '[[String]]', '[Tier!]'];
const VALUES: unknown[] = [null, 0, 7, -3, 1.5, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, '', 'x', '12', 'FAST', 'fast', true, false, [], [1, 2], [1, 'a'], [null], [[1]], [['a']], { a: 1 }, ['FAST', 'BALANCED']];

describe('precheckVariable', () => {
  it.each(TYPES)('agrees with graphql-js on every value for %s', (source) => {
    const type = typeOf(source);
    for (const value of VALUES) {
      const expected = graphqlJsRefuses(value, type) ? 'invalid' : 'valid';
      expect({ value, verdict: precheckVariable(value, type) }).toEqual({ value, verdict: expected });
    }
  });

  it.each(['Window', 'Window!', '[Window]', 'DateTime'])('leaves %s (input objects, custom scalars) to graphql-js', (source) => {
    expect(precheckVariable({ from: 'x' }, typeOf(source))).toBe('unknown');
  });
});

describe('invalidVariablesOf with wrong built-in scalars', () => {
  const operation = parse('query A($w: ID!, $first: Int, $after: String, $tier: Tier) { audit(w: $w, first: $first, after: $after, tier: $tier) }').definitions[0] as OperationDefinitionNode;
  const huge = 's'.repeat(2 * 1024 * 1024);

  afterEach(() => jest.restoreAllMocks());

  it('refuses before any scalar parses the value, naming each variable and its type', () => {
    const parseInt = jest.spyOn(GraphQLInt, 'parseValue');
    const parseString = jest.spyOn(GraphQLString, 'parseValue');
    const errors = invalidVariablesOf(schema, operation, { w: { a: 'object' }, first: huge, after: Array.from({ length: 1000 }, (_, i) => `item-${i}`), tier: huge });
    expect(parseInt).not.toHaveBeenCalled();
    expect(parseString).not.toHaveBeenCalled();
    expect(errors.map((error) => error.message)).toEqual([
      'Variable "$w" got an invalid value; expected "ID!".',
      'Variable "$first" got an invalid value; expected "Int".',
      'Variable "$after" got an invalid value; expected "String".',
      'Variable "$tier" got an invalid value; expected "Tier".',
    ]);
    expect(errors.every((error) => error.extensions?.code === 'BAD_USER_INPUT')).toBe(true);
  });

  it('finds nothing wrong with valid values', () => {
    expect(invalidVariablesOf(schema, operation, { w: 7, first: 3, after: 'c', tier: 'FAST' })).toEqual([]);
  });
});
