import { ConcurrencyLimiter } from '../../concurrency-limiter';
import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import { lazyChild } from '../../logging/logger';
import { GatewayMetrics, NO_GATEWAY_METRICS } from '../../metrics/gateway.metrics';
import type { BudgetGuard } from '../budget/budget-guard';
import type { RefusedCallsService } from '../usage/refused-calls.service';
import type { UsageLedger } from '../usage/ledger/usage-ledger';
import type { WorkspaceDirectory } from '../workspace/workspace-directory';
import type { GatewayKeyPicker } from './gateway-key.picker';
import type { GatewayRequest, GatewayResponse, IncomingCall } from './gateway-exchange';
import type { KeyHealthService } from '../inference-key/key-health.service';
import type { OpenRouterClient } from './openrouter.client';
import { CallContext, CallMeter, UpstreamRelay } from './upstream-relay';

export interface GatewayDependencies {
  /** the worker's copies of workspace rows: an unknown workspace is not kept */
  workspaces: WorkspaceDirectory;
  keys: GatewayKeyPicker;
  client: OpenRouterClient;
  ledger: UsageLedger;
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

/**
 * POST /v1/chat/completions and /v1/embeddings: the platform's inference runtime calls OpenRouter
 * through here, so the right key is used and every call sent upstream is on the record exactly
 * once (the usage ledger's job). Admits a call (request id, workspace, budget, concurrency),
 * resolves its key and hands it to the relay.
 */
export class InferenceGateway {
  /** set on SIGTERM: new calls are refused while those in flight finish */
  private draining = false;
  /** calls in flight per workspace, so that one workspace's burst cannot take every connection upstream */
  private readonly perWorkspace: ConcurrencyLimiter;
  private readonly relay: UpstreamRelay;
  private metrics: GatewayMetrics = NO_GATEWAY_METRICS;

  constructor(private readonly deps: GatewayDependencies) {
    this.perWorkspace = new ConcurrencyLimiter(deps.maxConcurrentPerWorkspace);
    this.relay = new UpstreamRelay(deps);
  }

  /** Metrics are set up after the services: until then, and when they are off, nothing is counted. */
  reportTo(metrics: GatewayMetrics): void {
    this.metrics = metrics;
  }

  /** Serves one call; its errors are thrown for the HTTP adapter to answer, once the call is metered. */
  async handle(incoming: IncomingCall, response: GatewayResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const meter: CallMeter = { path: incoming.pathLabel, keySource: 'NONE', outcome: 'refused', upstreamNs: 0n };
    // The caller's wait ends with the answer; recording it afterwards is not part of it.
    let answeredAt: bigint | undefined;
    response.onClose(() => {
      answeredAt = process.hrtime.bigint();
    });
    try {
      incoming.authenticate();
      if (this.draining) throw new AppError(ErrorCode.SHUTTING_DOWN, 'This worker is shutting down; no call was made and nothing was billed. Retry: another worker takes it.', { retryable: true });
      await this.serve(await incoming.read(), response, incoming, meter);
    } catch (error) {
      const code = (error as { code?: unknown } | undefined)?.code;
      if (code === ErrorCode.UPSTREAM_TIMEOUT) meter.outcome = 'upstream_timeout';
      else if (code === ErrorCode.UPSTREAM_UNREACHABLE) meter.outcome = 'upstream_unreachable';
      throw error;
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

  /** From now on new calls answer 503 (another worker takes them); calls in flight go on. */
  drain(): void {
    this.draining = true;
  }

  /** Past the shutdown's grace: every call still at OpenRouter is cut, and recorded INTERRUPTED. */
  abortInFlight(): void {
    this.relay.abortAll();
  }

  /** Closes the upstream connection pool. */
  close(): Promise<void> {
    return this.deps.client.close();
  }

  private async serve(request: GatewayRequest, response: GatewayResponse, incoming: IncomingCall, meter: CallMeter): Promise<void> {
    const { workspaceId, requestId, path, actorUserId, endpoint, payload } = request;
    const claimRequest = {
      workspaceId,
      requestId,
      given: request.givenRequestId !== undefined,
      bodyHash: request.bodyHash,
      streaming: endpoint === 'chat/completions' && payload.stream === true,
    };
    const admission = await this.deps.ledger.admit(
      claimRequest,
      {
        what: 'Workspace',
        load: () => this.deps.workspaces.workspace(workspaceId),
        cachedDuringOutage: () => (this.deps.staleWhileUnreachableMs === undefined ? undefined : this.deps.workspaces.staleWorkspace(workspaceId, this.deps.staleWhileUnreachableMs)) ?? undefined,
      },
      incoming.log,
    );
    if (admission.kind === 'kept') {
      const kept = admission.answer;
      meter.keySource = kept.keySource;
      meter.outcome = 'answered';
      response.start(kept.status, { ...kept.headers, 'x-request-id': requestId });
      response.end(kept.body);
      return;
    }
    const { subject: workspace, claim } = admission;
    let freeSlot: (() => void) | undefined;
    try {
      const overBudget = await this.deps.budget?.refusalFor(workspace.id, path);
      if (overBudget) {
        await this.deps.refusedCalls.count({ workspaceId: workspace.id, path, actorUserId, cause: overBudget.code });
        throw new AppError(ErrorCode.BUDGET_EXCEEDED, overBudget.message);
      }
      freeSlot = this.perWorkspace.tryAcquire(workspaceId);
      if (!freeSlot) {
        throw new AppError(
          ErrorCode.CONCURRENCY_LIMIT,
          `This workspace already has ${this.deps.maxConcurrentPerWorkspace} gateway calls in progress on this worker, the most allowed; nothing was sent upstream. Retry shortly.`,
          { retryable: true },
        );
      }
      const call: CallContext = {
        meter,
        requestId,
        claim,
        bodyHash: request.bodyHash,
        retryable: claimRequest.given,
        requestedModel: payload.model as string,
        endpoint,
        freeSlot,
        workspace,
        path,
        tier: request.tier ?? workspace.defaultTier,
        actorUserId,
        startedAt: new Date(),
        log: lazyChild(incoming.log, { workspaceId, path }),
      };
      response.setHeader('x-request-id', requestId);
      // Ask OpenRouter for usage accounting: cost and tokens come back in the final `usage` object.
      // Embeddings answers carry their usage (tokens and cost) unasked.
      const body = endpoint === 'chat/completions' ? JSON.stringify({ ...payload, usage: { include: true } }) : JSON.stringify(payload);
      const resolved = await this.deps.keys.resolve(workspace, path);
      await this.relay.send(call, resolved, body, response, true);
    } finally {
      claim.end();
      freeSlot?.();
    }
  }
}
