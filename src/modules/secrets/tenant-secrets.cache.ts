import type { TenantSecrets } from './tenant-secret.store';

/**
 * What the gateway needs per workspace, kept per worker in a `LoadingCache` (src/cache): the
 * decrypted secrets and the key's last known status.
 */
export interface CachedSecrets {
  secrets: TenantSecrets;
  keyStatus: string | null;
  /** the row version the secrets were read from */
  rowUpdatedAt: Date | null;
}
