import type { DataSource } from 'typeorm';
import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import { isKeyUnavailable, TenantSecretStore } from '../secrets/tenant-secret.store';
import type { LoadingCache } from '../../cache/loading-cache';
import type { CachedSecrets } from '../secrets/tenant-secrets.cache';
import { InferencePath, KeySource } from '../usage/usage.enums';
import type { WorkspaceEntity } from '../workspace/workspace.entity';
import { Plan } from '../workspace/workspace.enums';
import { KEY_POLICY, KeyPolicy } from './key-policy';
import type { KeyHealthService } from '../inference-key/key-health.service';

export interface ResolvedKey {
  source: KeySource;
  key: string;
  /** for BYOK: the key's last known status and the row version it belongs to */
  status: string | null;
  rowUpdatedAt: Date | null;
}

/** The workspace's key could not be read for want of a database (and no usable cached copy). */
const keyStoreUnreachable = () =>
  new AppError(
    ErrorCode.DATABASE_UNAVAILABLE,
    "The workspace's key cannot be read while the database is unreachable, so no call was made and nothing was billed. Retry shortly.",
    { retryable: true },
  );

/** Said on the gateway: the store's own message is written for the GraphQL operations on the key. */
const keyUnavailable = () =>
  new AppError(ErrorCode.KEY_UNAVAILABLE, "The workspace's stored OpenRouter key cannot be read; no call was made. A billing manager should replace the key.");

/** Picks the key for a call by the path policy, reading the workspace's key through the cache. */
export class GatewayKeyPicker {
  constructor(
    private readonly dataSource: DataSource,
    private readonly store: TenantSecretStore,
    private readonly cache: LoadingCache<CachedSecrets>,
    private readonly platformKey: string | undefined,
    private readonly health: KeyHealthService,
    /** GATEWAY_DATABASE_OUTAGE=serve: how old a cached key may be when the database cannot be asked; undefined: none */
    private readonly staleWhileUnreachableMs?: number,
  ) {}

  /**
   * Throws KEY_UNAVAILABLE when the workspace's blob does not decrypt: never a silent fallback;
   * DATABASE_UNAVAILABLE (retryable) when it cannot be read and no cached copy may stand in.
   * Only an ENTERPRISE workspace's key is used, judged on the workspace row the gateway holds: its
   * secrets stay cached for minutes, and a missed invalidation after a plan change must not bill a
   * PRO workspace on its old key meanwhile.
   */
  async resolve(workspace: WorkspaceEntity, path: InferencePath): Promise<ResolvedKey> {
    if (KEY_POLICY[path] === KeyPolicy.WORKSPACE_KEY && workspace.plan === Plan.ENTERPRISE) {
      const cached = await this.cache.get(workspace.id, () => this.load(workspace.id)).catch((error: unknown) => {
        if (isKeyUnavailable(error)) throw keyUnavailable();
        const stale = this.staleWhileUnreachableMs === undefined ? undefined : this.cache.stale(workspace.id, this.staleWhileUnreachableMs);
        if (!stale) throw keyStoreUnreachable();
        return stale;
      });
      const key = cached.secrets.openrouterKey;
      if (key) return { source: KeySource.BYOK, key, status: cached.keyStatus, rowUpdatedAt: cached.rowUpdatedAt };
    }
    return this.platform();
  }

  platform(): ResolvedKey {
    if (!this.platformKey) throw new AppError(ErrorCode.PLATFORM_KEY_MISSING, 'The platform OpenRouter key is not configured.');
    return { source: KeySource.PLATFORM, key: this.platformKey, status: null, rowUpdatedAt: null };
  }

  private async load(workspaceId: string): Promise<CachedSecrets> {
    // The status only says whether a success has anything to clear: every verdict is bound to the
    // blob's version, so a replace committing between the two reads cannot misplace one.
    const [row, keyStatus] = await Promise.all([this.store.findRow(this.dataSource.manager, workspaceId), this.health.statusOf(workspaceId)]);
    if (!row) return { secrets: {}, keyStatus: null, rowUpdatedAt: null };
    try {
      return { secrets: this.store.decryptOrThrow(row), keyStatus, rowUpdatedAt: row.updatedAt };
    } catch (error) {
      // The call is refused either way; the status is what tells members why, so a failure to
      // write it must not turn KEY_UNAVAILABLE into some other answer.
      if (isKeyUnavailable(error)) await this.health.markUnavailable(workspaceId, row.updatedAt).catch(() => undefined);
      throw error;
    }
  }
}
