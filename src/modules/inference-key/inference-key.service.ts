import { EntityManager } from 'typeorm';
import type { RequestContext } from '../../request-context';
import { TransactionRunner, UnitOfWork } from '../../db/transaction-runner';
import { AppError, badUserInput } from '../../graphql/app-error';
import { ErrorCode } from '../../graphql/error-code';
import { AuditAction } from '../audit/audit-action.enum';
import { AuditService } from '../audit/audit.service';
import { TenantSecretEntity } from '../secrets/tenant-secret.entity';
import { TenantSecretMetadata, TenantSecrets, TenantSecretStore } from '../secrets/tenant-secret.store';
import type { PlanChange, PlanChangeHook } from '../workspace/plan-change.hook';
import { WorkspaceEntity } from '../workspace/workspace.entity';
import { Plan } from '../workspace/workspace.enums';
import { lockWorkspaceOrThrow } from '../workspace/workspace.lock';
import { AiInferenceKeyType } from './ai-inference-key.type';
import { KeyStatus } from './inference-key.enums';
import { statusForCredit } from './key-credit';
import { maskedHint } from './masked-hint';
import { KeyCheck, OpenRouterKeyVerifier } from './openrouter-key.verifier';
import { validateOpenRouterKeyOrThrow } from './openrouter-key.validation';
import type { WorkspaceEvents } from '../workspace/workspace-events';

/** Told after commit whenever a workspace's secrets change, so caches drop what they hold. */
const KEY_HEALTH_CLEARED: Pick<
  TenantSecretMetadata,
  'openrouterStatus' | 'openrouterLimitMicros' | 'openrouterLimitRemainingMicros' | 'openrouterIsFreeTier' | 'openrouterLastCheckedAt'
> = {
  openrouterStatus: null,
  openrouterLimitMicros: null,
  openrouterLimitRemainingMicros: null,
  openrouterIsFreeTier: null,
  openrouterLastCheckedAt: null,
};

function healthFrom(check: KeyCheck): Partial<TenantSecretMetadata> {
  if (check.outcome === 'active') {
    return {
      openrouterStatus: statusForCredit(check.limitMicros, check.limitRemainingMicros),
      openrouterLimitMicros: check.limitMicros,
      openrouterLimitRemainingMicros: check.limitRemainingMicros,
      openrouterIsFreeTier: check.isFreeTier,
      openrouterLastCheckedAt: new Date(),
    };
  }
  return { ...KEY_HEALTH_CLEARED, openrouterStatus: KeyStatus.UNVERIFIED };
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
    private readonly store: TenantSecretStore,
    private readonly audit: AuditService,
    private readonly events: WorkspaceEvents,
    private readonly verifier: OpenRouterKeyVerifier,
  ) {}

  async status(ctx: RequestContext, workspace: WorkspaceEntity): Promise<AiInferenceKeyType> {
    const [row, canManage] = await Promise.all([
      ctx.loaders.tenantSecretByWorkspaceId.load(workspace.id),
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
    for (const { status, keys } of await this.store.countKeysByStatus(this.transactions.manager)) {
      counts[status !== null && statuses.includes(status) ? (status as KeyStatus) : 'NONE'] += keys;
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
      const workspace = await lockWorkspaceOrThrow(manager, workspaceId);
      const row = await this.store.findRow(manager, workspaceId);
      if (row?.openrouterMaskedHint) {
        await this.removeKeyEntry(manager, unit, row);
        await this.audit.record(manager, {
          workspaceId,
          action: AuditAction.KEY_REMOVED,
          actorUserId: ctx.auth.userId ?? null,
          maskedHint: row.openrouterMaskedHint,
        });
      }
      return AiInferenceKeyType.from(workspace, null, true);
    });
  }

  /** Leaving ENTERPRISE deletes the key, in the plan change's own transaction. */
  async onPlanChanged(manager: EntityManager, unit: UnitOfWork, change: PlanChange): Promise<void> {
    if (change.from !== Plan.ENTERPRISE || change.to === Plan.ENTERPRISE) return;
    const row = await this.store.findRow(manager, change.workspace.id);
    if (!row?.openrouterMaskedHint) return;
    await this.removeKeyEntry(manager, unit, row);
    await this.audit.record(manager, {
      workspaceId: change.workspace.id,
      action: AuditAction.KEY_REMOVED_PLAN_CHANGE,
      actorUserId: change.actorUserId,
      maskedHint: row.openrouterMaskedHint,
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
      const workspace = await lockWorkspaceOrThrow(manager, workspaceId);
      const row = await this.store.findRow(manager, workspaceId);
      this.checkPreconditions(workspace, row, mode);
      const others = row ? this.readOtherSecrets(ctx, row) : {};
      const hint = maskedHint(key);
      const saved = await this.store.write(
        manager,
        workspaceId,
        { ...others, openrouterKey: key },
        { ...healthFrom(check), openrouterMaskedHint: hint, updatedBy: ctx.auth.userId ?? null },
      );
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
    if (workspace) this.checkPreconditions(workspace, await this.store.findRow(manager, workspaceId), mode);
    return key;
  }

  private checkPreconditions(workspace: WorkspaceEntity, row: TenantSecretEntity | null, mode: 'save' | 'replace'): void {
    requireEnterpriseOrThrow(workspace);
    const configured = Boolean(row?.openrouterMaskedHint);
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

  private async removeKeyEntry(manager: EntityManager, unit: UnitOfWork, row: TenantSecretEntity): Promise<void> {
    let others: TenantSecrets = {};
    try {
      const { openrouterKey: _removed, ...rest } = this.store.decryptOrThrow(row);
      others = rest;
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
    }
    await this.store.write(manager, row.workspaceId, others, { ...KEY_HEALTH_CLEARED, openrouterMaskedHint: null });
    await this.events.publish(manager, unit, { kind: 'keyChanged', workspaceId: row.workspaceId });
  }
}
