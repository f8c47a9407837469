import { DataSource, EntityManager } from 'typeorm';
import { timeOrderedId } from '../../db/ids';
import { decodeCursor, encodeCursor, pageSizeOrThrow } from '../../graphql/pagination';
import type { MemberRole } from '../../auth/member-role';
import { AuditAction } from './audit-action.enum';
import { AuditEventEntity } from './audit-event.entity';
import { AuditEventConnection, AuditEventType } from './audit-event.type';

export interface AuditEntry {
  workspaceId: string;
  action: AuditAction;
  actorUserId: string | null;
  maskedHint: string | null;
  /** member changes: who, and the role before and after */
  targetUserId?: string;
  fromRole?: MemberRole | null;
  toRole?: MemberRole | null;
  detail?: string;
  /** what the event is about when it is neither the key nor a member (a partner token's id): for hooks, not stored */
  subjectId?: string;
}

/** Runs in the audited change's transaction, after the audit event is written. */
export type AuditHook = (manager: EntityManager, entry: AuditEntry) => Promise<void>;

export class AuditService {
  private readonly hooks: AuditHook[] = [];

  constructor(private readonly dataSource: DataSource) {}

  onRecorded(hook: AuditHook): void {
    this.hooks.push(hook);
  }

  /** Written in the caller's transaction, so an audit event exists exactly when its change does. */
  async record(manager: EntityManager, entry: AuditEntry): Promise<void> {
    await manager.insert(AuditEventEntity, {
      id: timeOrderedId(),
      workspaceId: entry.workspaceId,
      action: entry.action,
      actorUserId: entry.actorUserId,
      maskedHint: entry.maskedHint,
      targetUserId: entry.targetUserId ?? null,
      fromRole: entry.fromRole ?? null,
      toRole: entry.toRole ?? null,
      detail: entry.detail ?? null,
      at: new Date(),
    });
    for (const hook of this.hooks) await hook(manager, entry);
  }

  /** Newest first, keyset-paginated on (at, id). */
  async list(workspaceId: string, first: number | undefined, after: string | undefined): Promise<AuditEventConnection> {
    const size = pageSizeOrThrow(first);
    const query = this.dataSource
      .getRepository(AuditEventEntity)
      .createQueryBuilder('e')
      .where('e.workspaceId = :workspaceId', { workspaceId })
      .orderBy('e.at', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .take(size + 1);
    if (after) {
      const cursor = decodeCursor(after);
      query.andWhere('(e.at < :at OR (e.at = :at AND e.id < :id))', { at: cursor.at, id: cursor.id });
    }
    const rows = await query.getMany();
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return {
      nodes: page.map((row) => AuditEventType.from(row)),
      pageInfo: { hasNextPage: rows.length > size, endCursor: last ? encodeCursor({ at: last.at, id: last.id }) : null },
    };
  }
}
