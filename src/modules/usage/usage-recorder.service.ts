import { createHash } from 'node:crypto';
import { EntityManager, In } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { timeOrderedId } from '../../db/ids';
import { insertNewRows } from '../../db/insert-new-rows';
import { TransactionRunner, UnitOfWork } from '../../db/transaction-runner';
import { Settled, WriteBatcher } from '../../db/write-batcher';
import { badUserInput, conflict, notFound } from '../../errors/app-error';
import { KEY_POLICY, KeyPolicy } from '../gateway/key-policy';
import { BillingRangeError, billedMicros, tierPriceMicros } from '../billing/billing-calculator';
import { canonicalUsdText, parseUsdToMicrosOrThrow } from '../../money/usd';
import { TierPriceSchedule, TierPriceService } from '../tier-price/tier-price.service';
import type { WorkspaceDirectory } from '../workspace/workspace-directory';
import { ModelTier } from '../workspace/workspace.enums';
import { MAX_RAW_COST_MICROS_PER_CALL, MAX_TOKENS_PER_CALL } from './call-limits';
import { UsageRecordEntity } from './usage-record.entity';
import { rawCostMicrosOf } from './raw-cost';
import { addToRollup } from './usage-rollup.repository';
import { InferencePath, KeySource, UsageOutcome } from './usage.enums';

/** What reads of usage wait on: calls of the workspace this worker is still writing. */
export interface UnsettledRecordings {
  settled(workspaceId: string): Promise<void>;
}

/** Work that belongs with new usage records: counters moved after commit, events in the same transaction. */
export type RecordsWrittenHook = (manager: EntityManager, unit: UnitOfWork, records: readonly UsageRecordEntity[]) => Promise<void>;

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
  /**
   * The raw cost exactly as reported in USD, when it came as decimal text: part of the payload a
   * retry must repeat, since two costs can round to the same micro-USD.
   */
  rawCostUsd?: string;
  occurredAt?: Date;
  actorUserId?: string | null;
  /** OpenRouter's generation id, kept to reconcile a month with its activity export */
  generationId?: string | null;
  isByok?: boolean | null;
  /** as reported; when `isByok` it is already part of rawCostMicros */
  upstreamInferenceCostMicros?: number | null;
  /** the upstream cost exactly as reported in USD, part of the payload like rawCostUsd */
  upstreamInferenceCostUsd?: string;
  /** COMPLETED unless only the call's intent reached the journal */
  outcome?: UsageOutcome;
}

/** What recordInferenceCall reports: USD as decimal text, the upstream cost apart from `cost`. */
export type ReportedCall = Omit<InferenceCall, 'rawCostMicros' | 'upstreamInferenceCostMicros' | 'outcome'> & { rawCostUsd: string; upstreamInferenceCostUsd?: string | null };

const MAX_FUTURE_SKEW_MS = 5 * 60_000;
const MAX_REQUEST_ID_LENGTH = 128;

/** The reconciliation fields, hashed only when present, so that the hash of a call reported without them is the one it always had. */
function reconciliationPart(call: InferenceCall): unknown[] {
  const part = [call.generationId ?? null, call.isByok ?? null, call.upstreamInferenceCostMicros ?? null, call.upstreamInferenceCostUsd ?? null];
  return part.every((value) => value === null) ? [] : part;
}

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
    call.rawCostUsd ?? null,
    call.occurredAt?.toISOString() ?? null,
    call.actorUserId ?? null,
    ...reconciliationPart(call),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
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

function withinCallLimitsOrThrow(call: Pick<InferenceCall, 'inputTokens' | 'outputTokens'>, rawCostMicros: number): void {
  for (const [name, value] of [
    ['inputTokens', call.inputTokens],
    ['outputTokens', call.outputTokens],
  ] as const) {
    if (value > MAX_TOKENS_PER_CALL) throw badUserInput(`${name} may be at most ${MAX_TOKENS_PER_CALL} per call`);
  }
  if (rawCostMicros > MAX_RAW_COST_MICROS_PER_CALL) {
    throw badUserInput(`rawCostUsd may be at most ${MAX_RAW_COST_MICROS_PER_CALL / 1_000_000} USD per call`);
  }
}

function reportedUsdOrThrow(name: string, text: string): number {
  try {
    return parseUsdToMicrosOrThrow(text);
  } catch {
    throw badUserInput(`${name} must be a non-negative decimal number of US dollars, such as "0.000123"`);
  }
}

interface PendingCall {
  call: InferenceCall;
  hash: string;
  now: Date;
}

/** Calls written per transaction at most: ~19 parameters each stays far below every driver's limit. */
const MAX_CALLS_PER_BATCH = 200;

const requestKey = (record: { workspaceId: string; requestId: string }) => `${record.workspaceId}\u0000${record.requestId}`;

/**
 * Records each AI call exactly once and bills it at recording time (SPEC.md, "Billing").
 * Idempotent on (workspaceId, requestId) through a unique index, not read-then-write: a retry with
 * the same payload gets the first record back; a different payload under a used id is a CONFLICT.
 *
 * Calls arriving together are written together (group commit): one transaction prices them, inserts
 * them in one statement (reading back which rows are theirs only when some request id was taken)
 * and adds them to the daily rollups.
 */
export class UsageRecorderService implements UnsettledRecordings {
  private readonly writeHooks: RecordsWrittenHook[] = [];
  private readonly unsettled = new Map<string, Set<Promise<void>>>();
  private readonly batcher = new WriteBatcher<PendingCall, UsageRecordEntity>((batch) => this.writeBatch(batch), MAX_CALLS_PER_BATCH);

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly prices: TierPriceService,
    private readonly workspaces: WorkspaceDirectory,
  ) {}

  /**
   * A call reported through recordInferenceCall: its raw cost is USD as decimal text, parsed
   * exactly. Values beyond one call's limits are refused here; the gateway, which cannot refuse
   * a call already answered, records such calls its own way.
   */
  recordReported({ upstreamInferenceCostUsd, ...call }: ReportedCall): Promise<UsageRecordEntity> {
    const costMicros = reportedUsdOrThrow('rawCostUsd', call.rawCostUsd);
    const upstreamInferenceCostMicros = upstreamInferenceCostUsd === undefined || upstreamInferenceCostUsd === null ? null : reportedUsdOrThrow('upstreamInferenceCostUsd', upstreamInferenceCostUsd);
    const rawCostMicros = rawCostMicrosOf(costMicros, call.isByok, upstreamInferenceCostMicros);
    withinCallLimitsOrThrow(call, rawCostMicros ?? costMicros);
    if (call.keySource === KeySource.BYOK && KEY_POLICY[call.path] === KeyPolicy.PLATFORM_KEY) {
      throw badUserInput(`keySource BYOK is not allowed on ${call.path}: background paths always run on the platform key`);
    }
    return this.record({
      ...call,
      rawCostMicros,
      rawCostUsd: canonicalUsdText(call.rawCostUsd),
      upstreamInferenceCostMicros,
      ...(upstreamInferenceCostUsd === undefined || upstreamInferenceCostUsd === null ? {} : { upstreamInferenceCostUsd: canonicalUsdText(upstreamInferenceCostUsd) }),
    });
  }

  /** Runs in each recording's transaction with the records it inserted (retries of a used request id excluded). */
  onRecordsWritten(hook: RecordsWrittenHook): void {
    this.writeHooks.push(hook);
  }

  /** `lingerMs`: how long the call may wait for others to share its transaction (see WriteBatcher). */
  record(call: InferenceCall, lingerMs = 0): Promise<UsageRecordEntity> {
    const recording = this.validateAndWrite(call, lingerMs);
    this.track(call.workspaceId, recording);
    return recording;
  }

  /**
   * Resolves once every call of the workspace that this worker has begun recording is written (or
   * refused). Reads of usage wait on it, so whoever was answered by the gateway and then reads its
   * workspace's usage on the same worker finds the call there.
   */
  async settled(workspaceId: string): Promise<void> {
    const recordings = this.unsettled.get(workspaceId);
    if (recordings) await Promise.all(recordings);
  }

  private track(workspaceId: string, recording: Promise<unknown>): void {
    let recordings = this.unsettled.get(workspaceId);
    if (!recordings) {
      recordings = new Set();
      this.unsettled.set(workspaceId, recordings);
    }
    const settled: Promise<void> = recording.then(
      () => this.untrack(workspaceId, settled),
      () => this.untrack(workspaceId, settled),
    );
    recordings.add(settled);
  }

  private untrack(workspaceId: string, settled: Promise<void>): void {
    const recordings = this.unsettled.get(workspaceId);
    recordings?.delete(settled);
    if (recordings?.size === 0) this.unsettled.delete(workspaceId);
  }

  private async validateAndWrite(call: InferenceCall, lingerMs: number): Promise<UsageRecordEntity> {
    const now = new Date();
    validateOrThrow(call, now);
    await this.workspaceExistsOrThrow(call.workspaceId);
    return this.batcher.submit({ call, hash: payloadHash(call), now }, lingerMs);
  }

  /** From this worker's copy of the row, so the hot recording path rarely waits for the database. */
  private async workspaceExistsOrThrow(workspaceId: string): Promise<void> {
    if (!(await this.workspaces.workspace(workspaceId))) throw notFound('Workspace');
  }

  private writeBatch(batch: PendingCall[]): Promise<Array<Settled<UsageRecordEntity>>> {
    return this.transactions.run(async (manager, unit) => {
      const schedule = await this.prices.schedule(manager);
      const outcomes: Array<Settled<UsageRecordEntity>> = [];
      const candidates: UsageRecordEntity[] = [];
      for (const pending of batch) {
        try {
          const record = billedRecord(pending, schedule);
          candidates.push(record);
          outcomes.push({ ok: true, value: record });
        } catch (error) {
          outcomes.push({ ok: false, error });
        }
      }
      // One key order for every writer, so concurrent batches take index locks in the same sequence.
      const insertedCount = await insertNewRows(manager, this.dialect, UsageRecordEntity, [...candidates].sort((a, b) => (requestKey(a) < requestKey(b) ? -1 : 1)));
      let inserted = candidates;
      if (insertedCount < candidates.length) {
        const storedIds = await this.storedIds(manager, candidates);
        if (candidates.some((record) => !storedIds.has(requestKey(record)))) throw new Error('a usage record was neither inserted nor found under its request id');
        inserted = candidates.filter((record) => storedIds.get(requestKey(record)) === record.id);
        await this.answerRetries(manager, outcomes, storedIds);
      }
      await addToRollup(
        manager,
        this.dialect,
        ...inserted.map((record) => ({ ...record, calls: 1, rawCostMicros: record.rawCostMicros ?? 0, flaggedCalls: record.flagged ? 1 : 0 })),
      );
      if (inserted.length > 0) for (const hook of this.writeHooks) await hook(manager, unit, inserted);
      return outcomes;
    });
  }

  /**
   * The id stored under each candidate's (workspace, request id): the candidate's own when it was
   * inserted, the first record's when the id was taken. A locking read on MySQL, so it sees rows
   * committed by other writers since this transaction's snapshot.
   */
  private async storedIds(manager: EntityManager, records: readonly UsageRecordEntity[]): Promise<Map<string, string>> {
    if (records.length === 0) return new Map();
    const pairs = records.map(() => '(workspace_id = ? AND request_id = ?)').join(' OR ');
    const rows = (await manager.query(
      this.dialect.selectForUpdate(`SELECT id, workspace_id, request_id FROM usage_record WHERE ${pairs}`),
      records.flatMap((record) => [record.workspaceId, record.requestId]),
    )) as Array<{ id: string; workspace_id: string; request_id: string }>;
    return new Map(rows.map((row) => [requestKey({ workspaceId: row.workspace_id, requestId: row.request_id }), row.id]));
  }

  /** Retries get the first record back; a different payload under a used request id is a CONFLICT. */
  private async answerRetries(manager: EntityManager, outcomes: Array<Settled<UsageRecordEntity>>, storedIds: Map<string, string>): Promise<void> {
    const takenIds = outcomes.flatMap((outcome) => {
      if (!outcome.ok) return [];
      const stored = storedIds.get(requestKey(outcome.value));
      return stored !== undefined && stored !== outcome.value.id ? [stored] : [];
    });
    const firsts = await manager.find(UsageRecordEntity, {
      where: { id: In(takenIds) },
      ...this.dialect.lockInFind('pessimistic_read'),
    });
    const firstByKey = new Map(firsts.map((record) => [requestKey(record), record]));
    outcomes.forEach((outcome, index) => {
      if (!outcome.ok) return;
      const first = firstByKey.get(requestKey(outcome.value));
      if (!first || first.id === outcome.value.id) return;
      outcomes[index] =
        first.payloadHash === outcome.value.payloadHash
          ? { ok: true, value: first }
          : { ok: false, error: conflict(`requestId ${outcome.value.requestId} was already recorded with a different payload`) };
    });
  }
}

/** The record of a call, billed at the tier price in effect when it occurred. */
function billedRecord({ call, hash, now }: PendingCall, schedule: TierPriceSchedule): UsageRecordEntity {
  const occurredAt = call.occurredAt ?? now;
  const interrupted = call.outcome === UsageOutcome.INTERRUPTED;
  let tierPrice: number;
  try {
    tierPrice = tierPriceMicros(call.inputTokens, call.outputTokens, schedule.inEffectOrThrow(call.tier, occurredAt));
  } catch (error) {
    if (!(error instanceof BillingRangeError)) throw error;
    throw badUserInput(`${call.inputTokens} input and ${call.outputTokens} output tokens at ${call.tier} prices come to more than ${Number.MAX_SAFE_INTEGER} µ$, the most one call can be billed`);
  }
  return Object.assign(new UsageRecordEntity(), {
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
    // An interrupted call's cost is not known: billed 0 until a platform admin settles it.
    billedMicros: interrupted ? 0 : billedMicros(call.keySource, tierPrice, call.rawCostMicros),
    occurredAt,
    recordedAt: now,
    actorUserId: call.actorUserId ?? null,
    flagged: call.rawCostMicros === null || interrupted,
    settledAt: null,
    generationId: call.generationId ?? null,
    isByok: call.isByok ?? null,
    upstreamInferenceCostMicros: call.upstreamInferenceCostMicros ?? null,
    outcome: call.outcome ?? UsageOutcome.COMPLETED,
    payloadHash: hash,
  });
}
