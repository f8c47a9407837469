import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RequestTarget } from './request-target';

/** One request as a route sees it. */
export interface Exchange {
  request: IncomingMessage;
  response: ServerResponse;
  target: RequestTarget;
  requestId: string;
  log: () => Logger;
}

export interface Route {
  /** the exact path, or with `prefix: true` every path that starts with it */
  path: string;
  prefix?: boolean;
  /** the methods it answers; absent, every method reaches the handler (which answers 405 itself) */
  methods?: readonly string[];
  /**
   * Bounded by its own timeouts (gateway calls by OPENROUTER_TIMEOUT_MS, downloads by their
   * progress), not by the request timeout: only receiving its request body is.
   */
  longRunning?: boolean;
  handle(exchange: Exchange): Promise<void> | void;
}

export type RouteMatch = { kind: 'route'; route: Route } | { kind: 'method-not-allowed'; allow: string } | { kind: 'not-found' };

/** The service's routes: what the server dispatches through, the one place that lists them. */
export class RouteTable {
  private readonly exact = new Map<string, Route>();
  private readonly prefixes: Route[] = [];

  constructor(routes: readonly Route[]) {
    for (const route of routes) {
      if (route.prefix) this.prefixes.push(route);
      else if (this.exact.has(route.path)) throw new Error(`route ${route.path} listed twice`);
      else this.exact.set(route.path, route);
    }
  }

  match(pathname: string, method: string): RouteMatch {
    const route = this.exact.get(pathname) ?? this.prefixes.find((candidate) => pathname.startsWith(candidate.path));
    if (!route) return { kind: 'not-found' };
    if (route.methods && !route.methods.includes(method)) return { kind: 'method-not-allowed', allow: route.methods.join(', ') };
    return { kind: 'route', route };
  }
}
