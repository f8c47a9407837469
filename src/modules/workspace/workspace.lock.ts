import { EntityManager } from 'typeorm';
import { supportsRowLocks } from '../../db/data-source';
import { notFound } from '../../errors/app-error';
import { WorkspaceEntity } from './workspace.entity';

/**
 * Reads the workspace row and, on MySQL, locks it for the rest of the transaction. Every change
 * to a workspace's plan or key takes this lock first, so a key save and a downgrade never interleave.
 * (SQLite runs one transaction at a time, see TransactionRunner.)
 */
export async function lockWorkspaceOrThrow(manager: EntityManager, workspaceId: string): Promise<WorkspaceEntity> {
  const query = manager.getRepository(WorkspaceEntity).createQueryBuilder('w').where('w.id = :workspaceId', { workspaceId });
  if (supportsRowLocks(manager.connection)) query.setLock('pessimistic_write');
  const workspace = await query.getOne();
  if (!workspace) throw notFound('Workspace');
  return workspace;
}
