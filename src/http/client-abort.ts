import type { IncomingMessage } from 'node:http';

const ABORT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED']);

/** A request that failed because its client went away: the client's doing, logged at info, not error. */
export function isClientAbort(error: unknown, request: IncomingMessage): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && ABORT_CODES.has(code)) return true;
  return request.socket.destroyed && !request.complete;
}
