import type { EntityManager } from 'typeorm';
import type { UnitOfWork } from '../../db/transaction-runner';
import type { WorkspaceEntity } from './workspace.entity';
import type { Plan } from './workspace.enums';

export interface PlanChange {
  workspace: WorkspaceEntity;
  from: Plan;
  to: Plan;
  actorUserId: string | null;
}

/**
 * Runs inside the transaction of every plan change, with the workspace row locked, so what it
 * does commits or rolls back with the change itself.
 */
export interface PlanChangeHook {
  onPlanChanged(manager: EntityManager, unit: UnitOfWork, change: PlanChange): Promise<void>;
}
