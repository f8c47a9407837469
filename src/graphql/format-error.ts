import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, GraphQLFormattedError } from 'graphql';
import { ArgumentValidationError } from 'type-graphql';
import { AppError } from '../errors/app-error';
import { ErrorCode } from '../errors/error-code';
import { variableErrorMessage } from './variable-error';

/** Codes that Apollo and graphql-js give to errors in the request itself; safe to show as they are. */
const REQUEST_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

const CLIENT_CODES = new Set<string>(Object.values(ErrorCode));

export const INTERNAL_ERROR_MESSAGE = 'Internal server error';

function validationMessage(error: ArgumentValidationError): string {
  const errors = (error.extensions.validationErrors ?? []) as Array<{ constraints?: Record<string, string> }>;
  const messages = errors.flatMap((entry) => Object.values(entry.constraints ?? {}));
  return messages.length > 0 ? messages.join('; ') : 'Invalid arguments';
}

/**
 * The domain error behind what Apollo hands over. graphql-js wraps one a resolver throws (with a
 * path); Apollo wraps one thrown before execution (a plugin, the context function) without one.
 */
function domainErrorOf(error: unknown): AppError | undefined {
  let cause = error;
  while (cause instanceof GraphQLError) cause = cause.originalError;
  return cause instanceof AppError ? cause : undefined;
}

/**
 * A domain error that refuses a request before execution (a plugin's check), as Apollo takes it:
 * the status rides on the GraphQL error, else Apollo answers 500. formatError shapes the body.
 */
export function refusalBeforeExecution(error: AppError, status: number): GraphQLError {
  return new GraphQLError(error.message, { originalError: error, extensions: { http: { status } } });
}

/** True for errors that are not the client's to see: they are masked and logged. */
export function isInternalError(error: unknown): boolean {
  if (domainErrorOf(error)) return false;
  const original = unwrapResolverError(error);
  if (original instanceof ArgumentValidationError) return false;
  const code = (original as { extensions?: { code?: unknown } })?.extensions?.code;
  return !(typeof code === 'string' && (REQUEST_ERROR_CODES.has(code) || CLIENT_CODES.has(code)));
}

/**
 * Shapes every error a client sees: a message and a code, never a stack, SQL text or the
 * validation library's echo of the submitted values.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const base = { locations: formatted.locations, path: formatted.path };
  const domain = domainErrorOf(error);
  // Its code and message only: `retryable`, details and the upstream status are the gateway's.
  if (domain) return { ...base, message: domain.message, extensions: { code: domain.code } };
  const original = unwrapResolverError(error);
  if (original instanceof ArgumentValidationError) {
    return { ...base, message: validationMessage(original), extensions: { code: ErrorCode.BAD_USER_INPUT } };
  }
  if (!isInternalError(error)) {
    const message = variableErrorMessage(original, formatted.message) ?? formatted.message;
    return { ...base, message, extensions: { code: formatted.extensions?.code } };
  }
  return { ...base, message: INTERNAL_ERROR_MESSAGE, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
}

/** graphql-js ends a message about an unknown field, argument, type or enum value with "Did you mean …?". */
const SUGGESTION = /\s*Did you mean [^]*\?$/;

/**
 * formatError, and in production without graphql-js's suggestions: they would spell out the
 * schema to callers who may not introspect it.
 */
export function formatErrorFor(options: { hideSuggestions: boolean }): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  if (!options.hideSuggestions) return formatError;
  return (formatted, error) => {
    const shaped = formatError(formatted, error);
    return { ...shaped, message: shaped.message.replace(SUGGESTION, '') };
  };
}
