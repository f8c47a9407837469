import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { IDE_ASSET_PREFIX } from '../http/graphql-ide.page';

/** Every path the service answers; any other is counted as `unmatched`, so a scan adds no series. */
const ROUTES: ReadonlySet<string> = new Set(['/graphql', '/', '/healthz', '/readyz', '/metrics', '/v1/chat/completions', '/v1/embeddings']);
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

export function routeLabelOf(pathname: string): string {
  if (ROUTES.has(pathname)) return pathname;
  return pathname.startsWith(IDE_ASSET_PREFIX) ? `${IDE_ASSET_PREFIX}*` : 'unmatched';
}

/** Requests by route, method and status, and their durations by route. */
export class HttpMetrics {
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly durations: Histogram<'route'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route, method and status (`aborted`: the connection closed before the answer ended).',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.durations = new Histogram({ name: 'http_request_duration_seconds', help: 'HTTP request durations by route, to the end of the answer.', labelNames: ['route'], buckets: DURATION_BUCKETS, registers });
  }

  /** Counts the request once its connection is done with it, answered or not. */
  track(request: IncomingMessage, response: ServerResponse, pathname: string): void {
    const started = process.hrtime.bigint();
    response.once('close', () => {
      const route = routeLabelOf(pathname);
      const method = request.method !== undefined && METHODS.has(request.method) ? request.method : 'OTHER';
      this.requests.inc({ route, method, status: response.writableFinished ? String(response.statusCode) : 'aborted' });
      this.durations.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
  }
}
