import { LessThanOrEqual } from 'typeorm';
import { timeOrderedId } from '../../db/ids';
import type { SqlDialect } from '../../db/dialect';
import type { TransactionRunner } from '../../db/transaction-runner';
import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import { lockWorkspaceOrThrow } from '../workspace/workspace.lock';
import { KeyCheckType } from './key-check.type';
import { KeyVerificationAttemptEntity } from './key-verification-attempt.entity';
import type { OpenRouterKeyVerifier } from './openrouter-key.verifier';
import { validateOpenRouterKeyOrThrow } from './openrouter-key.validation';

/** verifyKey calls a workspace may make in any 60 seconds, whichever workers serve them. */
export const VERIFY_KEY_LIMIT_PER_MINUTE = 10;
const WINDOW_MS = 60_000;

/**
 * verifyKey: a key checked live with OpenRouter without being saved (a "Test key" button). The
 * key is validated like a save, never stored, logged or echoed. Each workspace may check
 * 10 keys a minute: the attempts are rows in the database, counted under the workspace's lock, so
 * the limit holds across workers; beyond it, RATE_LIMITED.
 */
export class KeyVerificationService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly dialect: SqlDialect,
    private readonly verifier: OpenRouterKeyVerifier,
  ) {}

  async verify(workspaceId: string, submittedKey: string): Promise<KeyCheckType> {
    const key = validateOpenRouterKeyOrThrow(submittedKey);
    await this.countAttemptOrThrow(workspaceId);
    const check = await this.verifier.checkLive(key);
    if (check.outcome === 'unreachable') {
      throw new AppError(ErrorCode.UPSTREAM_UNREACHABLE, 'OpenRouter could not be asked about this key; nothing was saved. Try again later.');
    }
    if (check.outcome === 'refused') {
      return Object.assign(new KeyCheckType(), { valid: false, limitMicros: null, limitRemainingMicros: null, isFreeTier: null, message: check.reason });
    }
    return Object.assign(new KeyCheckType(), {
      valid: true,
      limitMicros: check.limitMicros,
      limitRemainingMicros: check.limitRemainingMicros,
      isFreeTier: check.isFreeTier,
      message: null,
    });
  }

  private countAttemptOrThrow(workspaceId: string): Promise<void> {
    return this.transactions.run(async (manager) => {
      await lockWorkspaceOrThrow(manager, this.dialect, workspaceId);
      const now = new Date();
      await manager.delete(KeyVerificationAttemptEntity, { workspaceId, attemptedAt: LessThanOrEqual(new Date(now.getTime() - WINDOW_MS)) });
      const recent = await manager.count(KeyVerificationAttemptEntity, { where: { workspaceId } });
      if (recent >= VERIFY_KEY_LIMIT_PER_MINUTE) {
        throw new AppError(ErrorCode.RATE_LIMITED, `At most ${VERIFY_KEY_LIMIT_PER_MINUTE} keys may be checked a minute per workspace; try again in a minute`);
      }
      await manager.insert(KeyVerificationAttemptEntity, { id: timeOrderedId(now.getTime()), workspaceId, attemptedAt: now });
    });
  }
}
