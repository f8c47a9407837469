import { createHash } from 'node:crypto';
import { QueryFailedError } from 'typeorm';
import { timeOrderedId } from '../../db/ids';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput, conflict, notFound } from '../../graphql/app-error';
import { billedMicros, tierPriceMicros } from '../billing/billing-calculator';
import { parseUsdToMicrosOrThrow } from '../billing/usd';
import { TierPriceService } from '../tier-price/tier-price.service';
import { WorkspaceEntity } from '../workspace/workspace.entity';
import { ModelTier } from '../workspace/workspace.enums';
import { UsageRecordEntity } from './usage-record.entity';
import { addToRollup } from './usage-rollup.repository';
import { InferencePath, KeySource } from './usage.enums';

/** A completed call as the inference runtime or the gateway reports it. */
export interface InferenceCall {
  requestId: string;
  workspaceId: string;
  path: InferencePath;
  model: string;
  tier: ModelTier;
  keySource: KeySource;
  inputTokens: number;
  outputTokens: number;
  /** null when the upstream cost was missing or implausible: the record is then flagged */
  rawCostMicros: number | null;
  occurredAt?: Date;
  actorUserId?: string | null;
}

const MAX_FUTURE_SKEW_MS = 5 * 60_000;
const MAX_REQUEST_ID_LENGTH = 128;
const MAX_KNOWN_WORKSPACES = 100_000;

function payloadHash(call: InferenceCall): string {
  const canonical = JSON.stringify([
    call.workspaceId,
    call.requestId,
    call.path,
    call.model,
    call.tier,
    call.keySource,
    call.inputTokens,
    call.outputTokens,
    call.rawCostMicros,
    call.occurredAt?.toISOString() ?? null,
    call.actorUserId ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code = (error.driverError as { code?: string } | undefined)?.code ?? '';
  return code === 'ER_DUP_ENTRY' || code.startsWith('SQLITE_CONSTRAINT');
}

function validateOrThrow(call: InferenceCall, now: Date): void {
  if (call.requestId.length === 0 || call.requestId.length > MAX_REQUEST_ID_LENGTH) {
    throw badUserInput(`requestId must be 1 to ${MAX_REQUEST_ID_LENGTH} characters`);
  }
  if (call.model.trim().length === 0) throw badUserInput('model must not be blank');
  for (const [name, value] of [
    ['inputTokens', call.inputTokens],
    ['outputTokens', call.outputTokens],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw badUserInput(`${name} must be a non-negative integer`);
  }
  if (call.occurredAt && call.occurredAt.getTime() > now.getTime() + MAX_FUTURE_SKEW_MS) {
    throw badUserInput('occurredAt may be at most 5 minutes in the future');
  }
}

/**
 * Records each AI call exactly once and bills it at recording time (SPEC.md, "Billing").
 * Idempotent on (workspaceId, requestId) through a unique index, not read-then-write: a retry with
 * the same payload gets the first record back; a different payload under a used id is a CONFLICT.
 */
export class UsageRecorderService {
  private readonly knownWorkspaces = new Set<string>();

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly prices: TierPriceService,
  ) {}

  /** A call reported through recordInferenceCall: its raw cost is USD as decimal text, parsed exactly. */
  recordReported(call: Omit<InferenceCall, 'rawCostMicros'> & { rawCostUsd: string }): Promise<UsageRecordEntity> {
    let rawCostMicros: number;
    try {
      rawCostMicros = parseUsdToMicrosOrThrow(call.rawCostUsd);
    } catch {
      throw badUserInput('rawCostUsd must be a non-negative decimal number of US dollars, such as "0.000123"');
    }
    const { rawCostUsd: _text, ...rest } = call;
    return this.record({ ...rest, rawCostMicros });
  }

  async record(call: InferenceCall): Promise<UsageRecordEntity> {
    const now = new Date();
    validateOrThrow(call, now);
    const hash = payloadHash(call);
    try {
      return await this.insert(call, hash, now);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const first = await this.transactions.manager.findOne(UsageRecordEntity, {
        where: { workspaceId: call.workspaceId, requestId: call.requestId },
      });
      if (!first) throw error;
      if (first.payloadHash !== hash) {
        throw conflict(`requestId ${call.requestId} was already recorded with a different payload`);
      }
      return first;
    }
  }

  /**
   * Workspaces are never deleted through the API, so once seen a workspace id stays valid: the
   * hot recording path then skips a round trip to the database.
   */
  private async workspaceExistsOrThrow(workspaceId: string): Promise<void> {
    if (this.knownWorkspaces.has(workspaceId)) return;
    const found = await this.transactions.manager.exists(WorkspaceEntity, { where: { id: workspaceId } });
    if (!found) throw notFound('Workspace');
    if (this.knownWorkspaces.size >= MAX_KNOWN_WORKSPACES) this.knownWorkspaces.clear();
    this.knownWorkspaces.add(workspaceId);
  }

  private async insert(call: InferenceCall, hash: string, now: Date): Promise<UsageRecordEntity> {
    await this.workspaceExistsOrThrow(call.workspaceId);
    return this.transactions.run(async (manager) => {
      const occurredAt = call.occurredAt ?? now;
      const price = await this.prices.inEffectOrThrow(manager, call.tier, occurredAt);
      const tierPrice = tierPriceMicros(call.inputTokens, call.outputTokens, price);
      const record = Object.assign(new UsageRecordEntity(), {
        id: timeOrderedId(now.getTime()),
        workspaceId: call.workspaceId,
        requestId: call.requestId,
        path: call.path,
        model: call.model,
        tier: call.tier,
        keySource: call.keySource,
        inputTokens: call.inputTokens,
        outputTokens: call.outputTokens,
        rawCostMicros: call.rawCostMicros,
        tierPriceMicros: tierPrice,
        billedMicros: billedMicros(call.keySource, tierPrice, call.rawCostMicros),
        occurredAt,
        recordedAt: now,
        actorUserId: call.actorUserId ?? null,
        flagged: call.rawCostMicros === null,
        settledAt: null,
        payloadHash: hash,
      });
      await manager.insert(UsageRecordEntity, record);
      await addToRollup(manager, {
        ...record,
        calls: 1,
        rawCostMicros: record.rawCostMicros ?? 0,
        flaggedCalls: record.flagged ? 1 : 0,
      });
      return record;
    });
  }
}
