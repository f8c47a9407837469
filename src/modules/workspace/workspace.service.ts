import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../../request-context';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput, notFound } from '../../graphql/app-error';
import { ByokFallback } from '../inference-key/inference-key.enums';
import { MemberEntity } from './member.entity';
import type { PlanChangeHook } from './plan-change.hook';
import { WorkspaceEntity } from './workspace.entity';
import { MemberRole, ModelTier, Plan } from './workspace.enums';
import { lockWorkspaceOrThrow } from './workspace.lock';

export class WorkspaceService {
  private readonly listeners: Array<(workspaceId: string) => void> = [];

  constructor(
    private readonly transactions: TransactionRunner,
    private readonly planChangeHooks: PlanChangeHook[],
  ) {}

  /** Told after commit whenever a workspace's row or its members change, so caches drop them. */
  onChanged(listener: (workspaceId: string) => void): void {
    this.listeners.push(listener);
  }

  private notify(workspaceId: string): void {
    for (const listener of this.listeners) listener(workspaceId);
  }

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
    await this.transactions.manager.insert(WorkspaceEntity, workspace);
    return workspace;
  }

  /**
   * The only code path that changes a plan. The hooks run in its transaction with the row locked,
   * so whatever a plan change implies (deleting the key on leaving ENTERPRISE) happens atomically.
   */
  changePlan(ctx: RequestContext, workspaceId: string, plan: Plan): Promise<WorkspaceEntity> {
    return this.transactions.run(async (manager, unit) => {
      const workspace = await lockWorkspaceOrThrow(manager, workspaceId);
      const from = workspace.plan;
      if (from === plan) return workspace;
      workspace.plan = plan;
      await manager.update(WorkspaceEntity, { id: workspaceId }, { plan });
      unit.afterCommit(() => this.notify(workspaceId));
      for (const hook of this.planChangeHooks) {
        await hook.onPlanChanged(manager, unit, { workspace, from, to: plan, actorUserId: ctx.auth.userId ?? null });
      }
      return workspace;
    });
  }

  /** What the gateway does when OpenRouter refuses the workspace's key. */
  async setByokFallback(ctx: RequestContext, workspaceId: string, fallback: ByokFallback): Promise<WorkspaceEntity> {
    const workspace = await this.getOrThrow(ctx, workspaceId);
    await this.transactions.manager.update(WorkspaceEntity, { id: workspaceId }, { byokFallback: fallback });
    this.notify(workspaceId);
    ctx.log.info({ workspaceId, fallback }, 'byok fallback changed');
    return Object.assign(workspace, { byokFallback: fallback });
  }

  /** Adds the user, or changes the role of an existing member. */
  async addMember(ctx: RequestContext, workspaceId: string, userId: string, role: MemberRole): Promise<MemberEntity> {
    const trimmed = userId.trim();
    if (trimmed.length === 0) throw badUserInput('userId must not be blank');
    return this.transactions.run(async (manager, unit) => {
      await lockWorkspaceOrThrow(manager, workspaceId);
      unit.afterCommit(() => this.notify(workspaceId));
      const existing = await manager.findOne(MemberEntity, { where: { workspaceId, userId: trimmed } });
      if (existing) {
        await manager.update(MemberEntity, { workspaceId, userId: trimmed }, { role });
        return Object.assign(existing, { role });
      }
      const member = Object.assign(new MemberEntity(), { workspaceId, userId: trimmed, role, createdAt: new Date() });
      await manager.insert(MemberEntity, member);
      ctx.log.info({ workspaceId, role }, 'member added');
      return member;
    });
  }

  /** True when a membership was removed; false when there was none. */
  async removeMember(ctx: RequestContext, workspaceId: string, userId: string): Promise<boolean> {
    await this.getOrThrow(ctx, workspaceId);
    const result = await this.transactions.manager.delete(MemberEntity, { workspaceId, userId });
    this.notify(workspaceId);
    return (result.affected ?? 0) > 0;
  }

  membershipsOf(userId: string): Promise<MemberEntity[]> {
    return this.transactions.manager.find(MemberEntity, { where: { userId }, order: { workspaceId: 'ASC' } });
  }
}
