import { coerceInputValue, getLocation, GraphQLError, GraphQLFormattedError, GraphQLSchema, isInputType, Kind, OperationDefinitionNode, print, typeFromAST } from 'graphql';
import { ErrorCode } from '../errors/error-code';
import { precheckVariable } from './variable-precheck';

const INVALID_VARIABLE = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /;
/**
 * graphql-js ends the message with what was wrong, in words from the schema. Only that tail is
 * searched: a pattern run over the whole message would scan the value, which the client chose.
 */
const DETAIL_TAIL_LENGTH = 600;
/** The endings of graphql-js's coercion messages that quote names from the schema, never a value. */
const SAFE_DETAILS: RegExp[] = [
  /; (Field "[_A-Za-z]\w*" of required type "[^"\n]{1,200}" was not provided\.)$/,
  /; (Expected value of type "[^"\n]{1,200}", found null\.)$/,
  /; (Expected type "[_A-Za-z]\w*" to be an object\.)$/,
];
const UNKNOWN_FIELD = /" is not defined by type "([_A-Za-z]\w*)"\.(?: Did you mean [^?\n]{0,300}\?)?$/;

/**
 * graphql-js quotes a variable's invalid value in its message, twice, whatever its size (a megabyte
 * string, a list, an object of a thousand keys). This one names the variable and its declared type
 * instead, and keeps only details that come from the schema. Undefined for any other error.
 */
export function variableErrorMessage(error: unknown, message: string): string | undefined {
  const match = INVALID_VARIABLE.exec(message);
  if (!match) return undefined;
  const node = error instanceof GraphQLError ? error.nodes?.[0] : undefined;
  const type = node?.kind === Kind.VARIABLE_DEFINITION ? `"${print(node.type)}"` : 'its declared type';
  return describeInvalidVariable(match[1], type, message);
}

/** `detail` ends with graphql-js's reason (after "; "); only its tail is read. */
function describeInvalidVariable(name: string, type: string, detail: string): string {
  const base = `Variable "$${name}" got an invalid value; expected ${type}`;
  const tail = detail.slice(-DETAIL_TAIL_LENGTH);
  for (const pattern of SAFE_DETAILS) {
    const found = pattern.exec(tail);
    if (found) return `${base}. ${found[1]}`;
  }
  const unknown = UNKNOWN_FIELD.exec(tail);
  if (unknown) return `${base}. It has a field that type "${unknown[1]}" does not define.`;
  return `${base}.`;
}

/**
 * The operation's variables coerced before execution, with errors that name each variable and its
 * type: graphql-js's own coercion would first write every invalid value into its messages (a
 * 2 MB string three times over), which formatError then throws away. Missing and null required
 * variables are left to graphql-js: those messages quote nothing. Variables of built-in scalars and
 * enums are decided by precheckVariable, without a message. Empty when all are valid.
 */
export function invalidVariablesOf(schema: GraphQLSchema, operation: OperationDefinitionNode, inputs: Record<string, unknown> | undefined): GraphQLFormattedError[] {
  const errors: GraphQLFormattedError[] = [];
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    const type = typeFromAST(schema, definition.type);
    if (!type || !isInputType(type) || !inputs || !Object.prototype.hasOwnProperty.call(inputs, name) || inputs[name] === null) continue;
    const verdict = precheckVariable(inputs[name], type);
    if (verdict === 'valid') continue;
    let reason: string | undefined;
    if (verdict === 'unknown') {
      coerceInputValue(inputs[name], type, (_path, _value, error) => {
        reason ??= error.message;
      });
      if (reason === undefined) continue;
    }
    const location = definition.loc ? getLocation(definition.loc.source, definition.loc.start) : undefined;
    errors.push({
      // A leaf's reason is never one of SAFE_DETAILS: without it the message is the same.
      message: describeInvalidVariable(name, `"${print(definition.type)}"`, reason === undefined ? '' : `; ${reason}`),
      ...(location ? { locations: [location] } : {}),
      extensions: { code: ErrorCode.BAD_USER_INPUT },
    });
  }
  return errors;
}
