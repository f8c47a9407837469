import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { SecretMatcher } from '../../auth/constant-time';
import { ErrorCode } from '../../graphql/error-code';
import { isClientAbort } from '../../http/client-abort';
import { jsonDepthExceeds } from '../../http/json-depth';
import { BodyTooLargeError, readBody } from '../../http/read-body';
import { lazyChild } from '../../logging/logger';
import { GatewayCallOutcome, GatewayMetrics, NO_GATEWAY_METRICS } from '../../metrics/gateway.metrics';
import { ByokFallback, KeyStatus } from '../inference-key/inference-key.enums';
import { UsageRecordEntity } from '../usage/usage-record.entity';
import type { RefusedCallsService } from '../usage/refused-calls.service';
import type { InferenceCall, UsageRecorderService } from '../usage/usage-recorder.service';
import { InferencePath, KeySource, UsageOutcome } from '../usage/usage.enums';
import type { WorkspaceEntity } from '../workspace/workspace.entity';
import type { WorkspaceDirectory } from '../workspace/workspace-directory';
import { ModelTier } from '../workspace/workspace.enums';
import type { BudgetGuard } from '../budget/budget-guard';
import { GatewayKeyResolver, isKeyUnavailable, KeyStoreUnreachableError, PlatformKeyMissingError, ResolvedKey } from './gateway-key.resolver';
import { KeyHealthService } from '../inference-key/key-health.service';
import { OpenRouterClient, UpstreamEndpoint, UpstreamError, UpstreamResponse, upstreamErrorOf } from './openrouter.client';
import { KeptAnswer, RecentAnswers } from './recent-answers';
import { SseUsageTap, usageFrom } from './upstream-usage';
import type { JournalEntry, UsageSpool } from './usage-spool';

const MAX_BODY_BYTES = 10 * 1024 * 1024;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** Workspace ids are UUIDs in a 36-character column: anything else cannot name one. */
const WORKSPACE_ID = /^[0-9A-Za-z-]{1,36}$/;
/** Beyond this, a record that has not reached the database goes to the spool instead. */
const RECORD_TIMEOUT_MS = 5_000;
/** Request ids remembered for the outage check: at 1,000 calls a second, the last 3 minutes or so. */
const MAX_JOURNALED_IDS = 200_000;
/** A retry of a finished non-streaming call within this long gets its answer again (SPEC.md, "The usage ledger"). */
const KEPT_ANSWER_MS = 60_000;
/** Memory for kept answers: at ~2 KB an answer, the last 60 s of ~8,000 calls. */
const KEPT_ANSWER_BYTES = 16 * 1024 * 1024;
/** Errors that come out the same however often they are retried: SDKs honour `x-should-retry: false`. */
const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 401, 404, 409, 413, 422]);
const PERMANENT_CODES: ReadonlySet<string> = new Set([
  ErrorCode.KEY_UNAVAILABLE,
  'PLATFORM_KEY_MISSING',
  'BUDGET_EXCEEDED',
  'BYOK_KEY_INVALID',
  'BYOK_OUT_OF_CREDITS',
  'BYOK_LIMIT_EXCEEDED',
  'BYOK_MODEL_REFUSED',
]);
/** Errors that a later attempt may not meet: they say when to try again. */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);
const RETRY_AFTER_SECONDS = '1';
const RELAYED_HEADERS = ['content-type', 'cache-control', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];

class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** more fields of the error object, for the caller's code */
    readonly details: Record<string, string> = {},
  ) {
    super(message);
  }
}

function requestIdUsed(requestId: string, recordId: string | undefined): GatewayError {
  const record = recordId === undefined ? 'a recorded call' : `usage record ${recordId}`;
  return new GatewayError(409, 'REQUEST_ID_USED', `X-Request-Id ${requestId} was already used for ${record}; a new call needs a new X-Request-Id.`, {}, recordId === undefined ? {} : { recordId });
}

function requestInProgress(requestId: string): GatewayError {
  return new GatewayError(
    409,
    'REQUEST_IN_PROGRESS',
    `X-Request-Id ${requestId} is in progress on this worker and a streamed call cannot be answered twice; a new call needs a new X-Request-Id.`,
  );
}

/** `x-should-retry: false` on permanent errors, `Retry-After` on transient ones, unless the upstream said when. */
function retryAdvice(status: number, code: string | undefined, given: Record<string, string> = {}): Record<string, string> {
  if (PERMANENT_STATUSES.has(status) || (code !== undefined && PERMANENT_CODES.has(code))) return { 'x-should-retry': 'false' };
  if (TRANSIENT_STATUSES.has(status) && given['retry-after'] === undefined) return { 'retry-after': RETRY_AFTER_SECONDS };
  return {};
}

/**
 * What OpenRouter's refusal of a workspace's key means, and what the member can do about it. A
 * refusal of one model (`modelReason`) leaves the key's status alone: the key works for others.
 */
interface KeyRefusal {
  keyStatus?: KeyStatus;
  /** for aiInferenceKey.lastRefusal: a fixed sentence, never the upstream's text */
  modelReason?: string;
  code: string;
  message: string;
}

/** OpenRouter's words when the account's settings leave no provider for the model asked for. */
const MODEL_REFUSALS: ReadonlyArray<{ pattern: RegExp; reason: string; fix: string }> = [
  {
    pattern: /no allowed providers/i,
    reason: "No allowed providers: the key's OpenRouter account allows no provider that serves this model.",
    fix: "allow a provider that serves it in the OpenRouter account's provider settings (or lift the key's restrictions)",
  },
  {
    pattern: /no endpoints found matching your data policy/i,
    reason: "No provider of this model meets the data policy of the key's OpenRouter account.",
    fix: "relax the OpenRouter account's data policy (privacy settings) for this model",
  },
];

function keyRefusalOf(status: number, body: string, model: string): KeyRefusal | undefined {
  if (status === 404 || status === 403 || status === 400) {
    const refused = MODEL_REFUSALS.find(({ pattern }) => pattern.test(body));
    if (refused) {
      return {
        modelReason: refused.reason,
        code: 'BYOK_MODEL_REFUSED',
        message: `OpenRouter refused model ${model} on the workspace's key: ${refused.reason} A billing manager can ${refused.fix}, or the call can use another model; the key itself still works.`,
      };
    }
  }
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

function sendError(response: ServerResponse, status: number, code: string, message: string, extraHeaders: Record<string, string> = {}, details: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json', ...retryAdvice(status, code, extraHeaders), ...extraHeaders });
  response.end(JSON.stringify({ error: { code, message, ...details } }));
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
  workspaces: WorkspaceDirectory;
  serviceToken: string | undefined;
  /** arrays and objects inside one another in a request body (the body is re-serialised upstream) */
  jsonMaxDepth: number;
  keys: GatewayKeyResolver;
  client: OpenRouterClient;
  recorder: UsageRecorderService;
  spool: UsageSpool;
  health: KeyHealthService;
  /** calls of one workspace in flight on this worker at most (SPEC.md: GATEWAY_MAX_CONCURRENT_PER_WORKSPACE) */
  maxConcurrentPerWorkspace: number;
  /**
   * GATEWAY_DATABASE_OUTAGE=serve: while the database is unreachable, cached workspace rows this
   * old at most still serve (request ids then checked against this worker's journal); undefined
   * (`refuse`): 503 DATABASE_UNAVAILABLE.
   */
  staleWhileUnreachableMs?: number;
  refusedCalls: RefusedCallsService;
  budget?: Pick<BudgetGuard, 'refusalFor'>;
}

/** What the metrics learn of one call as it goes. */
interface CallMeter {
  /** the X-Inference-Path as sent: the metrics count anything else as INVALID */
  path: string;
  keySource: KeySource | 'NONE';
  outcome: GatewayCallOutcome;
  /** time spent waiting on OpenRouter, over every attempt (a fallback makes two) */
  upstreamNs: bigint;
}

/** A call between its claim and its end, which a retry of it waits for. */
interface ClaimedCall {
  bodyHash: string;
  streaming: boolean;
  /** resolves once the answer is kept for retries, or the call is over */
  done: Promise<void>;
}

interface CallContext {
  meter: CallMeter;
  requestId: string;
  claim: string;
  bodyHash: string;
  /** the request body's `model` */
  requestedModel: string;
  endpoint: UpstreamEndpoint;
  /** X-Request-Id was given: a retry may come, so a non-streaming answer is kept for it */
  retryable: boolean;
  /** wakes the retries waiting for this call once its answer is kept */
  answerKept: () => void;
  /** the call no longer counts against its workspace's concurrency: its answer is out, only the record remains */
  freeSlot: () => void;
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
  /** (workspace, request id) pairs being served by this worker: a concurrent duplicate never reaches OpenRouter */
  private readonly inFlight = new Map<string, ClaimedCall>();
  private readonly recentAnswers = new RecentAnswers(KEPT_ANSWER_MS, KEPT_ANSWER_BYTES);
  /** (workspace, request id) pairs this worker journaled lately, oldest first: the ids it checks while the database is away */
  private readonly journaled = new Map<string, number>();
  /** set on SIGTERM: new calls are refused while those in flight finish */
  private draining = false;
  /** one per call at OpenRouter, so that a shutdown past its grace can cut them */
  private readonly upstreamCalls = new Set<AbortController>();
  /** calls in flight per workspace, so that one workspace's burst cannot take every connection upstream */
  private readonly perWorkspace = new Map<string, number>();

  private readonly serviceToken: SecretMatcher | undefined;
  private metrics: GatewayMetrics = NO_GATEWAY_METRICS;

  constructor(private readonly deps: GatewayDependencies) {
    this.serviceToken = deps.serviceToken === undefined ? undefined : new SecretMatcher(deps.serviceToken);
  }

  /** Metrics are set up after the services: until then, and when they are off, nothing is counted. */
  reportTo(metrics: GatewayMetrics): void {
    this.metrics = metrics;
  }

  /**
   * `generatedRequestId` is this request's log id: the idempotency key when X-Request-Id is absent.
   * `endpoint`: POST /v1/chat/completions or /v1/embeddings, relayed to OpenRouter's of that name.
   */
  async handle(request: IncomingMessage, response: ServerResponse, log: () => Logger, generatedRequestId: string, endpoint: UpstreamEndpoint = 'chat/completions'): Promise<void> {
    const started = process.hrtime.bigint();
    const pathHeader = request.headers['x-inference-path'];
    const meter: CallMeter = { path: typeof pathHeader === 'string' ? pathHeader.trim() : '', keySource: 'NONE', outcome: 'refused', upstreamNs: 0n };
    // The caller's wait ends with the answer; recording it afterwards is not part of it.
    let answeredAt: bigint | undefined;
    response.once('close', () => {
      answeredAt = process.hrtime.bigint();
    });
    try {
      await this.serve(request, response, log, generatedRequestId, meter, endpoint);
    } catch (error) {
      if (error instanceof UpstreamError) meter.outcome = error.kind === 'timeout' ? 'upstream_timeout' : 'upstream_unreachable';
      this.sendFailure(request, response, error, log);
    } finally {
      const totalNs = (answeredAt ?? process.hrtime.bigint()) - started;
      const wentUpstream = meter.keySource !== 'NONE';
      this.metrics.callFinished({
        path: meter.path,
        keySource: meter.keySource,
        outcome: meter.outcome,
        addedSeconds: Number(totalNs - meter.upstreamNs) / 1e9,
        upstreamSeconds: wentUpstream ? Number(meter.upstreamNs) / 1e9 : undefined,
      });
    }
  }

  private sendFailure(request: IncomingMessage, response: ServerResponse, error: unknown, log: () => Logger): void {
    if (error instanceof GatewayError) return sendError(response, error.status, error.code, error.message, error.headers, error.details);
    if (error instanceof UpstreamError) return sendError(response, error.httpStatus, error.kind === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNREACHABLE', `${error.message}; nothing was billed. Retry later.`);
    if (isKeyUnavailable(error)) {
      return sendError(response, 503, ErrorCode.KEY_UNAVAILABLE, "The workspace's stored OpenRouter key cannot be read; no call was made. A billing manager should replace the key.");
    }
    if (error instanceof PlatformKeyMissingError) return sendError(response, 503, 'PLATFORM_KEY_MISSING', 'The platform OpenRouter key is not configured.');
    if (error instanceof KeyStoreUnreachableError) {
      return sendError(response, 503, 'DATABASE_UNAVAILABLE', "The workspace's key cannot be read while the database is unreachable, so no call was made and nothing was billed. Retry shortly.");
    }
    if (isClientAbort(error, request)) {
      log().info({ err: { name: (error as Error)?.name, code: (error as { code?: unknown })?.code } }, 'gateway client went away');
      response.destroy();
      return;
    }
    log().error({ err: { name: (error as Error)?.name, message: (error as Error)?.message } }, 'gateway error');
    sendError(response, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
  }

  private noteJournaled(claim: string): void {
    const now = Date.now();
    this.journaled.delete(claim);
    this.journaled.set(claim, now);
    const window = this.deps.staleWhileUnreachableMs ?? 0;
    for (const [oldest, at] of this.journaled) {
      if (this.journaled.size <= MAX_JOURNALED_IDS && now - at <= window) break;
      this.journaled.delete(oldest);
    }
  }

  private journaledRecently(claim: string): boolean {
    const at = this.journaled.get(claim);
    return at !== undefined && Date.now() - at <= (this.deps.staleWhileUnreachableMs ?? 0);
  }

  /** From now on new calls answer 503 (another worker takes them); calls in flight go on. */
  drain(): void {
    this.draining = true;
  }

  /** Past the shutdown's grace: every call still at OpenRouter is cut, and recorded INTERRUPTED. */
  abortInFlight(): void {
    for (const controller of this.upstreamCalls) controller.abort();
  }

  /** Closes the upstream connection pool. */
  close(): Promise<void> {
    return this.deps.client.close();
  }

  private async serve(
    request: IncomingMessage,
    response: ServerResponse,
    baseLog: () => Logger,
    generatedRequestId: string,
    meter: CallMeter,
    endpoint: UpstreamEndpoint,
  ): Promise<void> {
    this.authenticateOrThrow(request);
    if (this.draining) throw new GatewayError(503, 'SHUTTING_DOWN', 'This worker is shutting down; no call was made and nothing was billed. Retry: another worker takes it.', { 'retry-after': RETRY_AFTER_SECONDS });
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

    const { payload, bodyHash } = await this.readPayloadOrThrow(request, endpoint);
    const streaming = endpoint === 'chat/completions' && payload.stream === true;
    const claim = `${workspaceId}\u0000${requestId}`;
    let workspace: WorkspaceEntity;
    for (;;) {
      // A retry of a call this worker answered lately, or is answering now, gets that answer.
      const kept = given === undefined ? undefined : this.recentAnswers.get(claim);
      if (kept) {
        if (kept.bodyHash !== bodyHash) throw requestIdUsed(requestId, kept.recordId);
        meter.keySource = kept.keySource;
        meter.outcome = 'answered';
        response.writeHead(kept.status, { ...kept.headers, 'x-request-id': requestId });
        response.end(kept.body);
        return;
      }
      const running = this.inFlight.get(claim);
      if (running) {
        if (streaming || running.streaming || running.bodyHash !== bodyHash) throw requestInProgress(requestId);
        await running.done;
        continue;
      }
      // Both lookups at once, the workspace usually from this worker's copy. An id the gateway
      // generated just now cannot have been used, so it is not looked up at all.
      const [row, usedBy] = await Promise.all([
        this.deps.workspaces.workspace(workspaceId),
        given === undefined ? null : this.deps.dataSource.getRepository(UsageRecordEntity).findOne({ where: { workspaceId, requestId }, select: { id: true } }),
      ]).catch((error: Error): [WorkspaceEntity | null, { id: string } | null] => {
        const cached = this.deps.staleWhileUnreachableMs === undefined ? undefined : this.deps.workspaces.staleWorkspace(workspaceId, this.deps.staleWhileUnreachableMs);
        if (cached) {
          // Serving through the outage: an id this worker journaled is used; the replay keeps aside
          // any other duplicate it meets once the database is back.
          if (given !== undefined && this.journaledRecently(claim)) throw requestIdUsed(requestId, undefined);
          return [cached, null];
        }
        // Without these answers the call is not made: a used request id would be spent upstream twice.
        baseLog().warn({ reason: error.message }, 'database unavailable: gateway call refused before OpenRouter');
        throw new GatewayError(503, 'DATABASE_UNAVAILABLE', 'The usage database cannot be reached, so no call was made and nothing was billed. Retry shortly.', { 'retry-after': '1' });
      });
      // Another request with this id may have been claimed meanwhile: it is met at the top.
      if (this.inFlight.has(claim) || (given !== undefined && this.recentAnswers.get(claim))) continue;
      if (!row) throw new GatewayError(404, 'NOT_FOUND', 'Workspace not found');
      if (usedBy) throw requestIdUsed(requestId, usedBy.id);
      workspace = row;
      break;
    }
    const overBudget = await this.deps.budget?.refusalFor(workspace.id, path);
    if (overBudget) {
      await this.deps.refusedCalls.count({ workspaceId: workspace.id, path, actorUserId, cause: overBudget.code });
      throw new GatewayError(402, overBudget.code, overBudget.message, { 'x-should-retry': 'false' });
    }
    const running = this.perWorkspace.get(workspaceId) ?? 0;
    if (running >= this.deps.maxConcurrentPerWorkspace) {
      throw new GatewayError(
        429,
        'CONCURRENCY_LIMIT',
        `This workspace already has ${running} gateway calls in progress on this worker, the most allowed; nothing was sent upstream. Retry shortly.`,
        { 'retry-after': RETRY_AFTER_SECONDS },
      );
    }
    this.perWorkspace.set(workspaceId, running + 1);
    let slotFreed = false;
    const freeSlot = () => {
      if (slotFreed) return;
      slotFreed = true;
      const left = (this.perWorkspace.get(workspaceId) ?? 1) - 1;
      if (left > 0) this.perWorkspace.set(workspaceId, left);
      else this.perWorkspace.delete(workspaceId);
    };
    let release!: () => void;
    this.inFlight.set(claim, { bodyHash, streaming, done: new Promise<void>((resolveDone) => (release = resolveDone)) });
    try {
      const call: CallContext = {
        meter,
        requestId,
        claim,
        bodyHash,
        retryable: given !== undefined,
        requestedModel: payload.model as string,
        endpoint,
        answerKept: release,
        freeSlot,
        workspace,
        path,
        tier: tier ?? workspace.defaultTier,
        actorUserId,
        startedAt: new Date(),
        log: lazyChild(baseLog, { workspaceId, path }),
      };
      response.setHeader('x-request-id', requestId);
      // Ask OpenRouter for usage accounting: cost and tokens come back in the final `usage` object.
      // Embeddings answers carry their usage (tokens and cost) unasked.
      const body = endpoint === 'chat/completions' ? JSON.stringify({ ...payload, usage: { include: true } }) : JSON.stringify(payload);
      const resolved = await this.deps.keys.resolve(workspace, path);
      await this.attempt(call, resolved, body, response, true);
    } finally {
      this.inFlight.delete(claim);
      release();
      freeSlot();
    }
  }

  private authenticateOrThrow(request: IncomingMessage): void {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (!match || this.serviceToken === undefined || !this.serviceToken.matches(match[1])) {
      throw new GatewayError(401, ErrorCode.UNAUTHENTICATED, 'A valid service token is required');
    }
  }

  private async readPayloadOrThrow(request: IncomingMessage, endpoint: UpstreamEndpoint): Promise<{ payload: Record<string, unknown>; bodyHash: string }> {
    let raw: Buffer;
    try {
      raw = await readBody(request, MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new GatewayError(413, 'BAD_REQUEST', 'Request body too large', { connection: 'close' });
      throw error;
    }
    const text = raw.toString('utf8');
    if (jsonDepthExceeds(text, this.deps.jsonMaxDepth)) throw new GatewayError(400, 'BAD_REQUEST', `Request body JSON is nested deeper than ${this.deps.jsonMaxDepth} levels`);
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw new GatewayError(400, 'BAD_REQUEST', 'Request body must be JSON');
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload) || typeof (payload as { model?: unknown }).model !== 'string') {
      throw new GatewayError(400, 'BAD_REQUEST', `Request body must be ${endpoint === 'embeddings' ? 'an embeddings' : 'a chat completions'} request with a model`);
    }
    if (endpoint === 'embeddings' && (payload as { input?: unknown }).input === undefined) {
      throw new GatewayError(400, 'BAD_REQUEST', 'Request body must be an embeddings request with an input');
    }
    return { payload: payload as Record<string, unknown>, bodyHash: createHash('sha256').update(raw).digest('base64') };
  }

  private async attempt(call: CallContext, resolved: ResolvedKey, body: string, response: ServerResponse, mayFallBack: boolean): Promise<void> {
    call.meter.keySource = resolved.source;
    const sent = process.hrtime.bigint();
    const upstreamDone = () => {
      call.meter.upstreamNs += process.hrtime.bigint() - sent;
    };
    // On the record from here on: a crash while OpenRouter works leaves an INTERRUPTED record.
    this.noteJournaled(call.claim);
    const entry = this.deps.spool.intend({
      requestId: call.requestId,
      workspaceId: call.workspace.id,
      path: call.path,
      tier: call.tier,
      keySource: resolved.source,
      model: call.requestedModel.slice(0, 200),
      occurredAt: call.startedAt,
      actorUserId: call.actorUserId,
    });
    const controller = new AbortController();
    this.upstreamCalls.add(controller);
    try {
      return await this.exchange(call, resolved, body, response, mayFallBack, entry, controller.signal, upstreamDone);
    } finally {
      this.upstreamCalls.delete(controller);
    }
  }

  private async exchange(
    call: CallContext,
    resolved: ResolvedKey,
    body: string,
    response: ServerResponse,
    mayFallBack: boolean,
    entry: JournalEntry,
    signal: AbortSignal,
    upstreamDone: () => void,
  ): Promise<void> {
    let upstream: UpstreamResponse;
    try {
      upstream = await this.deps.client.post(call.endpoint, resolved.key, body, call.requestId, signal);
    } catch (error) {
      upstreamDone();
      if (signal.aborted) {
        // Cut by a shutdown while OpenRouter worked: it may bill the call, so it goes on the record.
        await this.recordInterrupted(call, resolved, entry, new SseUsageTap(), 'shutdown grace period over while the call was at OpenRouter');
        throw new GatewayError(503, 'SHUTTING_DOWN', 'This worker shut down while the call was at OpenRouter; it is recorded as interrupted.');
      }
      this.nothingToRecord(entry);
      throw error;
    }
    if (upstream.status >= 200 && upstream.status < 300) return this.relaySuccess(call, resolved, upstream, response, upstreamDone, entry, signal);

    const errorBody = scrub((await readAll(upstream.body).catch(() => Buffer.alloc(0))).toString('utf8'), resolved.key);
    upstreamDone();
    this.nothingToRecord(entry);
    const refusal = resolved.source === KeySource.BYOK ? keyRefusalOf(upstream.status, errorBody, call.requestedModel.slice(0, 200)) : undefined;
    if (!refusal) {
      call.meter.outcome = 'answered';
      const headers = this.relayedHeaders(upstream);
      response.writeHead(upstream.status, { ...retryAdvice(upstream.status, undefined, headers), ...headers, 'x-key-source': resolved.source });
      response.end(errorBody);
      return;
    }
    call.meter.outcome = 'key_rejected';
    call.log().warn({ status: upstream.status, keyStatus: refusal.keyStatus, code: refusal.code }, "OpenRouter refused the workspace's key");
    // The answer does not wait on a database that may be away: the status is for members to read.
    if (refusal.keyStatus) await this.deps.health.mark(call.workspace.id, resolved.rowUpdatedAt, refusal.keyStatus).catch(() => undefined);
    if (refusal.modelReason) await this.deps.health.noteRefusal(call.workspace.id, resolved.rowUpdatedAt, call.requestedModel, refusal.modelReason).catch(() => undefined);
    if (mayFallBack && call.workspace.byokFallback === ByokFallback.PLATFORM) {
      return this.attempt(call, this.deps.keys.platform(), body, response, false);
    }
    await this.deps.refusedCalls.count({ workspaceId: call.workspace.id, path: call.path, actorUserId: call.actorUserId, cause: refusal.code });
    sendError(response, upstream.status, refusal.code, refusal.message, { 'x-key-source': resolved.source });
  }

  /** The call ended without an answer to bill (refused upstream, unreachable): its intent is voided. */
  private nothingToRecord(entry: JournalEntry): void {
    this.deps.spool.settleAfter(this.deps.spool.conclude(entry, undefined), entry, entry, true);
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
  private async relaySuccess(
    call: CallContext,
    resolved: ResolvedKey,
    upstream: UpstreamResponse,
    response: ServerResponse,
    upstreamDone: () => void,
    entry: JournalEntry,
    signal: AbortSignal,
  ): Promise<void> {
    // Nothing of the answer goes out before the call's intent is on disk (long done by now,
    // normally); the upstream's answer is read meanwhile, so a break-off is seen as it happens.
    let intentDurable = false;
    const intentOnDisk = async () => {
      if (intentDurable) return;
      await entry.durable;
      intentDurable = true;
    };
    // The status line goes out with the first byte relayed: until then an upstream failure can
    // still be answered as a 502/504 rather than a connection cut under a 200.
    const streaming = String(upstream.headers['content-type'] ?? '').includes('text/event-stream');
    // A proxy in front (nginx) would otherwise hold the events back and release them in bursts.
    const streamHeaders: Record<string, string> = streaming ? { 'x-accel-buffering': 'no' } : {};
    const writeHead = () => {
      if (!response.headersSent) response.writeHead(upstream.status, { ...this.relayedHeaders(upstream), ...streamHeaders, 'x-key-source': resolved.source });
    };
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
          await intentOnDisk();
          if (!clientGone) {
            writeHead();
            response.write(buffer);
          }
        } else {
          chunks.push(buffer);
        }
      }
    } catch (error) {
      upstreamDone();
      const failure = upstreamErrorOf(error);
      if (!response.headersSent && !signal.aborted) {
        // Nothing reached the caller, who may retry: the call is answered 502/504, not recorded.
        call.log().warn({ reason: failure.message }, 'upstream broke off before any of its answer was relayed: nothing recorded');
        this.nothingToRecord(entry);
        throw failure;
      }
      call.meter.outcome = 'interrupted';
      // What was relayed reaches the caller first; then the cut tells it the answer is incomplete.
      if (!response.headersSent) sendError(response, 503, 'SHUTTING_DOWN', 'This worker shut down before the answer was complete; the call is recorded as interrupted.');
      else if (!response.destroyed) response.write('', () => response.destroy());
      call.freeSlot();
      // Part of the answer went out (or a shutdown cut it), and OpenRouter may bill it.
      await this.recordInterrupted(call, resolved, entry, tap, signal.aborted ? 'shutdown grace period over mid-answer' : failure.message);
      return;
    }
    upstreamDone();
    await intentOnDisk();
    call.meter.outcome = clientGone ? 'interrupted' : 'answered';
    let usage;
    let model: string | undefined;
    if (streaming) {
      tap.end();
      usage = usageFrom(tap.usage, tap.generationId);
      model = tap.model;
    } else {
      const text = Buffer.concat(chunks);
      const parsed = safeJson(text);
      usage = usageFrom(parsed?.usage as Parameters<typeof usageFrom>[0], parsed?.id);
      model = typeof parsed?.model === 'string' ? parsed.model : undefined;
      chunks.length = 0;
      chunks.push(text);
    }
    if (resolved.source === KeySource.BYOK && KeyHealthService.clearedBySuccess(resolved.status)) {
      await this.deps.health.markSucceeded(call.workspace.id, resolved.rowUpdatedAt).catch(() => undefined);
    }
    const completed: InferenceCall = {
      ...this.callRecord(call, resolved, model),
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      rawCostMicros: usage.rawCostMicros,
      generationId: usage.generationId,
      isByok: usage.isByok,
      upstreamInferenceCostMicros: usage.upstreamInferenceCostMicros,
    };
    // The completion goes to the journal beside the intent (synced in the next group commit) and to
    // the database after the answer: the database stays off the caller's critical path and no
    // answered call is lost, even to a crash. Until the record is written the X-Request-Id stays
    // claimed, reads of usage on this worker wait for it, and a graceful shutdown waits for it.
    const concluded = this.deps.spool.conclude(entry, completed);
    let kept: KeptAnswer | undefined;
    if (!streaming && call.retryable) {
      kept = { bodyHash: call.bodyHash, status: upstream.status, headers: { ...this.relayedHeaders(upstream), 'x-key-source': resolved.source }, body: chunks[0], keySource: resolved.source };
      this.recentAnswers.put(call.claim, kept);
      call.answerKept();
    }
    if (!clientGone) {
      writeHead();
      if (streaming) response.end();
      else response.end(chunks[0]);
    }
    call.freeSlot();
    const recordId = await this.record(call, completed, entry, concluded);
    if (kept) kept.recordId = recordId;
  }

  /**
   * On the record, flagged, with the tokens seen (about one per content event), billed 0 until a
   * platform admin settles it.
   */
  private async recordInterrupted(call: CallContext, resolved: ResolvedKey, entry: JournalEntry, tap: SseUsageTap, reason: string): Promise<void> {
    tap.end();
    const seen = usageFrom(tap.usage);
    const interrupted: InferenceCall = {
      ...this.callRecord(call, resolved, tap.model),
      inputTokens: seen.inputTokens,
      outputTokens: Math.max(seen.outputTokens, tap.contentEvents),
      rawCostMicros: null,
      outcome: UsageOutcome.INTERRUPTED,
    };
    call.log().warn({ reason, outputTokensSeen: interrupted.outputTokens }, 'call interrupted: recorded INTERRUPTED');
    await this.record(call, interrupted, entry, this.deps.spool.conclude(entry, interrupted));
  }

  /** What every record of the call says, whatever its outcome. */
  private callRecord(call: CallContext, resolved: ResolvedKey, model: string | undefined): Omit<InferenceCall, 'inputTokens' | 'outputTokens' | 'rawCostMicros'> {
    return {
      requestId: call.requestId,
      workspaceId: call.workspace.id,
      path: call.path,
      // Some providers' chunks carry no model: the one the request named is the best known then.
      model: (model || call.requestedModel || 'unknown').slice(0, 200),
      tier: call.tier,
      keySource: resolved.source,
      occurredAt: call.startedAt,
      actorUserId: call.actorUserId,
    };
  }

  /**
   * Into the database; when it cannot take the call now (or within 5 s), the journal replays it.
   * A refusal is kept aside for an operator: the call was answered, so it is never dropped.
   * Returns the record's id, when it was written within the time allowed.
   */
  private async record(call: CallContext, completed: InferenceCall, entry: JournalEntry, concluded: Promise<void>): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout('timeout'), RECORD_TIMEOUT_MS);
    });
    let reachedDatabase = false;
    let recordId: string | undefined;
    try {
      const written = await Promise.race([this.deps.recorder.record(completed), timeout]);
      reachedDatabase = written !== 'timeout';
      if (written !== 'timeout') recordId = written.id;
    } catch (error) {
      if (!(await this.deps.spool.shouldReplay(error))) {
        call.log().error({ code: (error as { code?: unknown }).code }, 'answered call refused by the recorder');
        reachedDatabase = await this.deps.spool.keepAside(completed, error as Error).then(
          () => true,
          () => false,
        );
      }
    } finally {
      clearTimeout(timer);
    }
    this.deps.spool.settleAfter(concluded, entry, completed, reachedDatabase);
    return recordId;
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
