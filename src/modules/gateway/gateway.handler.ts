import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { bearerToken } from '../../auth/bearer';
import { SecretMatcher } from '../../auth/constant-time';
import { AppError, unauthenticated } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import type { GatewayRequest, GatewayResponse } from './gateway-exchange';
import type { InferenceGateway } from './inference-gateway';
import type { UpstreamEndpoint } from './openrouter.client';
import { InferencePath } from '../usage/usage.enums';
import { ModelTier } from '../workspace/workspace.enums';
import { isClientAbort } from '../../http/client-abort';
import { isGatewayAnswered, relayedAnswerAdvice, sendBodyTooLarge, sendGatewayError, sendInternalError } from './gateway-errors';
import { jsonDepthExceeds } from '../../http/json-depth';
import { BodyTooLargeError, readBody } from '../../http/read-body';
import type { Exchange } from '../../http/route-table';

const MAX_BODY_BYTES = 10 * 1024 * 1024;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** Workspace ids are UUIDs in a 36-character column: anything else cannot name one. */
const WORKSPACE_ID = /^[0-9A-Za-z-]{1,36}$/;
const MAX_ACTOR_USER_ID_LENGTH = 191;

const badRequest = (message: string) => new AppError(ErrorCode.BAD_REQUEST, message);

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function enumValue<T extends string>(values: Record<string, T>, given: string | undefined): T | undefined {
  return given !== undefined && (Object.values(values) as string[]).includes(given) ? (given as T) : undefined;
}

/** The gateway's answer on a node:http response: relayed statuses get their retry advice, errors go through the table. */
function gatewayResponseOf(response: ServerResponse): GatewayResponse {
  return {
    setHeader: (name, value) => void response.setHeader(name, value),
    start: (status, headers) => void response.writeHead(status, { ...relayedAnswerAdvice(status, headers), ...headers }),
    get started() {
      return response.headersSent;
    },
    write: (chunk) => void response.write(chunk),
    end: (body) => void (body === undefined ? response.end() : response.end(body)),
    fail: (error, headers) => sendGatewayError(response, error, headers),
    cut: () => {
      if (!response.destroyed) response.write('', () => response.destroy());
    },
    onClose: (listener) => void response.once('close', () => listener(response.writableFinished)),
  };
}

export interface GatewayHandlerOptions {
  serviceToken: string | undefined;
  /** arrays and objects inside one another in a request body (the body is re-serialised upstream) */
  jsonMaxDepth: number;
}

/**
 * POST /v1/chat/completions and /v1/embeddings over node:http: reads the service token, headers
 * and body into a gateway request, and answers the gateway's errors as JSON through the one table
 * in gateway-errors.ts.
 */
export class GatewayHandler {
  private readonly serviceToken: SecretMatcher | undefined;

  constructor(
    private readonly gateway: InferenceGateway,
    private readonly options: GatewayHandlerOptions,
  ) {
    this.serviceToken = options.serviceToken === undefined ? undefined : new SecretMatcher(options.serviceToken);
  }

  /** `requestId` is the request's log id: the idempotency key when X-Request-Id is absent. */
  async handle({ request, response, log, requestId }: Exchange, endpoint: UpstreamEndpoint): Promise<void> {
    const pathHeader = request.headers['x-inference-path'];
    try {
      await this.gateway.handle(
        {
          pathLabel: typeof pathHeader === 'string' ? pathHeader.trim() : '',
          log,
          authenticate: () => this.authenticate(request),
          read: () => this.read(request, endpoint, requestId),
        },
        gatewayResponseOf(response),
      );
    } catch (error) {
      this.answerFailure(request, response, error, log);
    }
  }

  private answerFailure(request: IncomingMessage, response: ServerResponse, error: unknown, log: () => Logger): void {
    if (isGatewayAnswered(error)) return sendGatewayError(response, error);
    if (error instanceof BodyTooLargeError) return sendBodyTooLarge(response);
    if (isClientAbort(error, request)) {
      log().info({ err: { name: (error as Error)?.name, code: (error as { code?: unknown })?.code } }, 'gateway client went away');
      response.destroy();
      return;
    }
    log().error({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'gateway error');
    sendInternalError(response);
  }

  private authenticate(request: IncomingMessage): void {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined || this.serviceToken === undefined || !this.serviceToken.matches(token)) throw unauthenticated('A valid service token is required');
  }

  private async read(request: IncomingMessage, endpoint: UpstreamEndpoint, generatedRequestId: string): Promise<GatewayRequest> {
    const given = header(request, 'x-request-id');
    if (given !== undefined && !REQUEST_ID.test(given)) throw badRequest('X-Request-Id must be 1 to 128 printable ASCII characters');
    const workspaceId = header(request, 'x-workspace-id');
    if (!workspaceId) throw badRequest('X-Workspace-Id is required');
    if (!WORKSPACE_ID.test(workspaceId)) throw badRequest('X-Workspace-Id must be a workspace id');
    const path = enumValue(InferencePath, header(request, 'x-inference-path'));
    if (!path) throw badRequest(`X-Inference-Path must be one of ${Object.values(InferencePath).join(', ')}`);
    const tierHeader = header(request, 'x-model-tier');
    const tier = enumValue(ModelTier, tierHeader);
    if (tierHeader !== undefined && !tier) throw badRequest(`X-Model-Tier must be one of ${Object.values(ModelTier).join(', ')}`);
    const actorUserId = header(request, 'x-actor-user-id') ?? null;
    if (actorUserId !== null && actorUserId.length > MAX_ACTOR_USER_ID_LENGTH) throw badRequest('X-Actor-User-Id is too long');
    const { payload, bodyHash } = await this.readPayload(request, endpoint);
    return { endpoint, givenRequestId: given, requestId: given ?? generatedRequestId, workspaceId, path, tier, actorUserId, payload, bodyHash };
  }

  /** Throws BodyTooLargeError past MAX_BODY_BYTES (answered 413), BAD_REQUEST for a body the endpoint cannot take. */
  private async readPayload(request: IncomingMessage, endpoint: UpstreamEndpoint): Promise<{ payload: Record<string, unknown>; bodyHash: string }> {
    const raw = await readBody(request, MAX_BODY_BYTES);
    const text = raw.toString('utf8');
    if (jsonDepthExceeds(text, this.options.jsonMaxDepth)) throw badRequest(`Request body JSON is nested deeper than ${this.options.jsonMaxDepth} levels`);
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw badRequest('Request body must be JSON');
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload) || typeof (payload as { model?: unknown }).model !== 'string') {
      throw badRequest(`Request body must be ${endpoint === 'embeddings' ? 'an embeddings' : 'a chat completions'} request with a model`);
    }
    if (endpoint === 'embeddings' && (payload as { input?: unknown }).input === undefined) {
      throw badRequest('Request body must be an embeddings request with an input');
    }
    return { payload: payload as Record<string, unknown>, bodyHash: createHash('sha256').update(raw).digest('base64') };
  }
}
