import type { IncomingMessage, ServerResponse } from 'node:http';

export interface CorsPolicyOptions {
  /** exact origins (`https://app.example.com`); any other origin gets no CORS header at all */
  origins: readonly string[];
  methods: readonly string[];
  /** request headers a frontend may send (lower case) */
  allowedHeaders: readonly string[];
  /** response headers a frontend may read beyond the CORS-safelisted ones */
  exposedHeaders: readonly string[];
  /** how long a browser may reuse a preflight answer */
  maxAgeSeconds: number;
}

/** What `apply` did: a preflight is answered in full; anything else goes on to its route. */
export type CorsOutcome = 'preflight-answered' | 'continue';

/**
 * Cross-origin access for browser frontends on a route (GraphQL, the usage exports): exact
 * origins only, never with credentials (callers send bearer tokens, not cookies). The answer
 * depends on the Origin header, so every answer says so (`Vary: Origin`) whether or not it allows
 * the origin, lest a shared cache hand one origin's answer to another.
 */
export class CorsPolicy {
  private readonly origins: ReadonlySet<string>;
  private readonly preflightHeaders: Record<string, string>;
  private readonly exposedHeaders: string;

  constructor(options: CorsPolicyOptions) {
    this.origins = new Set(options.origins);
    this.preflightHeaders = {
      'access-control-allow-methods': options.methods.join(', '),
      'access-control-allow-headers': options.allowedHeaders.join(', '),
      'access-control-max-age': String(options.maxAgeSeconds),
    };
    this.exposedHeaders = options.exposedHeaders.join(', ');
  }

  /** The request's Origin when it is one of the allowed ones. */
  allowedOriginOf(request: IncomingMessage): string | undefined {
    const origin = request.headers.origin;
    return typeof origin === 'string' && this.origins.has(origin) ? origin : undefined;
  }

  /**
   * Adds this request's CORS headers to `response`, and answers it when it is a preflight
   * (`OPTIONS` with `Access-Control-Request-Method`): 204 with the allowed methods and headers for
   * an allowed origin, 204 without any CORS header for another one, so the browser refuses.
   */
  apply(request: IncomingMessage, response: ServerResponse): CorsOutcome {
    response.setHeader('vary', 'Origin');
    const origin = this.allowedOriginOf(request);
    const preflight = request.method === 'OPTIONS' && request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined;
    if (origin) {
      response.setHeader('access-control-allow-origin', origin);
      if (!preflight && this.exposedHeaders) response.setHeader('access-control-expose-headers', this.exposedHeaders);
    }
    if (!preflight) return 'continue';
    request.resume();
    response.writeHead(204, origin ? this.preflightHeaders : {}).end();
    return 'preflight-answered';
  }
}

/**
 * Headers whose presence proves that a browser sent a preflight first, which is what Apollo's
 * CSRF prevention asks of a request with no JSON content-type (a GET, say). Apollo's own two, and
 * `authorization`: not CORS-safelisted, so no page can attach it without a preflight that
 * `CORS_ORIGINS` answers.
 */
export const PREFLIGHT_PROVING_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight', 'authorization'];

/** The policy of `/graphql` (and of the usage exports): read and write with a bearer token. */
export function graphqlCorsPolicy(origins: readonly string[]): CorsPolicy {
  return new CorsPolicy({
    origins,
    methods: ['GET', 'POST'],
    allowedHeaders: ['authorization', 'content-type'],
    exposedHeaders: ['x-request-id'],
    maxAgeSeconds: 600,
  });
}
