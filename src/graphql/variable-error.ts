import { GraphQLError, Kind, print } from 'graphql';

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
  const base = `Variable "$${match[1]}" got an invalid value; expected ${type}`;
  const tail = message.slice(-DETAIL_TAIL_LENGTH);
  for (const pattern of SAFE_DETAILS) {
    const detail = pattern.exec(tail);
    if (detail) return `${base}. ${detail[1]}`;
  }
  const unknown = UNKNOWN_FIELD.exec(tail);
  if (unknown) return `${base}. It has a field that type "${unknown[1]}" does not define.`;
  return `${base}.`;
}
