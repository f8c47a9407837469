import DataLoader from 'dataloader';
import { DataSource, In } from 'typeorm';
import { TenantSecretEntity } from '../modules/secrets/tenant-secret.entity';
import { MemberEntity } from '../modules/workspace/member.entity';
import { WorkspaceAccessCache } from '../modules/workspace/workspace-access.cache';
import { WorkspaceEntity } from '../modules/workspace/workspace.entity';

function byKey<K, V>(keys: readonly K[], rows: V[], keyOf: (row: V) => K): Array<V | null> {
  const found = new Map(rows.map((row) => [keyOf(row), row]));
  return keys.map((key) => found.get(key) ?? null);
}

/**
 * What the status and the authorisation of reads need of a tenant-secret row: everything but the
 * ciphertext, which stays in the database (and out of every per-worker cache) until a call needs it.
 */
const SECRET_METADATA = [
  'workspaceId',
  'keyId',
  'openrouterMaskedHint',
  'openrouterStatus',
  'openrouterLimitMicros',
  'openrouterLimitRemainingMicros',
  'openrouterIsFreeTier',
  'openrouterLastCheckedAt',
  'lastRefusalModel',
  'lastRefusalReason',
  'lastRefusalAt',
  'updatedBy',
  'updatedAt',
] as const satisfies ReadonlyArray<keyof TenantSecretEntity>;

type WorkspaceWithAccess = WorkspaceEntity & { viewerMembership?: MemberEntity | null; tenantSecret?: TenantSecretEntity | null };

/**
 * Made anew for every request: a loader's cache must never carry one request's rows into another.
 * `userId` is the caller's, when the caller is a user.
 */
export function createLoaders(dataSource: DataSource, userId?: string, access?: WorkspaceAccessCache) {
  const loaders = {
    workspaceById: new DataLoader<string, WorkspaceEntity | null>(async (ids) =>
      byKey(ids, await dataSource.getRepository(WorkspaceEntity).findBy({ id: In([...ids]) }), (row) => row.id),
    ),
    tenantSecretByWorkspaceId: new DataLoader<string, TenantSecretEntity | null>(async (ids) =>
      byKey(
        ids,
        await dataSource.getRepository(TenantSecretEntity).find({
          where: { workspaceId: In([...ids]) },
          select: [...SECRET_METADATA],
        }),
        (row) => row.workspaceId,
      ),
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
     * its tenant-secret row, which prime their own loaders: authorising and answering a question
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
            .leftJoinAndMapOne('w.tenantSecret', TenantSecretEntity, 's', 's.workspaceId = w.id')
            .select(['w', 'm', ...SECRET_METADATA.map((column) => `s.${column}`)])
            .where('w.id IN (:...ids)', { ids: missing })
            .getMany()) as WorkspaceWithAccess[])
        : [];
      const found = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id, i) => {
        let entry = cached[i];
        const row = found.get(id);
        if (!entry && row) {
          const { viewerMembership, tenantSecret, ...workspace } = row;
          entry = { workspace: Object.assign(new WorkspaceEntity(), workspace), secret: tenantSecret ?? null, membership: viewerMembership ?? null };
          if (access && userId !== undefined) access.put(id, userId, entry, generations.get(id) ?? 0);
        }
        loaders.workspaceById.prime(id, entry?.workspace ?? null);
        if (entry) loaders.tenantSecretByWorkspaceId.prime(id, entry.secret);
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
