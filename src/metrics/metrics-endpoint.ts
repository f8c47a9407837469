import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SecretMatcher } from '../auth/constant-time';
import type { ServiceMetrics } from './service-metrics';

export const METRICS_PATH = '/metrics';
const LISTENER_TIMEOUT_MS = 10_000;

function sendError(response: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify({ error: { code, message } }));
}

function bearerTokenOf(request: IncomingMessage): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

export interface MetricsListener {
  /** e.g. http://127.0.0.1:9464/metrics */
  url: string;
  close(): Promise<void>;
}

/**
 * `/metrics` in Prometheus's text format: on the main port only when `METRICS_TOKEN` is set (and
 * then only for that bearer token), and on a port of its own (`METRICS_PORT` on `METRICS_HOST`),
 * which its bind address protects, as scrapers on the host or its private network expect: no token
 * there. Neither configured: metrics are not served.
 */
export class MetricsEndpoint {
  private readonly token?: SecretMatcher;

  constructor(
    private readonly metrics: ServiceMetrics,
    token: string | undefined,
    private readonly logger: Logger,
  ) {
    this.token = token === undefined ? undefined : new SecretMatcher(token);
  }

  /** Whether the main port serves `/metrics`: only behind a token, since that port faces clients. */
  get onMainPort(): boolean {
    return this.token !== undefined;
  }

  /** On the main port: the token is required. */
  serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    return this.answer(request, response, true);
  }

  private async answer(request: IncomingMessage, response: ServerResponse, tokenRequired: boolean): Promise<void> {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return sendError(response, 405, 'METHOD_NOT_ALLOWED', 'Use GET', { allow: 'GET, HEAD' });
    }
    if (tokenRequired) {
      const given = bearerTokenOf(request);
      if (given === undefined || this.token === undefined || !this.token.matches(given)) {
        return sendError(response, 401, 'UNAUTHENTICATED', 'Metrics need the bearer token set in METRICS_TOKEN', { 'www-authenticate': 'Bearer realm="metrics"' });
      }
    }
    let text: string;
    try {
      text = await this.metrics.render();
    } catch (error) {
      this.logger.error({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'metrics: scrape failed');
      return sendError(response, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
    }
    response.writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : text);
  }

  /** The metrics port: `/metrics` and nothing else. */
  listen(port: number, host: string): Promise<MetricsListener> {
    const server: Server = createServer((request, response) => {
      // The request target is the client's text: compared, never parsed (`//` is no URL).
      const pathname = (request.url ?? '/').split('?', 1)[0];
      if (pathname !== METRICS_PATH) return sendError(response, 404, 'NOT_FOUND', 'Not found');
      this.answer(request, response, false).catch(() => response.destroy());
    });
    // A scrape is one small GET: nothing on this port needs Node's generous defaults.
    server.headersTimeout = LISTENER_TIMEOUT_MS;
    server.requestTimeout = LISTENER_TIMEOUT_MS;
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 50;
    return new Promise((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const { port: bound } = server.address() as AddressInfo;
        const shownHost = host.includes(':') ? `[${host}]` : host;
        resolveListen({
          url: `http://${shownHost}:${bound}${METRICS_PATH}`,
          close: () =>
            new Promise((resolveClose) => {
              server.close(() => resolveClose());
              server.closeAllConnections();
            }),
        });
      });
    });
  }
}
