import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  astFromValue,
  buildSchema,
  findBreakingChanges,
  GraphQLArgument,
  GraphQLInputField,
  GraphQLNamedType,
  GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  isScalarType,
  isSpecifiedScalarType,
  isUnionType,
  print,
} from 'graphql';
import { buildAppSchema, printAppSchema } from '../src/graphql/schema';

const COMMITTED_SDL = resolve(__dirname, '../schema/schema.graphql');
const CONTRACT_SDL = resolve(__dirname, '../../shared/api-contract.graphql');

/**
 * Parts of the contract the project has not built yet, as schema coordinates ('Type',
 * 'Type.field', 'Type.field(arg:)', 'Enum.VALUE'). The test fails when something is missing that
 * is not listed here AND when something listed here has landed, so this list can only shrink.
 * Everything the contract asks for exists today (billing, usage, partner tokens and the gateway's
 * setByokFallback / settleUsageRecord all landed), so it is empty.
 */
const PENDING: readonly string[] = [];

function kindOf(type: GraphQLNamedType): string {
  if (isObjectType(type)) return 'object';
  if (isInterfaceType(type)) return 'interface';
  if (isUnionType(type)) return 'union';
  if (isEnumType(type)) return 'enum';
  if (isInputObjectType(type)) return 'input';
  return 'scalar';
}

/** A default value as SDL would print it, or 'none'. */
function defaultOf(input: GraphQLArgument | GraphQLInputField): string {
  if (input.defaultValue === undefined) return 'none';
  const ast = astFromValue(input.defaultValue, input.type);
  return ast ? print(ast) : 'none';
}

function contractTypes(schema: GraphQLSchema): GraphQLNamedType[] {
  return Object.values(schema.getTypeMap()).filter((type) => !isIntrospectionType(type) && !isSpecifiedScalarType(type));
}

interface ContractComparison {
  /** contract coordinates with no counterpart in our schema */
  missing: string[];
  /** counterparts that exist but differ: kind, type strings, default values, enum values */
  mismatches: string[];
}

/**
 * Compares every named type of the contract with ours, exactly: field and argument type strings
 * (nullability included), default values, and enum values. Ours may add types, fields and
 * optional arguments, which findBreakingChanges polices separately.
 */
function compareWithContract(contract: GraphQLSchema, ours: GraphQLSchema): ContractComparison {
  const missing: string[] = [];
  const mismatches: string[] = [];
  const compareInput = (coordinate: string, theirs: GraphQLArgument | GraphQLInputField, mine: GraphQLArgument | GraphQLInputField) => {
    if (String(theirs.type) !== String(mine.type)) mismatches.push(`${coordinate} type: contract ${theirs.type}, ours ${mine.type}`);
    if (defaultOf(theirs) !== defaultOf(mine)) mismatches.push(`${coordinate} default: contract ${defaultOf(theirs)}, ours ${defaultOf(mine)}`);
  };

  for (const theirs of contractTypes(contract)) {
    const mine = ours.getType(theirs.name);
    if (!mine) {
      missing.push(theirs.name);
      continue;
    }
    if (kindOf(theirs) !== kindOf(mine)) {
      mismatches.push(`${theirs.name} kind: contract ${kindOf(theirs)}, ours ${kindOf(mine)}`);
      continue;
    }
    if (isEnumType(theirs) && isEnumType(mine)) {
      const ourValues = new Set(mine.getValues().map((value) => value.name));
      for (const value of theirs.getValues()) if (!ourValues.has(value.name)) missing.push(`${theirs.name}.${value.name}`);
      const extra = [...ourValues].filter((name) => !theirs.getValue(name));
      if (extra.length > 0) mismatches.push(`${theirs.name} values: ours adds ${extra.join(', ')}`);
    }
    if (isInputObjectType(theirs) && isInputObjectType(mine)) {
      const ourFields = mine.getFields();
      for (const field of Object.values(theirs.getFields())) {
        const coordinate = `${theirs.name}.${field.name}`;
        if (!ourFields[field.name]) missing.push(coordinate);
        else compareInput(coordinate, field, ourFields[field.name]);
      }
    }
    if ((isObjectType(theirs) && isObjectType(mine)) || (isInterfaceType(theirs) && isInterfaceType(mine))) {
      const ourFields = mine.getFields();
      for (const field of Object.values(theirs.getFields())) {
        const coordinate = `${theirs.name}.${field.name}`;
        const ourField = ourFields[field.name];
        if (!ourField) {
          missing.push(coordinate);
          continue;
        }
        if (String(field.type) !== String(ourField.type)) mismatches.push(`${coordinate} type: contract ${field.type}, ours ${ourField.type}`);
        for (const arg of field.args) {
          const ourArg = ourField.args.find((candidate) => candidate.name === arg.name);
          if (!ourArg) missing.push(`${coordinate}(${arg.name}:)`);
          else compareInput(`${coordinate}(${arg.name}:)`, arg, ourArg);
        }
      }
    }
    if (isScalarType(theirs) !== isScalarType(mine)) mismatches.push(`${theirs.name}: scalar in one schema only`);
  }
  return { missing: missing.sort(), mismatches };
}

/** The schema coordinate a findBreakingChanges "… was removed" description names, if any. */
function removedCoordinate(description: string): string | undefined {
  const arg = /^(\w+\.\w+) arg (\w+) was removed\.$/.exec(description);
  if (arg) return `${arg[1]}(${arg[2]}:)`;
  const enumValue = /^(\w+) was removed from enum type (\w+)\.$/.exec(description);
  if (enumValue) return `${enumValue[2]}.${enumValue[1]}`;
  return /^(\w+(?:\.\w+)?) was removed\.$/.exec(description)?.[1];
}

/** The first line where two texts differ, to point at the drift without printing both files. */
function firstDifference(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const line = a.findIndex((text, index) => text !== b[index]);
  const at = line === -1 ? a.length : line;
  return `first difference at line ${at + 1}:\n  committed: ${JSON.stringify(a[at] ?? '<end of file>')}\n  from code: ${JSON.stringify(b[at] ?? '<end of file>')}`;
}

describe('GraphQL schema', () => {
  let ours: GraphQLSchema;
  let contract: GraphQLSchema;
  beforeAll(async () => {
    ours = await buildAppSchema();
    contract = buildSchema(readFileSync(CONTRACT_SDL, 'utf8'));
  });

  it('schema/schema.graphql is the SDL the code emits (run `npm run schema` when this fails)', () => {
    const emitted = printAppSchema(ours);
    const committed = readFileSync(COMMITTED_SDL, 'utf8');
    const drift =
      emitted === committed
        ? null
        : `schema/schema.graphql is out of date with the code: run \`npm run schema\` and commit the result.\n${firstDifference(committed, emitted)}`;
    expect(drift).toBeNull();
  });

  it('makes no breaking change against the API contract (findBreakingChanges)', () => {
    // A part that is still pending shows up here as removed: that, and only that, is allowed.
    const unexpected = findBreakingChanges(contract, ours)
      .filter((change) => !PENDING.includes(removedCoordinate(change.description) ?? ''))
      .map((change) => `${change.type}: ${change.description}`);
    expect(unexpected).toEqual([]);
  });

  it('matches every contract type string, argument, default value and enum value exactly', () => {
    expect(compareWithContract(contract, ours).mismatches).toEqual([]);
  });

  it('is missing exactly the parts listed as pending: nothing else, and nothing that has landed', () => {
    const { missing } = compareWithContract(contract, ours);
    const notPending = missing.filter((coordinate) => !PENDING.includes(coordinate));
    const landed = PENDING.filter((coordinate) => !missing.includes(coordinate));
    expect({ missingButNotPending: notPending, pendingButAlreadyBuilt: landed }).toEqual({ missingButNotPending: [], pendingButAlreadyBuilt: [] });
  });

  describe('the comparison itself', () => {
    it('reads the coordinates findBreakingChanges reports as removed', () => {
      const theirs = buildSchema('enum Plan { PLUS PRO } type Extra { a: Int } type Query { w(id: ID, first: Int): Plan x: Extra }');
      const mine = buildSchema('enum Plan { PLUS } type Query { w(id: ID): Plan }');
      const coordinates = findBreakingChanges(theirs, mine).map((change) => removedCoordinate(change.description));
      expect(coordinates.sort()).toEqual(['Extra', 'Plan.PRO', 'Query.w(first:)', 'Query.x']);
    });

    // Guards against a comparison that passes because it checks nothing.
    const sdl = (query: string, extra = '') => buildSchema(`enum Plan { PLUS PRO ENTERPRISE } ${extra} type Query { ${query} }`);

    it('notices a missing field, argument, type and enum value', () => {
      const theirs = buildSchema('enum Plan { PLUS PRO ENTERPRISE } type Extra { a: Int } type Query { workspace(id: ID!, first: Int = 50): Plan q: Extra }');
      const mine = buildSchema('enum Plan { PLUS PRO } type Query { workspace(id: ID!): Plan }');
      expect(compareWithContract(theirs, mine).missing).toEqual(['Extra', 'Plan.ENTERPRISE', 'Query.q', 'Query.workspace(first:)']);
    });

    it('notices a changed nullability, argument type and default value', () => {
      const { mismatches } = compareWithContract(sdl('w(id: ID!, first: Int = 50, tier: Plan = PRO): Plan'), sdl('w(id: ID, first: Int = 20, tier: Plan! = PRO): Plan!'));
      expect(mismatches).toEqual([
        'Query.w type: contract Plan, ours Plan!',
        'Query.w(id:) type: contract ID!, ours ID',
        'Query.w(first:) default: contract 50, ours 20',
        'Query.w(tier:) type: contract Plan, ours Plan!',
      ]);
    });

    it('notices an enum that grew values and a type of another kind', () => {
      const { mismatches } = compareWithContract(sdl('p: Plan', 'type K { a: Int }'), buildSchema('enum Plan { PLUS PRO ENTERPRISE FREE } input K { a: Int } type Query { p: Plan }'));
      expect(mismatches).toEqual(['Plan values: ours adds FREE', 'K kind: contract object, ours input']);
    });
  });
});
