import DataLoader from 'dataloader';
import { DataSource, In } from 'typeorm';
import { InferenceKeyRecordEntity } from '../inference-key/inference-key-record.entity';
import { MemberEntity } from './member.entity';
import { WorkspaceAccessCache } from './workspace-access.cache';
import { WorkspaceEntity } from './workspace.entity';

function byKey<K, V>(keys: readonly K[], rows: V[], keyOf: (row: V) => K): Array<V | null> {
  const found = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => found.get(key) ?? null);
}

type WorkspaceWithAccess = WorkspaceEntity & { viewerMembership?: MemberEntity | null; inferenceKey?: InferenceKeyRecordEntity | null };

/**
 * Made anew for every request: a loader's cache must never carry one request's rows into another.
 * `userId` is the caller's, when the caller is a user.
 */
export function createLoaders(dataSource: DataSource, userId?: string, access?: WorkspaceAccessCache) {
  const loaders = {
    workspaceById: new DataLoader<string, WorkspaceEntity | null>(async (ids) =>
      byKey(ids, await dataSource.getRepository(WorkspaceEntity).findBy({ id: In([...ids]) }), (row) => row.id),
    ),
    inferenceKeyByWorkspaceId: new DataLoader<string, InferenceKeyRecordEntity | null>(async (ids) =>
      byKey(ids, await dataSource.getRepository(InferenceKeyRecordEntity).findBy({ workspaceId: In([...ids]) }), (row) => row.workspaceId),
    ),
    /** keyed by `${workspaceId}\0${userId}`: one query for every actor on a page */
    memberByWorkspaceAndUser: new DataLoader<string, MemberEntity | null>(async (keys) => {
      const pairs = keys.map((key) => key.split('\u0000') as [string, string]);
      const rows = await dataSource.getRepository(MemberEntity).find({
        where: pairs.map(([workspaceId, userId]) => ({ workspaceId, userId })),
      });
      return byKey(keys, rows, (row) => `${row.workspaceId}\u0000${row.userId}`);
    }),
    /**
     * The caller's membership in a workspace, read in one query together with the workspace and
     * its key's record, which prime their own loaders: authorising and answering a question
     * about one workspace costs one round trip, or none when the worker's access cache has it.
     */
    viewerMembershipIn: new DataLoader<string, MemberEntity | null>(async (ids) => {
      const cached = ids.map((id) => (access && userId !== undefined ? access.get(id, userId) : undefined));
      const missing = ids.filter((_, i) => !cached[i]);
      const generations = new Map(missing.map((id) => [id, access?.generation(id) ?? 0]));
      const rows = missing.length
        ? ((await dataSource
            .getRepository(WorkspaceEntity)
            .createQueryBuilder('w')
            .leftJoinAndMapOne('w.viewerMembership', MemberEntity, 'm', 'm.workspaceId = w.id AND m.userId = :userId', { userId: userId ?? '' })
            .leftJoinAndMapOne('w.inferenceKey', InferenceKeyRecordEntity, 'k', 'k.workspaceId = w.id')
            .where('w.id IN (:...ids)', { ids: missing })
            .getMany()) as WorkspaceWithAccess[])
        : [];
      const found = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id, i) => {
        let entry = cached[i];
        const row = found.get(id);
        if (!entry && row) {
          const { viewerMembership, inferenceKey, ...workspace } = row;
          entry = { workspace: Object.assign(new WorkspaceEntity(), workspace), key: inferenceKey ?? null, membership: viewerMembership ?? null };
          if (access && userId !== undefined) access.put(id, userId, entry, generations.get(id) ?? 0);
        }
        loaders.workspaceById.prime(id, entry?.workspace ?? null);
        if (entry) loaders.inferenceKeyByWorkspaceId.prime(id, entry.key);
        return entry?.membership ?? null;
      });
    }),
    /** The same, always from the database: writes authorise against fresh rows. */
    freshViewerMembershipIn: new DataLoader<string, MemberEntity | null>(async (ids) => {
      const rows = await dataSource.getRepository(MemberEntity).find({ where: ids.map((workspaceId) => ({ workspaceId, userId: userId ?? '' })) });
      return byKey(ids, rows, (row) => row.workspaceId);
    }),
  };
  return loaders;
}

export type RequestLoaders = ReturnType<typeof createLoaders>;
