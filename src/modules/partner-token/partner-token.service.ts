import { createHash, randomBytes } from 'node:crypto';
import { IsNull } from 'typeorm';
import type { RequestContext } from '../../request-context';
import { PARTNER_TOKEN_PREFIX } from '../../auth/authenticator';
import { timeOrderedId } from '../../db/ids';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput, forbidden } from '../../errors/app-error';
import { AuditAction } from '../audit/audit-action.enum';
import type { AuditService } from '../audit/audit.service';
import { PartnerTokenEntity } from './partner-token.entity';

const TOKEN_BYTES = 32;
const LAST_USED_RESOLUTION_MS = 60_000;

/** Tokens carry 256 random bits, so a plain SHA-256 is a safe one-way lookup key. */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Which token an audit event is about: its id and name, never the token. */
const tokenDetail = (entity: PartnerTokenEntity) => `partner token ${entity.id} "${entity.name}"`;

export class PartnerTokenService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly audit: AuditService,
  ) {}

  async create(ctx: RequestContext, workspaceId: string, name: string): Promise<{ token: string; entity: PartnerTokenEntity }> {
    const trimmed = name.trim();
    if (trimmed.length === 0) throw badUserInput('name must not be blank');
    const token = `${PARTNER_TOKEN_PREFIX}${randomBytes(TOKEN_BYTES).toString('base64url')}`;
    const entity = Object.assign(new PartnerTokenEntity(), {
      id: timeOrderedId(),
      workspaceId,
      name: trimmed,
      tokenHash: hashToken(token),
      createdBy: ctx.auth.userId ?? null,
      createdAt: new Date(),
      revokedAt: null,
      lastUsedAt: null,
    });
    await this.transactions.run(async (manager) => {
      await manager.insert(PartnerTokenEntity, entity);
      await this.audit.record(manager, {
        workspaceId,
        action: AuditAction.PARTNER_TOKEN_CREATED,
        actorUserId: entity.createdBy,
        maskedHint: null,
        detail: tokenDetail(entity),
        subjectId: entity.id,
      });
    });
    return { token, entity };
  }

  list(workspaceId: string): Promise<PartnerTokenEntity[]> {
    return this.transactions.manager.find(PartnerTokenEntity, { where: { workspaceId }, order: { createdAt: 'DESC' } });
  }

  /**
   * Revocation is idempotent. The token's workspace decides who may revoke it; a token the caller
   * cannot manage answers FORBIDDEN whether or not it exists.
   */
  async revoke(ctx: RequestContext, id: string): Promise<PartnerTokenEntity> {
    const entity = await this.transactions.manager.findOne(PartnerTokenEntity, { where: { id } });
    await ctx.auth.authorize('manage', 'PartnerToken', entity?.workspaceId ?? '');
    if (!entity) throw forbidden();
    if (entity.revokedAt) return entity;
    entity.revokedAt = new Date();
    await this.transactions.run(async (manager) => {
      const result = await manager.update(PartnerTokenEntity, { id, revokedAt: IsNull() }, { revokedAt: entity.revokedAt });
      // Revoked meanwhile by someone else, who has the audit event.
      if ((result.affected ?? 0) === 0) return;
      await this.audit.record(manager, {
        workspaceId: entity.workspaceId,
        action: AuditAction.PARTNER_TOKEN_REVOKED,
        actorUserId: ctx.auth.userId ?? null,
        maskedHint: null,
        detail: tokenDetail(entity),
        subjectId: entity.id,
      });
    });
    return entity;
  }

  /**
   * For the authenticator: the live token's workspace, or undefined when unknown or revoked.
   * The index compares SHA-256 digests of the presented token, never the token: its timing could
   * only tell how many leading digest bytes match a stored digest, and turning that into a token
   * is a preimage search. That is why the lookup needs no constant-time comparison of its own.
   */
  async lookup(token: string): Promise<{ tokenId: string; workspaceId: string } | undefined> {
    const entity = await this.transactions.manager.findOne(PartnerTokenEntity, { where: { tokenHash: hashToken(token) } });
    if (!entity || entity.revokedAt) return undefined;
    const now = new Date();
    if (!entity.lastUsedAt || now.getTime() - entity.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      // Kept coarse so that a busy integration does not turn every read into a write.
      await this.transactions.run((manager) => manager.update(PartnerTokenEntity, { id: entity.id }, { lastUsedAt: now }));
    }
    return { tokenId: entity.id, workspaceId: entity.workspaceId };
  }
}
