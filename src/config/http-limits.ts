/**
 * SPEC.md "Hostile input": the work any request can cause, bounded before the caller is known.
 * Every field has the SPEC's default and an environment variable of its own (README, Configuration).
 */
export interface HttpLimits {
  /** GraphQL body cap for a request without a valid credential (`GRAPHQL_MAX_BODY_BYTES_ANONYMOUS`) */
  anonymousBodyBytes: number;
  /** GraphQL body cap for an authenticated request (`GRAPHQL_MAX_BODY_BYTES`) */
  authenticatedBodyBytes: number;
  /** time to receive a request's headers (`HTTP_HEADERS_TIMEOUT_MS`) */
  headersTimeoutMs: number;
  /** time to receive and answer a request, gateway calls excepted (`HTTP_REQUEST_TIMEOUT_MS`) */
  requestTimeoutMs: number;
  /** how long an idle keep-alive connection stays open (`HTTP_KEEP_ALIVE_TIMEOUT_MS`) */
  keepAliveTimeoutMs: number;
  /** open connections at most; beyond, new ones are closed at once (`HTTP_MAX_CONNECTIONS`) */
  maxConnections: number;
  /**
   * GraphQL bodies over the anonymous cap in progress at once, in bytes (`GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT`):
   * one more waits up to 2 s for room, then is answered 429. At least `authenticatedBodyBytes`.
   */
  graphqlBodyBytesInFlight: number;
  /** GraphQL requests one principal may have in progress at once (`GRAPHQL_MAX_CONCURRENT_PER_PRINCIPAL`) */
  graphqlConcurrentPerPrincipal: number;
  /** nesting of arrays and objects in any JSON a request carries (`JSON_MAX_DEPTH`) */
  jsonMaxDepth: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  anonymousBodyBytes: 64 * 1024,
  authenticatedBodyBytes: 2 * 1024 * 1024,
  // Two bodies at the authenticated cap.
  graphqlBodyBytesInFlight: 4 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 4096,
  graphqlConcurrentPerPrincipal: 32,
  // The deepest legitimate body (a GraphQL request with nested input objects) stays below 20.
  jsonMaxDepth: 64,
});

/** Each limit's variable, with the range it accepts. */
export const HTTP_LIMIT_VARIABLES: ReadonlyArray<[keyof HttpLimits, string, number, number]> = [
  ['anonymousBodyBytes', 'GRAPHQL_MAX_BODY_BYTES_ANONYMOUS', 1024, 64 * 1024 * 1024],
  ['authenticatedBodyBytes', 'GRAPHQL_MAX_BODY_BYTES', 1024, 64 * 1024 * 1024],
  ['graphqlBodyBytesInFlight', 'GRAPHQL_MAX_BODY_BYTES_IN_FLIGHT', 1024, 1024 * 1024 * 1024],
  ['headersTimeoutMs', 'HTTP_HEADERS_TIMEOUT_MS', 100, 600_000],
  ['requestTimeoutMs', 'HTTP_REQUEST_TIMEOUT_MS', 100, 3_600_000],
  ['keepAliveTimeoutMs', 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 100, 600_000],
  ['maxConnections', 'HTTP_MAX_CONNECTIONS', 1, 1_000_000],
  ['graphqlConcurrentPerPrincipal', 'GRAPHQL_MAX_CONCURRENT_PER_PRINCIPAL', 1, 100_000],
  ['jsonMaxDepth', 'JSON_MAX_DEPTH', 2, 1000],
];
