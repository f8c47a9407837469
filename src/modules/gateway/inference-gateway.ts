import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { SecretMatcher } from '../../auth/constant-time';
import type { LoadingCache } from '../../cache/loading-cache';
import { AppError } from '../../graphql/app-error';
import { ErrorCode } from '../../graphql/error-code';
import { BodyTooLargeError, readBody } from '../../http/read-body';
import { lazyChild } from '../../logging/logger';
import { ByokFallback, KeyStatus } from '../inference-key/inference-key.enums';
import { UsageRecordEntity } from '../usage/usage-record.entity';
import type { InferenceCall, UsageRecorderService } from '../usage/usage-recorder.service';
import { InferencePath, KeySource } from '../usage/usage.enums';
import { WorkspaceEntity } from '../workspace/workspace.entity';
import { ModelTier } from '../workspace/workspace.enums';
import type { BudgetGuard } from '../budget/budget-guard';
import { GatewayKeyResolver, isKeyUnavailable, PlatformKeyMissingError, ResolvedKey } from './gateway-key.resolver';
import { KeyHealthService } from './key-health.service';
import { OpenRouterClient, UpstreamError, UpstreamResponse, upstreamErrorOf } from './openrouter.client';
import { SseUsageTap, usageFrom } from './upstream-usage';
import type { JournalEntry, UsageSpool } from './usage-spool';

const MAX_BODY_BYTES = 10 * 1024 * 1024;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** Workspace ids are UUIDs in a 36-character column: anything else cannot name one. */
const WORKSPACE_ID = /^[0-9A-Za-z-]{1,36}$/;
/** Beyond this, a record that has not reached the database goes to the spool instead. */
const RECORD_TIMEOUT_MS = 5_000;
const RELAYED_HEADERS = ['content-type', 'cache-control', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];

class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What OpenRouter's refusal of a workspace's key means, and what the member can do about it. */
interface KeyRefusal {
  keyStatus: KeyStatus;
  code: string;
  message: string;
}

function keyRefusalOf(status: number, body: string): KeyRefusal | undefined {
  if (status === 401) {
    return {
      keyStatus: KeyStatus.INVALID,
      code: 'BYOK_KEY_INVALID',
      message: "OpenRouter rejected the workspace's key as invalid or disabled. A billing manager should replace it in Settings → Billing, or remove it to use the platform key.",
    };
  }
  if (status === 402) {
    return {
      keyStatus: KeyStatus.OUT_OF_CREDITS,
      code: 'BYOK_OUT_OF_CREDITS',
      message: "The workspace's OpenRouter account is out of credits. Top up its OpenRouter credits, or remove the key to fall back to the platform key.",
    };
  }
  if (status === 403 && /key limit exceeded/i.test(body)) {
    return {
      keyStatus: KeyStatus.LIMIT_EXCEEDED,
      code: 'BYOK_LIMIT_EXCEEDED',
      message: "The workspace's OpenRouter key has reached its spending limit. Raise the key's limit on OpenRouter, or remove the key to fall back to the platform key.",
    };
  }
  return undefined;
}

function sendError(response: ServerResponse, status: number, code: string, message: string, extraHeaders: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json', ...extraHeaders });
  response.end(JSON.stringify({ error: { code, message } }));
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function enumValue<T extends string>(values: Record<string, T>, given: string | undefined): T | undefined {
  return given !== undefined && (Object.values(values) as string[]).includes(given) ? (given as T) : undefined;
}

async function readAll(body: UpstreamResponse['body']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function scrub(text: string, key: string): string {
  return text.split(key).join('[redacted]');
}

export interface GatewayDependencies {
  dataSource: DataSource;
  /** the worker's copies of workspace rows: an unknown workspace is not kept */
  workspaceRows: LoadingCache<WorkspaceEntity | null>;
  serviceToken: string | undefined;
  keys: GatewayKeyResolver;
  client: OpenRouterClient;
  recorder: UsageRecorderService;
  spool: UsageSpool;
  health: KeyHealthService;
  budget?: Pick<BudgetGuard, 'refusalFor'>;
}

interface CallContext {
  requestId: string;
  workspace: WorkspaceEntity;
  path: InferencePath;
  tier: ModelTier;
  actorUserId: string | null;
  startedAt: Date;
  /** made on first use: most calls log nothing */
  log: () => Logger;
}

/**
 * POST /v1/chat/completions: the platform's inference runtime calls OpenRouter through here, so the
 * right key is used and every completed call is recorded exactly once. The key never leaves the
 * service: it goes upstream in a header and nowhere else.
 */
export class InferenceGateway {
  /** (workspace, request id) pairs being served by this worker, so a concurrent duplicate is refused before it reaches OpenRouter */
  private readonly inFlight = new Set<string>();

  private readonly serviceToken: SecretMatcher | undefined;

  constructor(private readonly deps: GatewayDependencies) {
    this.serviceToken = deps.serviceToken === undefined ? undefined : new SecretMatcher(deps.serviceToken);
  }

  /** `generatedRequestId` is this request's log id: the idempotency key when X-Request-Id is absent. */
  async handle(request: IncomingMessage, response: ServerResponse, log: () => Logger, generatedRequestId: string): Promise<void> {
    try {
      await this.serve(request, response, log, generatedRequestId);
    } catch (error) {
      if (error instanceof GatewayError) return sendError(response, error.status, error.code, error.message, error.headers);
      if (error instanceof UpstreamError) return sendError(response, error.httpStatus, error.kind === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNREACHABLE', `${error.message}; nothing was billed. Retry later.`);
      if (isKeyUnavailable(error)) {
        return sendError(response, 503, ErrorCode.KEY_UNAVAILABLE, "The workspace's stored OpenRouter key cannot be read; no call was made. A billing manager should replace the key.");
      }
      if (error instanceof PlatformKeyMissingError) return sendError(response, 503, 'PLATFORM_KEY_MISSING', 'The platform OpenRouter key is not configured.');
      log().error({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'gateway error');
      sendError(response, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
    }
  }

  /** Closes the upstream connection pool. */
  close(): Promise<void> {
    return this.deps.client.close();
  }

  private async serve(request: IncomingMessage, response: ServerResponse, baseLog: () => Logger, generatedRequestId: string): Promise<void> {
    this.authenticateOrThrow(request);
    const given = header(request, 'x-request-id');
    if (given !== undefined && !REQUEST_ID.test(given)) throw new GatewayError(400, 'BAD_REQUEST', 'X-Request-Id must be 1 to 128 printable ASCII characters');
    const requestId = given ?? generatedRequestId;
    const workspaceId = header(request, 'x-workspace-id');
    if (!workspaceId) throw new GatewayError(400, 'BAD_REQUEST', 'X-Workspace-Id is required');
    if (!WORKSPACE_ID.test(workspaceId)) throw new GatewayError(400, 'BAD_REQUEST', 'X-Workspace-Id must be a workspace id');
    const path = enumValue(InferencePath, header(request, 'x-inference-path'));
    if (!path) throw new GatewayError(400, 'BAD_REQUEST', `X-Inference-Path must be one of ${Object.values(InferencePath).join(', ')}`);
    const tierHeader = header(request, 'x-model-tier');
    const tier = enumValue(ModelTier, tierHeader);
    if (tierHeader !== undefined && !tier) throw new GatewayError(400, 'BAD_REQUEST', `X-Model-Tier must be one of ${Object.values(ModelTier).join(', ')}`);
    const actorUserId = header(request, 'x-actor-user-id') ?? null;
    if (actorUserId !== null && actorUserId.length > 191) throw new GatewayError(400, 'BAD_REQUEST', 'X-Actor-User-Id is too long');

    const payload = await this.readPayloadOrThrow(request);
    // Both lookups at once, the workspace usually from this worker's copy. An id the gateway
    // generated just now cannot have been used, so it is not looked up at all.
    const [workspace, used] = await Promise.all([
      this.deps.workspaceRows.get(workspaceId, () => this.deps.dataSource.getRepository(WorkspaceEntity).findOne({ where: { id: workspaceId } })),
      given === undefined ? false : this.deps.dataSource.getRepository(UsageRecordEntity).exists({ where: { workspaceId, requestId } }),
    ]).catch((error: Error) => {
      // Without these answers the call is not made: a used request id would be spent upstream twice.
      baseLog().warn({ reason: error.message }, 'database unavailable: gateway call refused before OpenRouter');
      throw new GatewayError(503, 'DATABASE_UNAVAILABLE', 'The usage database cannot be reached, so no call was made and nothing was billed. Retry shortly.', { 'retry-after': '1' });
    });
    if (!workspace) throw new GatewayError(404, 'NOT_FOUND', 'Workspace not found');
    if (used) throw new GatewayError(409, ErrorCode.CONFLICT, `X-Request-Id ${requestId} was already used for a recorded call`);
    const overBudget = await this.deps.budget?.refusalFor(workspace.id, path);
    if (overBudget) throw new GatewayError(402, overBudget.code, overBudget.message, { 'x-should-retry': 'false' });
    const claim = `${workspaceId}\u0000${requestId}`;
    if (this.inFlight.has(claim)) throw new GatewayError(409, ErrorCode.CONFLICT, `X-Request-Id ${requestId} is already in progress`);
    this.inFlight.add(claim);
    try {
      const call: CallContext = {
        requestId,
        workspace,
        path,
        tier: tier ?? workspace.defaultTier,
        actorUserId,
        startedAt: new Date(),
        log: lazyChild(baseLog, { workspaceId, path }),
      };
      response.setHeader('x-request-id', requestId);
      // Ask OpenRouter for usage accounting: cost and tokens come back in the final `usage` object.
      const body = JSON.stringify({ ...payload, usage: { include: true } });
      const resolved = await this.deps.keys.resolve(workspace, path);
      await this.attempt(call, resolved, body, response, true);
    } finally {
      this.inFlight.delete(claim);
    }
  }

  private authenticateOrThrow(request: IncomingMessage): void {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!match || this.serviceToken === undefined || !this.serviceToken.matches(match[1])) {
      throw new GatewayError(401, ErrorCode.UNAUTHENTICATED, 'A valid service token is required');
    }
  }

  private async readPayloadOrThrow(request: IncomingMessage): Promise<Record<string, unknown>> {
    let raw: Buffer;
    try {
      raw = await readBody(request, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new GatewayError(413, 'BAD_REQUEST', 'Request body too large');
      throw error;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new GatewayError(400, 'BAD_REQUEST', 'Request body must be JSON');
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload) || typeof (payload as { model?: unknown }).model !== 'string') {
      throw new GatewayError(400, 'BAD_REQUEST', 'Request body must be a chat completions request with a model');
    }
    return payload as Record<string, unknown>;
  }

  private async attempt(call: CallContext, resolved: ResolvedKey, body: string, response: ServerResponse, mayFallBack: boolean): Promise<void> {
    const upstream = await this.deps.client.chatCompletions(resolved.key, body, call.requestId);
    if (upstream.status >= 200 && upstream.status < 300) return this.relaySuccess(call, resolved, upstream, response);

    const errorBody = scrub((await readAll(upstream.body).catch(() => Buffer.alloc(0))).toString('utf8'), resolved.key);
    const refusal = resolved.source === KeySource.BYOK ? keyRefusalOf(upstream.status, errorBody) : undefined;
    if (!refusal) {
      response.writeHead(upstream.status, { ...this.relayedHeaders(upstream), 'x-key-source': resolved.source });
      response.end(errorBody);
      return;
    }
    call.log().warn({ status: upstream.status, keyStatus: refusal.keyStatus }, "OpenRouter refused the workspace's key");
    await this.deps.health.mark(call.workspace.id, resolved.rowUpdatedAt, refusal.keyStatus);
    if (mayFallBack && call.workspace.byokFallback === ByokFallback.PLATFORM) {
      return this.attempt(call, this.deps.keys.platform(), body, response, false);
    }
    sendError(response, upstream.status, refusal.code, refusal.message, { 'x-key-source': resolved.source });
  }

  private relayedHeaders(upstream: UpstreamResponse): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const name of RELAYED_HEADERS) {
      const value = upstream.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    return headers;
  }

  /**
   * Relays the answer as it arrives and records the call once the upstream has completed it. A
   * client that goes away mid-stream stops receiving, not the reading: the call is still recorded.
   */
  private async relaySuccess(call: CallContext, resolved: ResolvedKey, upstream: UpstreamResponse, response: ServerResponse): Promise<void> {
    // The status line goes out with the first byte relayed: until then an upstream failure can
    // still be answered as a 502/504 rather than a connection cut under a 200.
    const writeHead = () => {
      if (!response.headersSent) response.writeHead(upstream.status, { ...this.relayedHeaders(upstream), 'x-key-source': resolved.source });
    };
    const streaming = String(upstream.headers['content-type'] ?? '').includes('text/event-stream');
    const tap = new SseUsageTap();
    const chunks: Buffer[] = [];
    let clientGone = false;
    response.on('close', () => {
      clientGone = !response.writableFinished;
    });
    try {
      for await (const chunk of upstream.body) {
        const buffer = chunk as Buffer;
        if (streaming) {
          tap.feed(buffer);
          if (!clientGone) {
            writeHead();
            response.write(buffer);
          }
        } else {
          chunks.push(buffer);
        }
      }
    } catch (error) {
      const failure = upstreamErrorOf(error);
      call.log().warn({ reason: failure.message }, 'upstream broke off mid-answer: nothing recorded');
      if (!response.headersSent) throw failure;
      response.destroy();
      return;
    }
    let usage;
    let model: string | undefined;
    if (streaming) {
      tap.end();
      usage = usageFrom(tap.usage);
      model = tap.model;
    } else {
      const text = Buffer.concat(chunks);
      const parsed = safeJson(text);
      usage = usageFrom(parsed?.usage as Parameters<typeof usageFrom>[0]);
      model = typeof parsed?.model === 'string' ? parsed.model : undefined;
      chunks.length = 0;
      chunks.push(text);
    }
    if (resolved.source === KeySource.BYOK && resolved.status !== KeyStatus.ACTIVE) {
      await this.deps.health.mark(call.workspace.id, resolved.rowUpdatedAt, KeyStatus.ACTIVE).catch(() => undefined);
    }
    const completed: InferenceCall = {
      requestId: call.requestId,
      workspaceId: call.workspace.id,
      path: call.path,
      model: (model ?? 'unknown').slice(0, 200),
      tier: call.tier,
      keySource: resolved.source,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      rawCostMicros: usage.rawCostMicros,
      occurredAt: call.startedAt,
      actorUserId: call.actorUserId,
    };
    // Journaled (fsync'd) before the answer, recorded in the database after it: the database stays
    // off the caller's critical path and no answered call is lost, even to a crash. Until the record
    // is written the X-Request-Id stays claimed, reads of usage on this worker wait for it, and a
    // graceful shutdown waits for it.
    const entry = this.journalOrLog(call, completed);
    if (!clientGone) {
      writeHead();
      if (streaming) response.end();
      else response.end(chunks[0]);
    }
    await this.record(call, completed, entry);
  }

  private journalOrLog(call: CallContext, completed: InferenceCall): JournalEntry | undefined {
    try {
      return this.deps.spool.journal(completed);
    } catch (error) {
      call.log().error({ reason: (error as Error).message }, 'completed call not journaled: it is recorded only if the database takes it now');
      return undefined;
    }
  }

  /** Into the database; when it cannot take the call now (or within 5 s), the journal replays it. */
  private async record(call: CallContext, completed: InferenceCall, entry: JournalEntry | undefined): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout('timeout'), RECORD_TIMEOUT_MS);
    });
    let reachedDatabase = false;
    try {
      reachedDatabase = (await Promise.race([this.deps.recorder.record(completed), timeout])) !== 'timeout';
    } catch (error) {
      // A refusal (a CONFLICT, say) is final: replaying the call would be refused the same way.
      reachedDatabase = error instanceof AppError;
      if (reachedDatabase) call.log().error({ code: (error as AppError).code }, 'completed call refused by the recorder');
    } finally {
      clearTimeout(timer);
    }
    if (entry) this.deps.spool.settle(entry, completed, reachedDatabase);
  }
}

function safeJson(text: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(text.toString('utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
