import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { loggableError } from '../logging/loggable-error';
import { lazyChild } from '../logging/logger';
import { isClientAbort } from './client-abort';
import { requestIdOf } from './request-id';
import { requestTargetOf } from './request-target';
import type { Exchange, RouteTable } from './route-table';

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** A socket that is answered and closed; the grace lets the answer reach a client still sending. */
const CLOSE_GRACE_MS = 1_000;

/**
 * The request is destroyed too: once answered, Node no longer ends it when its socket closes, and
 * a handler still reading its body would wait for good.
 */
function answerAndClose(response: ServerResponse, status: number, body: unknown): void {
  const close = () => {
    response.req.destroy();
    response.req.socket.destroy();
  };
  if (response.headersSent) return close();
  sendJson(response, status, body, { connection: 'close' });
  setTimeout(close, CLOSE_GRACE_MS).unref();
}

export interface FrontDoorOptions {
  routes: RouteTable;
  logger: Logger;
  /** receiving and answering an ordinary request */
  requestTimeoutMs: number;
  /** receiving a long-running route's request (its answer is bounded by its own timeouts) */
  longRunningReceiveTimeoutMs: number;
  /** sees every routed request (metrics, the request log) */
  observe?: (exchange: Exchange) => void;
}

/**
 * The one entry of every request: whatever the request line, path, method or headers, it answers
 * (400, 404, 405, 408, or the route's answer), and a failure inside a route is answered 500 with
 * the request id and logged. The returned handler never rejects.
 */
export function frontDoor(options: FrontDoorOptions): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  const { routes, logger } = options;
  return async (request, response) => {
    const requestId = requestIdOf(request);
    const log = lazyChild(logger, { requestId });
    try {
      response.setHeader('x-request-id', requestId);
      const target = requestTargetOf(request.url);
      if (!target) return answerAndClose(response, 400, { error: 'bad request target: use a path such as /graphql' });
      const exchange: Exchange = { request, response, target, requestId, log };
      options.observe?.(exchange);
      const match = routes.match(target.pathname, request.method ?? '');
      if (match.kind === 'not-found') return sendJson(response, 404, { error: 'not found' });
      if (match.kind === 'method-not-allowed') return sendJson(response, 405, { error: `method not allowed: use ${match.allow}` }, { allow: match.allow });
      const { route } = match;
      const timeoutMs = route.longRunning ? options.longRunningReceiveTimeoutMs : options.requestTimeoutMs;
      const deadline = setTimeout(() => {
        if (response.writableEnded || (route.longRunning && request.complete)) return;
        log().info({ path: target.pathname, timeoutMs }, 'request timed out');
        answerAndClose(response, 408, { error: 'request timeout' });
      }, timeoutMs);
      response.once('close', () => clearTimeout(deadline));
      await route.handle(exchange);
    } catch (error) {
      if (isClientAbort(error, request)) {
        log().info({ err: loggableError(error) }, 'client went away');
        response.destroy();
        return;
      }
      log().error({ err: loggableError(error) }, 'unhandled request error');
      if (!response.headersSent) sendJson(response, 500, { error: 'internal server error', requestId });
      else response.destroy();
    }
  };
}

/**
 * CONNECT and Upgrade requests bypass the request handler: without these listeners Node drops the
 * socket unanswered. The service tunnels nothing and speaks no WebSocket.
 */
export function refuseTunnels(server: Server): void {
  const refuse = (_request: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 32\r\n\r\n{"error":"nothing to tunnel to"}');
  };
  server.on('connect', refuse);
  server.on('upgrade', refuse);
}
