import { Agent, errors as undiciErrors, request } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export class UpstreamError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable',
    readonly httpStatus: 502 | 504,
  ) {
    super(kind === 'timeout' ? 'OpenRouter did not answer in time' : 'OpenRouter could not be reached');
    this.name = 'UpstreamError';
  }
}

export function upstreamErrorOf(error: unknown): UpstreamError {
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new UpstreamError('timeout', 504);
  }
  return new UpstreamError('unreachable', 502);
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
