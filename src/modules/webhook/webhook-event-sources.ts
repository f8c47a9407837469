import type { EntityManager } from 'typeorm';
import { AuditAction } from '../audit/audit-action.enum';
import type { AuditEntry } from '../audit/audit.service';
import type { KeyStatus } from '../inference-key/inference-key.enums';
import type { UsageRecordEntity } from '../usage/usage-record.entity';
import type { WebhookEventType } from './webhook-event-types';
import type { WebhookOutbox } from './webhook-outbox';

/** Audited changes that are also webhook events: their audit entry is written in the change's transaction. */
const AUDITED_EVENTS: Partial<Record<AuditAction, WebhookEventType>> = {
  [AuditAction.KEY_SAVED]: 'key.saved',
  [AuditAction.KEY_REPLACED]: 'key.replaced',
  [AuditAction.KEY_REMOVED]: 'key.removed',
  [AuditAction.KEY_REMOVED_PLAN_CHANGE]: 'key.removed_by_plan_change',
  [AuditAction.PARTNER_TOKEN_CREATED]: 'partner_token.created',
  [AuditAction.PARTNER_TOKEN_REVOKED]: 'partner_token.revoked',
};

/**
 * Where the service's changes become outbox rows, each in its own transaction. Payloads carry ids,
 * statuses and masked hints: never a key, a token or a member's name.
 */
export class WebhookEventSources {
  constructor(private readonly outbox: WebhookOutbox) {}

  readonly audited = async (manager: EntityManager, entry: AuditEntry): Promise<void> => {
    const type = AUDITED_EVENTS[entry.action];
    if (!type) return;
    const payload: Record<string, unknown> = { workspaceId: entry.workspaceId, actorUserId: entry.actorUserId };
    if (type.startsWith('key.')) payload.maskedHint = entry.maskedHint;
    else payload.partnerTokenId = entry.subjectId ?? null;
    await this.outbox.enqueue(manager, entry.workspaceId, type, payload);
  };

  readonly keyStatusChanged = async (manager: EntityManager, workspaceId: string, status: KeyStatus): Promise<void> => {
    await this.outbox.enqueue(manager, workspaceId, 'key.status_changed', { workspaceId, status });
  };

  readonly recordsWritten = async (manager: EntityManager, records: readonly UsageRecordEntity[]): Promise<void> => {
    for (const record of records) {
      if (!record.flagged) continue;
      await this.outbox.enqueue(manager, record.workspaceId, 'usage.flagged', {
        workspaceId: record.workspaceId,
        usageRecordId: record.id,
        requestId: record.requestId,
        path: record.path,
        keySource: record.keySource,
      });
    }
  };

  readonly settled = async (manager: EntityManager, record: UsageRecordEntity): Promise<void> => {
    await this.outbox.enqueue(manager, record.workspaceId, 'usage.settled', {
      workspaceId: record.workspaceId,
      usageRecordId: record.id,
      rawCostMicros: record.rawCostMicros,
      billedMicros: record.billedMicros,
    });
  };

  readonly budget = async (manager: EntityManager, workspaceId: string, type: string, payload: Record<string, unknown>): Promise<void> => {
    await this.outbox.enqueue(manager, workspaceId, type as WebhookEventType, payload);
  };
}
