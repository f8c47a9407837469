import type { Logger } from 'pino';
import type { EntityManager } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import type { TransactionRunner } from '../../db/transaction-runner';
import { KeyStatus } from './inference-key.enums';
import { statusForCredit } from './key-credit';
import type { LiveKeyCheck } from './openrouter-key.verifier';
import type { TenantSecretStore } from '../secrets/tenant-secret.store';
import { InferenceKeyRecordEntity } from './inference-key-record.entity';
import type { WorkspaceEvents } from '../workspace/workspace-events';

/**
 * What a successful call through the key proves wrong: the error statuses, and UNVERIFIED (a key
 * saved while OpenRouter was unreachable). Never LOW_CREDIT: a call that works says nothing about
 * the credit left, which only a re-check reads.
 */
const CLEARED_BY_SUCCESS: ReadonlySet<string> = new Set([
  KeyStatus.INVALID,
  KeyStatus.OUT_OF_CREDITS,
  KeyStatus.LIMIT_EXCEEDED,
  KeyStatus.KEY_UNAVAILABLE,
  KeyStatus.UNVERIFIED,
]);

/** What OpenRouter's refusal of `GET /key` says about the key. */
const STATUS_OF_REFUSAL: Record<number, KeyStatus> = {
  401: KeyStatus.INVALID,
  402: KeyStatus.OUT_OF_CREDITS,
  403: KeyStatus.LIMIT_EXCEEDED,
};

/** No worker holds the key's re-check, or its lease ran out. */
const LEASE_FREE = '(recheck_lease_until IS NULL OR recheck_lease_until < :now)';
/** Scheduled before now, or never scheduled and last checked (or saved) an interval ago. */
const DUE = '(openrouter_next_check_at <= :now OR (openrouter_next_check_at IS NULL AND COALESCE(openrouter_last_checked_at, updated_at) <= :lastDue))';

function dueParameters(now: Date, intervalMs: number): { now: Date; lastDue: Date } {
  return { now, lastDue: new Date(now.getTime() - intervalMs) };
}

export interface KeyStatusChange {
  workspaceId: string;
  /** null when the key had no status yet */
  from: KeyStatus | null;
  to: KeyStatus;
  at: Date;
}

/**
 * Told of every change of a key's status, inside the transaction that makes it: an outbox row
 * written with `manager` (the `key.status_changed` webhook) commits or rolls back with the change.
 */
export type KeyStatusChangedListener = (manager: EntityManager, change: KeyStatusChange) => Promise<void>;

/** When the re-check worker asks next and what it found out; see KeyRecheckWorker. */
export interface RecheckOutcome {
  check: LiveKeyCheck;
  nextCheckAt: Date;
  failures: number;
}

/**
 * Records what is known about a workspace's key: what OpenRouter said about it, and whether its
 * stored blob decrypts at all. Each update names the row version the key was read from, so a
 * verdict on an old key never lands on a key that replaced it meanwhile (a replace is how a member
 * recovers from any of these statuses).
 */
export class KeyHealthService {
  private readonly statusListeners: KeyStatusChangedListener[] = [];

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly secrets: TenantSecretStore,
    private readonly events: WorkspaceEvents,
    private readonly log: Logger,
  ) {}

  onStatusChanged(listener: KeyStatusChangedListener): void {
    this.statusListeners.push(listener);
  }

  /** What the gateway learnt from OpenRouter's answer to a call on the key. */
  async mark(workspaceId: string, rowUpdatedAt: Date | null, status: KeyStatus): Promise<void> {
    if (!rowUpdatedAt) return;
    await this.changeStatus(workspaceId, rowUpdatedAt, () => status, { openrouterLastCheckedAt: new Date() });
  }

  /** Whether a successful call on a key with this (cached) status has anything to clear. */
  static clearedBySuccess(status: string | null): boolean {
    return status !== null && CLEARED_BY_SUCCESS.has(status);
  }

  /** A call on the key succeeded: error statuses give way to ACTIVE; LOW_CREDIT and ACTIVE stay. */
  async markSucceeded(workspaceId: string, rowUpdatedAt: Date | null): Promise<void> {
    if (!rowUpdatedAt) return;
    await this.changeStatus(workspaceId, rowUpdatedAt, (from) => (KeyHealthService.clearedBySuccess(from) ? KeyStatus.ACTIVE : undefined), {
      openrouterLastCheckedAt: new Date(),
    });
  }

  /**
   * OpenRouter refused one model on this row version's key (no allowed provider, the key's
   * restrictions): shown to members as aiInferenceKey.lastRefusal. The key's status stays: the
   * key works for other models.
   */
  async noteRefusal(workspaceId: string, rowUpdatedAt: Date | null, model: string, reason: string): Promise<void> {
    if (!rowUpdatedAt) return;
    await this.transactions.run(async (manager, unit) => {
      const result = await manager
        .getRepository(InferenceKeyRecordEntity)
        .update({ workspaceId, updatedAt: rowUpdatedAt }, { lastRefusalModel: model.slice(0, 200), lastRefusalReason: reason.slice(0, 500), lastRefusalAt: new Date() });
      if ((result.affected ?? 0) > 0) await this.events.publish(manager, unit, { kind: 'keyChanged', workspaceId });
    });
  }

  /**
   * The stored blob of this row version does not decrypt (tampered, swapped, or written under a
   * phrase this process does not hold): members see KEY_UNAVAILABLE instead of a key that looks
   * ACTIVE. Logged when the status changes, not on every request that finds the blob unreadable.
   */
  async markUnavailable(workspaceId: string, rowUpdatedAt: Date): Promise<void> {
    const changed = await this.changeStatus(workspaceId, rowUpdatedAt, (from) => (from === KeyStatus.KEY_UNAVAILABLE ? undefined : KeyStatus.KEY_UNAVAILABLE), {
      openrouterLastCheckedAt: new Date(),
    });
    if (changed) this.log.error({ workspaceId }, "the workspace's stored OpenRouter key does not decrypt: marked KEY_UNAVAILABLE until it is replaced");
  }

  /** At start-up: every blob written under a key id this process cannot derive is unreadable. */
  async markUnavailableUnderKeyIds(keyIds: readonly string[]): Promise<void> {
    for (const blob of await this.secrets.versionsUnderKeyIds(this.transactions.manager, keyIds)) await this.markUnavailable(blob.workspaceId, blob.updatedAt);
  }

  /**
   * Keys whose re-check is due and that no worker holds: those scheduled before `now`, and those
   * never scheduled whose last check (or save) is an interval old.
   */
  async dueForRecheck(now: Date, intervalMs: number, limit: number): Promise<string[]> {
    const rows = await this.transactions.manager
      .getRepository(InferenceKeyRecordEntity)
      .createQueryBuilder('k')
      .select('k.workspaceId', 'workspaceId')
      .where(LEASE_FREE, { now })
      .andWhere(DUE, dueParameters(now, intervalMs))
      .orderBy('k.workspaceId')
      .limit(limit)
      .getRawMany<{ workspaceId: string }>();
    return rows.map((row) => row.workspaceId);
  }

  /**
   * Takes the key's lease for `owner` while it is still due and no other worker holds one: true
   * when taken. Due is asked again here because another worker may have checked the key and given
   * its lease back since `dueForRecheck` listed it.
   */
  async claimRecheck(workspaceId: string, owner: string, now: Date, leaseMs: number, intervalMs: number): Promise<boolean> {
    const result = await this.transactions.run((manager) =>
      manager
        .createQueryBuilder()
        .update(InferenceKeyRecordEntity)
        .set({ recheckLeaseOwner: owner, recheckLeaseUntil: new Date(now.getTime() + leaseMs) })
        .where('workspace_id = :workspaceId', { workspaceId })
        .andWhere(LEASE_FREE, { now })
        .andWhere(DUE, dueParameters(now, intervalMs))
        .execute(),
    );
    return (result.affected ?? 0) === 1;
  }

  /** The key's last known status; null when none is recorded or no key is configured. */
  async statusOf(workspaceId: string): Promise<string | null> {
    const row = await this.transactions.manager.getRepository(InferenceKeyRecordEntity).findOne({ select: ['workspaceId', 'openrouterStatus'], where: { workspaceId } });
    return row?.openrouterStatus ?? null;
  }

  /** The failures in a row so far of the key's re-checks. */
  async recheckFailures(workspaceId: string): Promise<number> {
    const row = await this.transactions.manager.getRepository(InferenceKeyRecordEntity).findOne({ select: ['workspaceId', 'recheckFailures'], where: { workspaceId } });
    return row?.recheckFailures ?? 0;
  }

  /**
   * A re-check's verdict on the key of row version `rowUpdatedAt`, then the lease given back with
   * the next check's time. OpenRouter's answer sets the remaining credit and the status: LOW_CREDIT
   * below 20 % of the limit, ACTIVE again above it, INVALID / OUT_OF_CREDITS / LIMIT_EXCEEDED for a
   * refusal. `GET /key` does not show the account's credits, so an OUT_OF_CREDITS key stays so
   * until a call succeeds; KEY_UNAVAILABLE stays until a replace. An unreachable OpenRouter changes
   * nothing but the schedule.
   */
  async recordRecheck(workspaceId: string, rowUpdatedAt: Date, owner: string, outcome: RecheckOutcome): Promise<void> {
    const { check } = outcome;
    const now = new Date();
    if (check.outcome === 'active') {
      await this.changeStatus(
        workspaceId,
        rowUpdatedAt,
        (from) => (from === KeyStatus.OUT_OF_CREDITS || from === KeyStatus.KEY_UNAVAILABLE ? undefined : statusForCredit(check.limitMicros, check.limitRemainingMicros)),
        {
          openrouterLimitMicros: check.limitMicros,
          openrouterLimitRemainingMicros: check.limitRemainingMicros,
          openrouterIsFreeTier: check.isFreeTier,
          openrouterLastCheckedAt: now,
        },
      );
    } else if (check.outcome === 'refused') {
      const status = STATUS_OF_REFUSAL[check.status] ?? KeyStatus.INVALID;
      await this.changeStatus(workspaceId, rowUpdatedAt, () => status, { openrouterLastCheckedAt: now });
    }
    await this.releaseRecheck(workspaceId, owner, outcome.nextCheckAt, outcome.failures);
  }

  async releaseRecheck(workspaceId: string, owner: string, nextCheckAt: Date, failures: number): Promise<void> {
    await this.transactions.run((manager) =>
      manager
        .getRepository(InferenceKeyRecordEntity)
        .update({ workspaceId, recheckLeaseOwner: owner }, { recheckLeaseOwner: null, recheckLeaseUntil: null, openrouterNextCheckAt: nextCheckAt, recheckFailures: failures }),
    );
  }

  /**
   * Sets the status `next(from)` returns (undefined: leave it) and `fields` on the row version,
   * under its lock, telling the status listeners in the same transaction and the caches after it.
   * True when the status changed.
   */
  private changeStatus(workspaceId: string, rowUpdatedAt: Date, next: (from: string | null) => KeyStatus | undefined, fields: Partial<InferenceKeyRecordEntity>): Promise<boolean> {
    return this.transactions.run(async (manager, unit) => {
      const repository = manager.getRepository(InferenceKeyRecordEntity);
      const query = repository
        .createQueryBuilder('s')
        .select(['s.workspaceId', 's.openrouterStatus'])
        .where('s.workspaceId = :workspaceId AND s.updatedAt = :rowUpdatedAt', { workspaceId, rowUpdatedAt });
      const row = await this.dialect.lockForUpdate(query).getOne();
      if (!row) return false;
      const from = row.openrouterStatus;
      const to = next(from);
      const changed = to !== undefined && to !== from;
      const update = changed ? { ...fields, openrouterStatus: to } : fields;
      if (Object.keys(update).length > 0) await repository.update({ workspaceId, updatedAt: rowUpdatedAt }, update);
      if (changed) {
        const change: KeyStatusChange = { workspaceId, from: from as KeyStatus | null, to, at: new Date() };
        for (const listener of this.statusListeners) await listener(manager, change);
        await this.events.publish(manager, unit, { kind: 'keyChanged', workspaceId });
      }
      return changed;
    });
  }
}
