import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloServer, HeaderMap } from '@apollo/server';
import type { GraphQLContext } from '../graphql/context';
import { ErrorCode } from '../errors/error-code';
import { jsonDepthExceeds } from './json-depth';
import { GraphqlBody, LargeBodySlots, readGraphqlBody } from './large-body-slots';
import { BodyTooLargeError } from './read-body';
import type { RequestTarget } from './request-target';

export interface GraphqlRequestBounds {
  /** the body cap for this caller: anonymous callers get far less than authenticated ones */
  maxBodyBytes: number;
  /** arrays and objects inside one another in the body or the GET parameters */
  jsonMaxDepth: number;
}

function headerMapOf(request: IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

function refuse(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] }));
}

/** 429 with the GraphQL error shape, so clients read `extensions.code` as for any other refusal. */
export function refuseRateLimited(response: ServerResponse, message: string): void {
  // Its body is never read: the connection closes rather than drain it.
  response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' }).end(JSON.stringify({ errors: [{ message, extensions: { code: ErrorCode.RATE_LIMITED } }] }));
}

/** GET carries `variables` and `extensions` as JSON in the query string: the same depth bound applies. */
function searchTooDeep(search: string, maxDepth: number): boolean {
  if (search === '') return false;
  const params = new URLSearchParams(search);
  return ['variables', 'extensions'].some((name) => params.getAll(name).some((value) => jsonDepthExceeds(value, maxDepth)));
}

/**
 * Apollo Server on plain node:http: the service needs three routes beside GraphQL and streams
 * gateway responses, which a framework layer would only slow down.
 */
export function graphqlHandler(apollo: ApolloServer<GraphQLContext>, largeBodies: LargeBodySlots) {
  return async (request: IncomingMessage, response: ServerResponse, target: RequestTarget, bounds: GraphqlRequestBounds, contextFor: () => Promise<GraphQLContext>): Promise<void> => {
    if (searchTooDeep(target.search, bounds.jsonMaxDepth)) return refuse(response, 400, `JSON nested deeper than ${bounds.jsonMaxDepth} levels`);
    let read: GraphqlBody | undefined;
    if (request.method === 'POST') {
      try {
        read = await readGraphqlBody(request, bounds.maxBodyBytes, largeBodies);
      } catch (error) {
        // The rest of the body is not read: the connection closes instead.
        if (error instanceof BodyTooLargeError) return refuse(response, 413, `Request body larger than ${bounds.maxBodyBytes} bytes`, { connection: 'close' });
        throw error;
      }
      if (read.kind === 'busy') return refuseRateLimited(response, `More than ${largeBodies.count} bodies over ${largeBodies.smallBodyBytes} bytes in progress at once; retry in a moment`);
    }
    // A large body's slot is held until the answer is sent: what its parsing built is garbage by then.
    const held = read?.kind === 'read' ? read : undefined;
    try {
      await answer(apollo, request, response, target, bounds, held?.bytes, contextFor);
    } finally {
      held?.release();
    }
  };
}

async function answer(apollo: ApolloServer<GraphQLContext>, request: IncomingMessage, response: ServerResponse, target: RequestTarget, bounds: GraphqlRequestBounds, raw: Buffer | undefined, contextFor: () => Promise<GraphQLContext>): Promise<void> {
  let body: unknown;
  if (raw) {
    const contentType = request.headers['content-type'] ?? '';
    const text = raw.toString('utf8');
    if (raw.length > 0 && contentType.includes('application/json')) {
      if (jsonDepthExceeds(text, bounds.jsonMaxDepth)) return refuse(response, 400, `JSON nested deeper than ${bounds.jsonMaxDepth} levels`);
      try {
        body = JSON.parse(text);
      } catch {
        return refuse(response, 400, 'Request body is not valid JSON');
      }
    } else {
      body = text;
    }
  }
  const result = await apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: request.method ?? 'GET', headers: headerMapOf(request), search: target.search, body },
    context: contextFor,
  });
  for (const [name, value] of result.headers) response.setHeader(name, value);
  response.statusCode = result.status ?? 200;
  if (result.body.kind === 'complete') {
    response.end(result.body.string);
    return;
  }
  for await (const chunk of result.body.asyncIterator) response.write(chunk);
  response.end();
}
