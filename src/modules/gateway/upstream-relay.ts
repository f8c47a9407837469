import type { Logger } from 'pino';
import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import type { GatewayCallOutcome } from '../../metrics/gateway.metrics';
import { ByokFallback } from '../inference-key/inference-key.enums';
import type { RefusedCallsService } from '../usage/refused-calls.service';
import type { KeptAnswer } from '../usage/ledger/recent-answers';
import type { CallClaim } from '../usage/ledger/request-claims';
import type { JournalEntry } from '../usage/ledger/usage-journal';
import type { UsageLedger } from '../usage/ledger/usage-ledger';
import type { InferenceCall } from '../usage/usage-recorder.service';
import { InferencePath, KeySource, UsageOutcome } from '../usage/usage.enums';
import type { WorkspaceEntity } from '../workspace/workspace.entity';
import type { ModelTier } from '../workspace/workspace.enums';
import type { GatewayKeyPicker, ResolvedKey } from './gateway-key.picker';
import type { GatewayResponse } from './gateway-exchange';
import { KeyHealthService } from '../inference-key/key-health.service';
import { keyRefusalOf } from './key-refusal';
import { OpenRouterClient, UpstreamEndpoint, UpstreamResponse, upstreamErrorOf } from './openrouter.client';
import { SseUsageTap, usageFrom } from './upstream-usage';

const RELAYED_HEADERS = ['content-type', 'cache-control', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];

/** What the metrics learn of one call as it goes. */
export interface CallMeter {
  /** the X-Inference-Path as sent: the metrics count anything else as INVALID */
  path: string;
  keySource: KeySource | 'NONE';
  outcome: GatewayCallOutcome;
  /** time spent waiting on OpenRouter, over every attempt (a fallback makes two) */
  upstreamNs: bigint;
}

/** One admitted call, its request id claimed, on its way upstream. */
export interface CallContext {
  meter: CallMeter;
  requestId: string;
  claim: CallClaim;
  bodyHash: string;
  /** the request body's `model` */
  requestedModel: string;
  endpoint: UpstreamEndpoint;
  /** X-Request-Id was given: a retry may come, so a non-streaming answer is kept for it */
  retryable: boolean;
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

export interface UpstreamRelayDependencies {
  client: OpenRouterClient;
  ledger: UsageLedger;
  keys: GatewayKeyPicker;
  health: KeyHealthService;
  refusedCalls: RefusedCallsService;
}

async function readAll(body: UpstreamResponse['body']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function scrub(text: string, key: string): string {
  return text.split(key).join('[redacted]');
}

function safeJson(text: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed = JSON.parse(text.toString('utf8')) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function relayedHeaders(upstream: UpstreamResponse): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of RELAYED_HEADERS) {
    const value = upstream.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

/**
 * Sends an admitted call to OpenRouter on the key resolved for it and relays the answer, with the
 * ledger journaling it before it goes and recording it once it ends. The key goes upstream in a
 * header and nowhere else.
 */
export class UpstreamRelay {
  /** one per call at OpenRouter, so that a shutdown past its grace can cut them */
  private readonly upstreamCalls = new Set<AbortController>();

  constructor(private readonly deps: UpstreamRelayDependencies) {}

  /** Past the shutdown's grace: every call still at OpenRouter is cut, and recorded INTERRUPTED. */
  abortAll(): void {
    for (const controller of this.upstreamCalls) controller.abort();
  }

  /** `mayFallBack`: a refusal of the workspace's key may be answered on the platform key (opt-in). */
  async send(call: CallContext, resolved: ResolvedKey, body: string, response: GatewayResponse, mayFallBack: boolean): Promise<void> {
    call.meter.keySource = resolved.source;
    const sent = process.hrtime.bigint();
    const upstreamDone = () => {
      call.meter.upstreamNs += process.hrtime.bigint() - sent;
    };
    const entry = this.deps.ledger.intend(call.claim, {
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
    response: GatewayResponse,
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
        throw new AppError(ErrorCode.SHUTTING_DOWN, 'This worker shut down while the call was at OpenRouter; it is recorded as interrupted.', { retryable: true });
      }
      this.deps.ledger.nothingToRecord(entry);
      throw error;
    }
    if (upstream.status >= 200 && upstream.status < 300) return this.relaySuccess(call, resolved, upstream, response, upstreamDone, entry, signal);

    const errorBody = scrub((await readAll(upstream.body).catch(() => Buffer.alloc(0))).toString('utf8'), resolved.key);
    upstreamDone();
    this.deps.ledger.nothingToRecord(entry);
    const refusal = resolved.source === KeySource.BYOK ? keyRefusalOf(upstream.status, errorBody, call.requestedModel.slice(0, 200)) : undefined;
    if (!refusal) {
      call.meter.outcome = 'answered';
      response.start(upstream.status, { ...relayedHeaders(upstream), 'x-key-source': resolved.source });
      response.end(errorBody);
      return;
    }
    call.meter.outcome = 'key_rejected';
    call.log().warn({ status: upstream.status, keyStatus: refusal.keyStatus, code: refusal.code }, "OpenRouter refused the workspace's key");
    // The answer does not wait on a database that may be away: the status is for members to read.
    if (refusal.keyStatus) await this.deps.health.mark(call.workspace.id, resolved.rowUpdatedAt, refusal.keyStatus).catch(() => undefined);
    if (refusal.modelReason) await this.deps.health.noteRefusal(call.workspace.id, resolved.rowUpdatedAt, call.requestedModel, refusal.modelReason).catch(() => undefined);
    if (mayFallBack && call.workspace.byokFallback === ByokFallback.PLATFORM) {
      return this.send(call, this.deps.keys.platform(), body, response, false);
    }
    await this.deps.refusedCalls.count({ workspaceId: call.workspace.id, path: call.path, actorUserId: call.actorUserId, cause: refusal.code });
    response.fail(new AppError(refusal.code, refusal.message, { upstreamStatus: upstream.status }), { 'x-key-source': resolved.source });
  }

  /**
   * Relays the answer as it arrives and records the call once the upstream has completed it. A
   * client that goes away mid-stream stops receiving, not the reading: the call is still recorded.
   */
  private async relaySuccess(
    call: CallContext,
    resolved: ResolvedKey,
    upstream: UpstreamResponse,
    response: GatewayResponse,
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
    const start = () => {
      if (!response.started) response.start(upstream.status, { ...relayedHeaders(upstream), ...streamHeaders, 'x-key-source': resolved.source });
    };
    const tap = new SseUsageTap();
    const chunks: Buffer[] = [];
    let clientGone = false;
    response.onClose((complete) => {
      clientGone = !complete;
    });
    try {
      for await (const chunk of upstream.body) {
        const buffer = chunk as Buffer;
        if (streaming) {
          tap.feed(buffer);
          await intentOnDisk();
          if (!clientGone) {
            start();
            response.write(buffer);
          }
        } else {
          chunks.push(buffer);
        }
      }
    } catch (error) {
      upstreamDone();
      const failure = upstreamErrorOf(error);
      if (!response.started && !signal.aborted) {
        // Nothing reached the caller, who may retry: the call is answered 502/504, not recorded.
        call.log().warn({ reason: failure.reason }, 'upstream broke off before any of its answer was relayed: nothing recorded');
        this.deps.ledger.nothingToRecord(entry);
        throw failure;
      }
      call.meter.outcome = 'interrupted';
      // What was relayed reaches the caller first; then the cut tells it the answer is incomplete.
      if (!response.started) response.fail(new AppError(ErrorCode.SHUTTING_DOWN, 'This worker shut down before the answer was complete; the call is recorded as interrupted.', { retryable: true }));
      else response.cut();
      call.freeSlot();
      // Part of the answer went out (or a shutdown cut it), and OpenRouter may bill it.
      await this.recordInterrupted(call, resolved, entry, tap, signal.aborted ? 'shutdown grace period over mid-answer' : failure.reason);
      return;
    }
    upstreamDone();
    // The answer is read and its record made ready while the intent's write may still be running.
    let usage;
    let model: string | undefined;
    let answer: Buffer | undefined;
    if (streaming) {
      tap.end();
      usage = usageFrom(tap.usage, tap.generationId);
      model = tap.model;
    } else {
      answer = Buffer.concat(chunks);
      const parsed = safeJson(answer);
      usage = usageFrom(parsed?.usage as Parameters<typeof usageFrom>[0], parsed?.id);
      model = typeof parsed?.model === 'string' ? parsed.model : undefined;
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
    if (resolved.source === KeySource.BYOK && KeyHealthService.clearedBySuccess(resolved.status)) {
      await this.deps.health.markSucceeded(call.workspace.id, resolved.rowUpdatedAt).catch(() => undefined);
    }
    await intentOnDisk();
    call.meter.outcome = clientGone ? 'interrupted' : 'answered';
    if (!clientGone) {
      start();
      response.end(answer);
    }
    // The completion goes to the journal beside the intent (synced in the next group commit) and to
    // the database after the answer: the database stays off the caller's critical path and no
    // answered call is lost, even to a crash. Until the record is written the X-Request-Id stays
    // claimed, reads of usage on this worker wait for it, and a graceful shutdown waits for it.
    const concluded = this.deps.ledger.conclude(entry, completed);
    let kept: KeptAnswer | undefined;
    if (answer && call.retryable) {
      kept = { bodyHash: call.bodyHash, status: upstream.status, headers: { ...relayedHeaders(upstream), 'x-key-source': resolved.source }, body: answer, keySource: resolved.source };
      call.claim.keep(kept);
    }
    call.freeSlot();
    const recordId = await this.deps.ledger.record(entry, completed, concluded, call.log);
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
    await this.deps.ledger.record(entry, interrupted, this.deps.ledger.conclude(entry, interrupted), call.log);
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
}
