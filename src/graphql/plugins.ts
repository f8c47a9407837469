import { ApolloServerPlugin, GraphQLRequestListener, HeaderMap } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { BREAK, DocumentNode, GraphQLError, visit } from 'graphql';
import { forbidden } from '../errors/app-error';
import type { GraphQLContext } from './context';
import { ErrorCode } from '../errors/error-code';
import { isInternalError, refusalBeforeExecution } from './format-error';
import { invalidVariablesOf } from './variable-error';

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
 * No error message repeats a variable's value (formatError names the variable instead), but
 * graphql-js quotes invalid literals of the document itself: anything key-shaped is cut out. One
 * linear pass per message, whatever the variables.
 */
function cutKeyShapedText(errors: ResponseErrors): void {
  for (const error of errors) error.message = error.message.replace(SECRET_LIKE, '[redacted]');
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
 * internal errors logged and tagged with the request id, key-shaped text cut from error messages,
 * and (in production) introspection for platform admins only, as the GraphQL IDE sends their token.
 */
export function requestPoliciesPlugin(options: { adminOnlyIntrospection: boolean }): ApolloServerPlugin<GraphQLContext> {
  const listener: GraphQLRequestListener<GraphQLContext> = {
    async didResolveOperation({ document, operation, contextValue }) {
      // The schema has no subscription root: graphql-js would fail it during execution, answered 500.
      if (operation?.operation === 'subscription') {
        throw new GraphQLError('Subscriptions are not supported', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
      }
      if (options.adminOnlyIntrospection && selectsIntrospection(document) && !contextValue.auth.isPlatformAdmin) {
        throw refusalBeforeExecution(forbidden('Introspection is available to platform admins only'), 403);
      }
    },
    async responseForOperation({ schema, operation, request }) {
      const invalid = invalidVariablesOf(schema, operation, request.variables);
      if (invalid.length === 0) return null;
      return { http: { status: 400, headers: new HeaderMap() }, body: { kind: 'single', singleResult: { errors: invalid } } };
    },
    async didEncounterErrors({ errors, contextValue }) {
      logInternalErrors(errors, contextValue);
    },
    async willSendResponse({ response, contextValue }) {
      if (response.body.kind !== 'single' || !response.body.singleResult.errors) return;
      const errors = response.body.singleResult.errors as ResponseErrors;
      tagInternalErrors(errors, contextValue.requestId);
      cutKeyShapedText(errors);
    },
  };
  return {
    async requestDidStart() {
      return listener;
    },
  };
}
