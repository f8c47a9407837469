import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { DocumentNode, getOperationAST, GraphQLSchema, Kind, OperationDefinitionNode, SelectionSetNode } from 'graphql';
import { Counter, Histogram, Registry } from 'prom-client';
import { ErrorCode } from '../errors/error-code';

type Labels = 'root_field' | 'operation' | 'outcome';

/** Nothing parsed: no document, or no operation in it to run. */
const NO_OPERATION = '_none';
/** A root field the schema does not have (the request failed validation). */
const UNKNOWN_FIELD = '_unknown';
const META_FIELDS: ReadonlySet<string> = new Set(['__typename', '__schema', '__type']);
const KNOWN_CODES: ReadonlySet<string> = new Set<string>([...Object.values(ErrorCode), ...Object.values(ApolloServerErrorCode)]);
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface OperationLabels {
  operation: string;
  rootFields: string[];
}

const UNPARSED: OperationLabels = { operation: NO_OPERATION, rootFields: [NO_OPERATION] };

function rootTypeOf(schema: GraphQLSchema, operation: OperationDefinitionNode) {
  if (operation.operation === 'query') return schema.getQueryType();
  return operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
}

/**
 * The root fields an operation selects, by their schema names (aliases and fragments resolved),
 * each checked against the schema: a name the client made up becomes `_unknown`, never a label.
 */
function rootFieldsOf(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const fields = rootTypeOf(schema, operation)?.getFields() ?? {};
  const fragments = new Map(document.definitions.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition] as const] : [])));
  const names = new Set<string>();
  const visited = new Set<string>();
  const collect = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        names.add(Object.hasOwn(fields, name) || META_FIELDS.has(name) ? name : UNKNOWN_FIELD);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet);
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet);
        else names.add(UNKNOWN_FIELD);
      }
    }
  };
  collect(operation.selectionSet);
  return names.size > 0 ? [...names] : [UNKNOWN_FIELD];
}

/**
 * Apollo keeps one parsed document per distinct query, so each operation of it is walked once.
 * Only operations found in the document are kept: an operation name is the client's choice.
 */
const labelsByDocument = new WeakMap<DocumentNode, Map<string, OperationLabels>>();

function operationLabelsOf(schema: GraphQLSchema, document: DocumentNode | undefined, operationName: string | undefined): OperationLabels {
  if (!document) return UNPARSED;
  const key = operationName ?? '';
  const known = labelsByDocument.get(document)?.get(key);
  if (known) return known;
  const operation = getOperationAST(document, operationName);
  if (!operation) return UNPARSED;
  const labels = { operation: operation.operation, rootFields: rootFieldsOf(schema, document, operation) };
  let byName = labelsByDocument.get(document);
  if (!byName) {
    byName = new Map();
    labelsByDocument.set(document, byName);
  }
  byName.set(key, labels);
  return labels;
}

/** `ok`, or the code of the answer's first error (codes are the server's, from a fixed set). */
function outcomeOf(requestContext: GraphQLRequestContext<object>): string {
  const body = requestContext.response.body;
  const errors = body?.kind === 'single' ? body.singleResult.errors : undefined;
  if (!errors || errors.length === 0) return 'ok';
  const code = errors[0].extensions?.code;
  return typeof code === 'string' && KNOWN_CODES.has(code) ? code : 'OTHER_ERROR';
}

/** GraphQL operations by root field, operation type and outcome, with their durations. */
export class GraphQLMetrics {
  private readonly operations: Counter<Labels>;
  private readonly durations: Histogram<Labels>;

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames: Labels[] = ['root_field', 'operation', 'outcome'];
    this.operations = new Counter({
      name: 'graphql_operations_total',
      help: 'GraphQL operations by root field (one count per root field selected), operation type and outcome (ok or the first error code).',
      labelNames,
      registers,
    });
    this.durations = new Histogram({ name: 'graphql_operation_duration_seconds', help: 'GraphQL operation durations, from the request to the answer, by root field, operation type and outcome.', labelNames, buckets: DURATION_BUCKETS, registers });
  }

  /** The Apollo plugin that records every operation Apollo runs or refuses. */
  plugin(): ApolloServerPlugin<object> {
    return {
      requestDidStart: async () => {
        const started = process.hrtime.bigint();
        return {
          willSendResponse: async (requestContext) => {
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            const { operation, rootFields } = operationLabelsOf(requestContext.schema, requestContext.document, requestContext.request.operationName ?? undefined);
            const outcome = outcomeOf(requestContext);
            for (const field of rootFields) {
              const labels = { root_field: field, operation, outcome };
              this.operations.inc(labels);
              this.durations.observe(labels, seconds);
            }
          },
        };
      },
    };
  }
}
