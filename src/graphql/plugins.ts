import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { BREAK, DocumentNode, GraphQLError, visit } from 'graphql';
import { forbidden } from './app-error';
import type { GraphQLContext } from './context';
import { ErrorCode } from './error-code';
import { isInternalError } from './format-error';

type ResponseErrors = Array<{ message: string; extensions?: Record<string, unknown> }>;

/** Internal errors are logged with the request id, which is also what the client is given to quote. */
function logInternalErrors(errors: readonly GraphQLError[], context: GraphQLContext): void {
  for (const error of errors) {
    if (!isInternalError(error)) continue;
    const original = unwrapResolverError(error) as Error;
    context.log.error({ err: { name: original?.name, message: original?.message, stack: original?.stack }, path: error.path }, 'internal error');
  }
}

function tagInternalErrors(errors: ResponseErrors, requestId: string): void {
  for (const error of errors) {
    if (error.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR) error.extensions.requestId = requestId;
  }
}

const SECRET_LIKE = /sk-or-[\x21-\x7e]{4,}/g;

/**
 * No error message may echo a submitted key: graphql-js repeats invalid variable values and
 * literals in its messages, so every string variable and anything key-shaped is cut out.
 */
function scrubSecrets(errors: ResponseErrors, variables: Record<string, unknown> | undefined): void {
  const values = Object.values(variables ?? {})
    .filter((value): value is string => typeof value === 'string' && value.length >= 6)
    .sort((a, b) => b.length - a.length);
  for (const error of errors) {
    let message = error.message;
    for (const value of values) message = message.split(value).join('[redacted]');
    error.message = message.replace(SECRET_LIKE, '[redacted]');
  }
}

/** Apollo reuses one parsed document per distinct query, so each is walked once, not per request. */
const introspectionByDocument = new WeakMap<DocumentNode, boolean>();

function selectsIntrospection(document: DocumentNode): boolean {
  const known = introspectionByDocument.get(document);
  if (known !== undefined) return known;
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') {
        found = true;
        return BREAK;
      }
      return undefined;
    },
  });
  introspectionByDocument.set(document, found);
  return found;
}

/**
 * The service's request policies in one plugin, since Apollo calls every plugin on every request:
 * internal errors logged and tagged with the request id, secrets scrubbed from error messages,
 * and (in production) introspection for platform admins only, as the GraphQL IDE sends their token.
 */
export function requestPoliciesPlugin(options: { adminOnlyIntrospection: boolean }): ApolloServerPlugin<GraphQLContext> {
  const listener: GraphQLRequestListener<GraphQLContext> = {
    async didResolveOperation({ document, contextValue }) {
      if (options.adminOnlyIntrospection && selectsIntrospection(document) && !contextValue.auth.isPlatformAdmin) {
        throw forbidden('Introspection is available to platform admins only');
      }
    },
    async didEncounterErrors({ errors, contextValue }) {
      logInternalErrors(errors, contextValue);
    },
    async willSendResponse({ request, response, contextValue }) {
      if (response.body.kind !== 'single' || !response.body.singleResult.errors) return;
      const errors = response.body.singleResult.errors as ResponseErrors;
      tagInternalErrors(errors, contextValue.requestId);
      scrubSecrets(errors, request.variables);
    },
  };
  return {
    async requestDidStart() {
      return listener;
    },
  };
}
