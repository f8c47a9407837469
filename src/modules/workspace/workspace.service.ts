import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { Membership } from '../../auth/ability.factory';
import type { RequestContext } from '../../request-context';
import type { SqlDialect } from '../../db/dialect';
import { TransactionRunner } from '../../db/transaction-runner';
import { AppError, badUserInput, notFound } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import { AuditAction } from '../audit/audit-action.enum';
import type { AuditService } from '../audit/audit.service';
import { ByokFallback } from '../inference-key/inference-key.enums';
import { MemberEntity } from './member.entity';
import type { PlanChangeHook } from './plan-change.hook';
import { WorkspaceEntity } from './workspace.entity';
import type { WorkspaceEvents } from './workspace-events';
import { ModelTier, Plan } from './workspace.enums';
import { MemberRole } from '../../auth/member-role';
import { lockWorkspaceOrThrow } from './workspace.lock';

const lastOwner = () => new AppError(ErrorCode.LAST_OWNER, 'A workspace keeps at least one OWNER: make another member OWNER first');

/**
 * A member row, read under the workspace's lock (which every member change takes first) and
 * locked itself: what it says is what the last committed change left.
 */
function memberQuery(manager: EntityManager, dialect: SqlDialect, workspaceId: string) {
  return dialect.lockForUpdate(manager.getRepository(MemberEntity).createQueryBuilder('m').where('m.workspaceId = :workspaceId', { workspaceId }));
}

function findMember(manager: EntityManager, dialect: SqlDialect, workspaceId: string, userId: string): Promise<MemberEntity | null> {
  return memberQuery(manager, dialect, workspaceId).andWhere('m.userId = :userId', { userId }).getOne();
}

/** LAST_OWNER unless an OWNER other than `userId` stays. */
async function anotherOwnerOrThrow(manager: EntityManager, dialect: SqlDialect, workspaceId: string, userId: string): Promise<void> {
  const others = await memberQuery(manager, dialect, workspaceId)
    .andWhere('m.role = :owner', { owner: MemberRole.OWNER })
    .andWhere('m.userId <> :userId', { userId })
    .getCount();
  if (others === 0) throw lastOwner();
}

export class WorkspaceService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly audit: AuditService,
    private readonly events: WorkspaceEvents,
    private readonly planChangeHooks: PlanChangeHook[],
  ) {}

  async getOrThrow(ctx: RequestContext, workspaceId: string): Promise<WorkspaceEntity> {
    const workspace = await ctx.loaders.workspaceById.load(workspaceId);
    if (!workspace) throw notFound('Workspace');
    return workspace;
  }

  async create(_ctx: RequestContext, input: { name: string; plan: Plan; defaultTier?: ModelTier | null }): Promise<WorkspaceEntity> {
    const name = input.name.trim();
    if (name.length === 0) throw badUserInput('name must not be blank');
    const workspace = Object.assign(new WorkspaceEntity(), {
      id: randomUUID(),
      name,
      plan: input.plan,
      defaultTier: input.defaultTier ?? ModelTier.BALANCED,
      byokFallback: ByokFallback.NONE,
      createdAt: new Date(),
    });
    await this.transactions.run((manager) => manager.insert(WorkspaceEntity, workspace));
    return workspace;
  }

  /**
   * The only code path that changes a plan. The hooks run in its transaction with the row locked,
   * so whatever a plan change implies (deleting the key on leaving ENTERPRISE) happens atomically.
   */
  changePlan(ctx: RequestContext, workspaceId: string, plan: Plan): Promise<WorkspaceEntity> {
    return this.transactions.run(async (manager, unit) => {
      const workspace = await lockWorkspaceOrThrow(manager, this.dialect, workspaceId);
      const from = workspace.plan;
      if (from === plan) return workspace;
      workspace.plan = plan;
      await manager.update(WorkspaceEntity, { id: workspaceId }, { plan });
      await this.events.publish(manager, unit, { kind: 'changed', workspaceId });
      for (const hook of this.planChangeHooks) {
        await hook.onPlanChanged(manager, unit, { workspace, from, to: plan, actorUserId: ctx.auth.userId ?? null });
      }
      return workspace;
    });
  }

  /** What the gateway does when OpenRouter refuses the workspace's key. A change is audited. */
  setByokFallback(ctx: RequestContext, workspaceId: string, fallback: ByokFallback): Promise<WorkspaceEntity> {
    return this.transactions.run(async (manager, unit) => {
      const workspace = await lockWorkspaceOrThrow(manager, this.dialect, workspaceId);
      const from = workspace.byokFallback;
      if (from === fallback) return workspace;
      await manager.update(WorkspaceEntity, { id: workspaceId }, { byokFallback: fallback });
      await this.audit.record(manager, {
        workspaceId,
        action: AuditAction.BYOK_FALLBACK_CHANGED,
        actorUserId: ctx.auth.userId ?? null,
        maskedHint: null,
        detail: `BYOK fallback changed from ${from} to ${fallback}`,
      });
      await this.events.publish(manager, unit, { kind: 'changed', workspaceId });
      unit.afterCommit(() => ctx.log.info({ workspaceId, fallback }, 'byok fallback changed'));
      return Object.assign(workspace, { byokFallback: fallback });
    });
  }

  /**
   * Adds the user, or changes the role of an existing member. The hierarchy (SPEC.md, "The
   * domain") is checked on the roles involved, as read under the workspace's lock: the caller must
   * be allowed to assign the new role and, for a change, the member's current one. Then a change
   * that would leave no OWNER is LAST_OWNER.
   */
  addMember(ctx: RequestContext, workspaceId: string, userId: string, role: MemberRole): Promise<MemberEntity> {
    const trimmed = userId.trim();
    if (trimmed.length === 0) throw badUserInput('userId must not be blank');
    return this.transactions.run(async (manager, unit) => {
      await lockWorkspaceOrThrow(manager, this.dialect, workspaceId);
      const caller = await this.callerMembership(ctx, manager, workspaceId);
      const existing = await findMember(manager, this.dialect, workspaceId, trimmed);
      ctx.auth.authorizeAs(caller, 'assign', 'MemberRole', workspaceId, role);
      if (existing) ctx.auth.authorizeAs(caller, 'assign', 'MemberRole', workspaceId, existing.role);
      if (existing?.role === role) return existing;
      const audited = { workspaceId, actorUserId: ctx.auth.userId ?? null, maskedHint: null, targetUserId: trimmed, toRole: role };
      if (existing) {
        if (existing.role === MemberRole.OWNER) await anotherOwnerOrThrow(manager, this.dialect, workspaceId, trimmed);
        await manager.update(MemberEntity, { workspaceId, userId: trimmed }, { role });
        await this.audit.record(manager, { ...audited, action: AuditAction.MEMBER_ROLE_CHANGED, fromRole: existing.role });
        await this.events.publish(manager, unit, { kind: 'membershipChanged', workspaceId, userId: trimmed });
        unit.afterCommit(() => ctx.log.info({ workspaceId, fromRole: existing.role, toRole: role }, 'member role changed'));
        return Object.assign(existing, { role });
      }
      const member = Object.assign(new MemberEntity(), { workspaceId, userId: trimmed, role, createdAt: new Date() });
      await manager.insert(MemberEntity, member);
      await this.audit.record(manager, { ...audited, action: AuditAction.MEMBER_ADDED });
      await this.events.publish(manager, unit, { kind: 'membershipChanged', workspaceId, userId: trimmed });
      unit.afterCommit(() => ctx.log.info({ workspaceId, role }, 'member added'));
      return member;
    });
  }

  /**
   * True when a membership was removed; false when there was none. Removing a member takes the
   * right to assign their role; removing the last OWNER is LAST_OWNER.
   */
  removeMember(ctx: RequestContext, workspaceId: string, userId: string): Promise<boolean> {
    return this.transactions.run(async (manager, unit) => {
      await lockWorkspaceOrThrow(manager, this.dialect, workspaceId);
      const caller = await this.callerMembership(ctx, manager, workspaceId);
      const existing = await findMember(manager, this.dialect, workspaceId, userId);
      if (!existing) return false;
      ctx.auth.authorizeAs(caller, 'assign', 'MemberRole', workspaceId, existing.role);
      if (existing.role === MemberRole.OWNER) await anotherOwnerOrThrow(manager, this.dialect, workspaceId, userId);
      await manager.delete(MemberEntity, { workspaceId, userId });
      await this.audit.record(manager, {
        workspaceId,
        action: AuditAction.MEMBER_REMOVED,
        actorUserId: ctx.auth.userId ?? null,
        maskedHint: null,
        targetUserId: userId,
        fromRole: existing.role,
      });
      await this.events.publish(manager, unit, { kind: 'membershipChanged', workspaceId, userId });
      unit.afterCommit(() => ctx.log.info({ workspaceId, role: existing.role }, 'member removed'));
      return true;
    });
  }

  /** The caller's membership as the transaction sees it, after the workspace's lock. */
  private async callerMembership(ctx: RequestContext, manager: EntityManager, workspaceId: string): Promise<Membership | null> {
    const callerId = ctx.auth.userId;
    if (callerId === undefined) return null;
    const member = await findMember(manager, this.dialect, workspaceId, callerId);
    return member ? { workspaceId, role: member.role } : null;
  }

  membershipsOf(userId: string): Promise<MemberEntity[]> {
    return this.transactions.manager.find(MemberEntity, { where: { userId }, order: { workspaceId: 'ASC' } });
  }
}
