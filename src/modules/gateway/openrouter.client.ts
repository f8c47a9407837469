import { Agent, errors as undiciErrors, request } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** OpenRouter did not answer (in time): nothing was billed, and a later attempt may get through. */
export class UpstreamError extends AppError {
  /** what happened, for the logs */
  readonly reason: string;

  constructor(readonly kind: 'timeout' | 'unreachable') {
    const reason = kind === 'timeout' ? 'OpenRouter did not answer in time' : 'OpenRouter could not be reached';
    super(kind === 'timeout' ? ErrorCode.UPSTREAM_TIMEOUT : ErrorCode.UPSTREAM_UNREACHABLE, `${reason}; nothing was billed. Retry later.`, { retryable: true });
    this.name = 'UpstreamError';
    this.reason = reason;
  }
}

export function upstreamErrorOf(error: unknown): UpstreamError {
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new UpstreamError('timeout');
  }
  return new UpstreamError('unreachable');
}

/** The OpenRouter endpoints the gateway relays, below the base URL. */
export type UpstreamEndpoint = 'chat/completions' | 'embeddings';

/** OpenRouter's chat completions and embeddings over a keep-alive connection pool. */
export class OpenRouterClient {
  private readonly agent: Agent;

  constructor(
    private readonly baseUrl: string,
    timeoutMs: number,
  ) {
    this.agent = new Agent({
      connections: 256,
      keepAliveTimeout: 30_000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connect: { timeout: Math.min(timeoutMs, 10_000) },
    });
  }

  chatCompletions(key: string, body: string, requestId: string): Promise<UpstreamResponse> {
    return this.post('chat/completions', key, body, requestId);
  }

  /** POST to one of OpenRouter's inference endpoints. */
  /** `signal` cuts the call, its answer's body included. */
  async post(endpoint: UpstreamEndpoint, key: string, body: string, requestId: string, signal?: AbortSignal): Promise<UpstreamResponse> {
    try {
      const response = await request(`${this.baseUrl}/${endpoint}`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'x-request-id': requestId,
        },
        body,
        signal,
      });
      return { status: response.statusCode, headers: response.headers, body: response.body };
    } catch (error) {
      throw upstreamErrorOf(error);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
