import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloServer, HeaderMap } from '@apollo/server';
import type { GraphQLContext } from '../graphql/context';
import { readBody, BodyTooLargeError } from './read-body';

/** GraphQL bodies may carry a key of up to a megabyte (so it can be refused with a clear error). */
const MAX_GRAPHQL_BODY_BYTES = 2 * 1024 * 1024;

function headerMapOf(request: IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

/**
 * Apollo Server on plain node:http: the service needs three routes beside GraphQL and streams
 * gateway responses, which a framework layer would only slow down.
 */
export function graphqlHandler(apollo: ApolloServer<GraphQLContext>, contextFor: (request: IncomingMessage, response: ServerResponse) => Promise<GraphQLContext>) {
  return async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    let body: unknown;
    if (request.method === 'POST') {
      let raw: Buffer;
      try {
        raw = await readBody(request, MAX_GRAPHQL_BODY_BYTES);
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          response.writeHead(413, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'Request body too large', extensions: { code: 'BAD_REQUEST' } }] }));
          return;
        }
        throw error;
      }
      const contentType = request.headers['content-type'] ?? '';
      if (raw.length > 0 && contentType.includes('application/json')) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] }));
          return;
        }
      } else {
        body = raw.toString('utf8');
      }
    }
    const result = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: request.method ?? 'GET', headers: headerMapOf(request), search: url.search, body },
      context: () => contextFor(request, response),
    });
    for (const [name, value] of result.headers) response.setHeader(name, value);
    response.statusCode = result.status ?? 200;
    if (result.body.kind === 'complete') {
      response.end(result.body.string);
      return;
    }
    for await (const chunk of result.body.asyncIterator) response.write(chunk);
    response.end();
  };
}
