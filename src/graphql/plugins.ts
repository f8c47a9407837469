import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { BREAK, DocumentNode, visit } from 'graphql';
import { forbidden } from './app-error';
import type { GraphQLContext } from './context';
import { ErrorCode } from './error-code';
import { isInternalError } from './format-error';

/** Internal errors are logged with the request id, which is also what the client is given to quote. */
export function errorLoggingPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            if (!isInternalError(error)) continue;
            const original = unwrapResolverError(error) as Error;
            contextValue.log.error({ err: { name: original?.name, message: original?.message, stack: original?.stack }, path: error.path }, 'internal error');
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            if (error.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR) {
              (error.extensions as Record<string, unknown>).requestId = contextValue.requestId;
            }
          }
        },
      };
    },
  };
}

const SECRET_LIKE = /sk-or-[\x21-\x7e]{4,}/g;

/**
 * No error message may echo a submitted key: graphql-js repeats invalid variable values and
 * literals in its messages, so every string variable and anything key-shaped is cut out.
 */
export function secretScrubbingPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart({ request }) {
      const values = Object.values(request.variables ?? {})
        .filter((value): value is string => typeof value === 'string' && value.length >= 6)
        .sort((a, b) => b.length - a.length);
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            let message = error.message;
            for (const value of values) message = message.split(value).join('[redacted]');
            message = message.replace(SECRET_LIKE, '[redacted]');
            (error as { message: string }).message = message;
          }
        },
      };
    },
  };
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

/** In production, only platform admins may introspect the schema (the Playground sends their token). */
export function adminOnlyIntrospectionPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, contextValue }) {
          if (selectsIntrospection(document) && !contextValue.auth.isPlatformAdmin) {
            throw forbidden('Introspection is available to platform admins only');
          }
        },
      };
    },
  };
}
