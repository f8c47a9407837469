import {
  astFromValue,
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

export interface ContractComparison {
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
export function compareWithContract(contract: GraphQLSchema, ours: GraphQLSchema): ContractComparison {
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
export function removedCoordinate(description: string): string | undefined {
  const arg = /^(\w+\.\w+) arg (\w+) was removed\.$/.exec(description);
  if (arg) return `${arg[1]}(${arg[2]}:)`;
  const enumValue = /^(\w+) was removed from enum type (\w+)\.$/.exec(description);
  if (enumValue) return `${enumValue[2]}.${enumValue[1]}`;
  return /^(\w+(?:\.\w+)?) was removed\.$/.exec(description)?.[1];
}

export interface ContractVerdict {
  /** breaking changes against the contract that are not explained by a pending coordinate */
  breakingChanges: string[];
  /** types, defaults or enum values that exist on both sides but differ */
  mismatches: string[];
  /** contract coordinates we lack that the pending list does not name */
  missingButNotPending: string[];
  /** pending coordinates that have landed: the list must shrink */
  pendingButAlreadyBuilt: string[];
}

/**
 * The whole check: our schema contains the contract exactly, except for the coordinates listed as
 * pending, and the pending list names nothing that has landed (so it can only shrink).
 */
export function judgeAgainstContract(contract: GraphQLSchema, ours: GraphQLSchema, pending: readonly string[]): ContractVerdict {
  const { missing, mismatches } = compareWithContract(contract, ours);
  const breakingChanges = findBreakingChanges(contract, ours)
    .filter((change) => !pending.includes(removedCoordinate(change.description) ?? ''))
    .map((change) => `${change.type}: ${change.description}`);
  return {
    breakingChanges,
    mismatches,
    missingButNotPending: missing.filter((coordinate) => !pending.includes(coordinate)),
    pendingButAlreadyBuilt: pending.filter((coordinate) => !missing.includes(coordinate)),
  };
}

export function verdictPasses(verdict: ContractVerdict): boolean {
  return Object.values(verdict).every((list: string[]) => list.length === 0);
}

/** The pending list's text: one coordinate per line; `#` starts a comment. */
export function parsePendingList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
}
