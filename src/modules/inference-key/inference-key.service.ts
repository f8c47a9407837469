import { EntityManager } from 'typeorm';
import type { RequestContext } from '../../request-context';
import type { SqlDialect } from '../../db/dialect';
import { TransactionRunner, UnitOfWork } from '../../db/transaction-runner';
import { AppError, badUserInput } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import { AuditAction } from '../audit/audit-action.enum';
import { AuditService } from '../audit/audit.service';
import { TenantSecretEntity } from '../secrets/tenant-secret.entity';
import { TenantSecrets, TenantSecretStore } from '../secrets/tenant-secret.store';
import type { PlanChange, PlanChangeHook } from '../workspace/plan-change.hook';
import { WorkspaceEntity } from '../workspace/workspace.entity';
import { Plan } from '../workspace/workspace.enums';
import { lockWorkspaceOrThrow } from '../workspace/workspace.lock';
import { AiInferenceKeyType } from './ai-inference-key.type';
import { InferenceKeyRecordEntity } from './inference-key-record.entity';
import { KeyStatus } from './inference-key.enums';
import { statusForCredit } from './key-credit';
import { maskedHint } from './masked-hint';
import { KeyCheck, OpenRouterKeyVerifier } from './openrouter-key.verifier';
import { validateOpenRouterKeyOrThrow } from './openrouter-key.validation';
import type { WorkspaceEvents } from '../workspace/workspace-events';

type KeyHealth = Pick<
  InferenceKeyRecordEntity,
  'openrouterStatus' | 'openrouterLimitMicros' | 'openrouterLimitRemainingMicros' | 'openrouterIsFreeTier' | 'openrouterLastCheckedAt'
>;

function healthFrom(check: KeyCheck): KeyHealth {
  if (check.outcome === 'active') {
    return {
      openrouterStatus: statusForCredit(check.limitMicros, check.limitRemainingMicros),
      openrouterLimitMicros: check.limitMicros,
      openrouterLimitRemainingMicros: check.limitRemainingMicros,
      openrouterIsFreeTier: check.isFreeTier,
      openrouterLastCheckedAt: new Date(),
    };
  }
  return {
    openrouterStatus: KeyStatus.UNVERIFIED,
    openrouterLimitMicros: null,
    openrouterLimitRemainingMicros: null,
    openrouterIsFreeTier: null,
    openrouterLastCheckedAt: null,
  };
}

function findRecord(manager: EntityManager, workspaceId: string): Promise<InferenceKeyRecordEntity | null> {
  return manager.findOne(InferenceKeyRecordEntity, { where: { workspaceId } });
}

function requireEnterpriseOrThrow(workspace: WorkspaceEntity): void {
  if (workspace.plan !== Plan.ENTERPRISE) {
    throw new AppError(ErrorCode.ENTERPRISE_REQUIRED, 'Bringing your own OpenRouter key requires the Enterprise plan');
  }
}

/**
 * The workspace's OpenRouter key: save, replace, remove and status (SPEC.md, "The key: rules").
 * Every change locks the workspace row, checks the plan, writes the blob and the audit event in
 * one transaction.
 */
export class InferenceKeyService implements PlanChangeHook {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly store: TenantSecretStore,
    private readonly audit: AuditService,
    private readonly events: WorkspaceEvents,
    private readonly verifier: OpenRouterKeyVerifier,
  ) {}

  async status(ctx: RequestContext, workspace: WorkspaceEntity): Promise<AiInferenceKeyType> {
    const [row, canManage] = await Promise.all([
      ctx.loaders.inferenceKeyByWorkspaceId.load(workspace.id),
      // Shown to the viewer, not acted on: the cached membership is good enough.
      ctx.auth.can('manage', 'AiInferenceKey', workspace.id, { fresh: false }),
    ]);
    return AiInferenceKeyType.from(workspace, row, canManage);
  }

  /**
   * How many configured keys have each status, every status listed (0 when none has it); `NONE`
   * counts keys with no recorded status (the API shows them as null). For the metrics.
   */
  async countByStatus(): Promise<Record<KeyStatus | 'NONE', number>> {
    const statuses: string[] = Object.values(KeyStatus);
    const counts = Object.fromEntries([...statuses, 'NONE'].map((status) => [status, 0])) as Record<KeyStatus | 'NONE', number>;
    const rows = await this.transactions.manager
      .createQueryBuilder(InferenceKeyRecordEntity, 'key')
      .select('key.openrouterStatus', 'status')
      .addSelect('COUNT(*)', 'keys')
      .groupBy('key.openrouterStatus')
      .getRawMany<{ status: string | null; keys: number | string }>();
    for (const { status, keys } of rows) {
      counts[status !== null && statuses.includes(status) ? (status as KeyStatus) : 'NONE'] += Number(keys);
    }
    return counts;
  }

  save(ctx: RequestContext, workspaceId: string, submittedKey: string): Promise<AiInferenceKeyType> {
    return this.write(ctx, workspaceId, submittedKey, 'save');
  }

  replace(ctx: RequestContext, workspaceId: string, submittedKey: string): Promise<AiInferenceKeyType> {
    return this.write(ctx, workspaceId, submittedKey, 'replace');
  }

  /** Idempotent: removing when no key is configured changes nothing and records nothing. */
  remove(ctx: RequestContext, workspaceId: string): Promise<AiInferenceKeyType> {
    return this.transactions.run(async (manager, unit) => {
      const workspace = await lockWorkspaceOrThrow(manager, this.dialect, workspaceId);
      const record = await findRecord(manager, workspaceId);
      if (record) {
        await this.removeKeyEntry(manager, unit, workspaceId);
        await this.audit.record(manager, {
          workspaceId,
          action: AuditAction.KEY_REMOVED,
          actorUserId: ctx.auth.userId ?? null,
          maskedHint: record.openrouterMaskedHint,
        });
      }
      return AiInferenceKeyType.from(workspace, null, true);
    });
  }

  /** Leaving ENTERPRISE deletes the key, in the plan change's own transaction. */
  async onPlanChanged(manager: EntityManager, unit: UnitOfWork, change: PlanChange): Promise<void> {
    if (change.from !== Plan.ENTERPRISE || change.to === Plan.ENTERPRISE) return;
    const record = await findRecord(manager, change.workspace.id);
    if (!record) return;
    await this.removeKeyEntry(manager, unit, change.workspace.id);
    await this.audit.record(manager, {
      workspaceId: change.workspace.id,
      action: AuditAction.KEY_REMOVED_PLAN_CHANGE,
      actorUserId: change.actorUserId,
      maskedHint: record.openrouterMaskedHint,
      detail: `plan changed from ${change.from} to ${change.to}`,
    });
  }

  private async write(
    ctx: RequestContext,
    workspaceId: string,
    submittedKey: string,
    mode: 'save' | 'replace',
  ): Promise<AiInferenceKeyType> {
    const key = await this.validatedOrThrow(workspaceId, submittedKey, mode);
    // The live check is a network call: made before the transaction so no row lock waits on it.
    const check = await this.verifier.check(key);
    if (check.outcome === 'rejected') throw badUserInput('OpenRouter rejected this key');

    return this.transactions.run(async (manager, unit) => {
      const workspace = await lockWorkspaceOrThrow(manager, this.dialect, workspaceId);
      this.checkPreconditions(workspace, await findRecord(manager, workspaceId), mode);
      const blob = await this.store.findRow(manager, workspaceId);
      const others = blob ? this.readOtherSecrets(ctx, blob) : {};
      const hint = maskedHint(key);
      const written = await this.store.write(manager, workspaceId, { ...others, openrouterKey: key });
      // A new key starts a new record: no refusal, schedule or lease of the key it replaces carries over.
      const saved = Object.assign(new InferenceKeyRecordEntity(), {
        workspaceId,
        ...healthFrom(check),
        openrouterMaskedHint: hint,
        lastRefusalModel: null,
        lastRefusalReason: null,
        lastRefusalAt: null,
        openrouterNextCheckAt: null,
        recheckLeaseOwner: null,
        recheckLeaseUntil: null,
        recheckFailures: 0,
        updatedBy: ctx.auth.userId ?? null,
        updatedAt: written!.updatedAt,
      });
      await manager.save(InferenceKeyRecordEntity, saved);
      await this.audit.record(manager, {
        workspaceId,
        action: mode === 'save' ? AuditAction.KEY_SAVED : AuditAction.KEY_REPLACED,
        actorUserId: ctx.auth.userId ?? null,
        maskedHint: hint,
      });
      await this.events.publish(manager, unit, { kind: 'keyChanged', workspaceId });
      return AiInferenceKeyType.from(workspace, saved, true);
    });
  }

  /**
   * The key, validated, after a cheap read so that a doomed request does not reach OpenRouter. In
   * the order of SPEC.md's rules: the plan (no key is welcome off ENTERPRISE), the key's shape,
   * then whether a key is configured.
   */
  private async validatedOrThrow(workspaceId: string, submittedKey: string, mode: 'save' | 'replace'): Promise<string> {
    const manager = this.transactions.manager;
    const workspace = await manager.findOne(WorkspaceEntity, { where: { id: workspaceId } });
    if (workspace) requireEnterpriseOrThrow(workspace);
    const key = validateOpenRouterKeyOrThrow(submittedKey);
    if (workspace) this.checkPreconditions(workspace, await findRecord(manager, workspaceId), mode);
    return key;
  }

  private checkPreconditions(workspace: WorkspaceEntity, record: InferenceKeyRecordEntity | null, mode: 'save' | 'replace'): void {
    requireEnterpriseOrThrow(workspace);
    const configured = record !== null;
    if (mode === 'save' && configured) {
      throw new AppError(ErrorCode.KEY_ALREADY_CONFIGURED, 'An OpenRouter key is already configured; use replaceKey to change it');
    }
    if (mode === 'replace' && !configured) {
      throw new AppError(ErrorCode.KEY_NOT_CONFIGURED, 'No OpenRouter key is configured; use saveKey to add one');
    }
  }

  /**
   * The other secrets in the blob, to carry over. A blob that no longer decrypts cannot be
   * carried: the new key replaces it, which is how a member recovers from KEY_UNAVAILABLE.
   */
  private readOtherSecrets(ctx: RequestContext, row: TenantSecretEntity): TenantSecrets {
    try {
      const { openrouterKey: _replaced, ...others } = this.store.decryptOrThrow(row);
      return others;
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      ctx.log.warn({ workspaceId: row.workspaceId }, 'unreadable tenant-secrets blob overwritten by a new key');
      return {};
    }
  }

  private async removeKeyEntry(manager: EntityManager, unit: UnitOfWork, workspaceId: string): Promise<void> {
    const blob = await this.store.findRow(manager, workspaceId);
    let others: TenantSecrets = {};
    try {
      if (blob) {
        const { openrouterKey: _removed, ...rest } = this.store.decryptOrThrow(blob);
        others = rest;
      }
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
    }
    await this.store.write(manager, workspaceId, others);
    await manager.delete(InferenceKeyRecordEntity, { workspaceId });
    await this.events.publish(manager, unit, { kind: 'keyChanged', workspaceId });
  }
}
