import { EntityManager } from 'typeorm';
import type { SqlDialect } from '../../db/dialect';
import { notFound } from '../../errors/app-error';
import { WorkspaceEntity } from './workspace.entity';

/**
 * Reads the workspace row and locks it for the rest of the transaction. Every change
 * to a workspace's plan or key takes this lock first, so a key save and a downgrade never interleave.
 * (SQLite runs one transaction at a time, see TransactionRunner.)
 */
export async function lockWorkspaceOrThrow(manager: EntityManager, dialect: SqlDialect, workspaceId: string): Promise<WorkspaceEntity> {
  const query = manager.getRepository(WorkspaceEntity).createQueryBuilder('w').where('w.id = :workspaceId', { workspaceId });
  const workspace = await dialect.lockForUpdate(query).getOne();
  if (!workspace) throw notFound('Workspace');
  return workspace;
}
