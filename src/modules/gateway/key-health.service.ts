import type { DataSource } from 'typeorm';
import { KeyStatus } from '../inference-key/inference-key.enums';
import { TenantSecretEntity } from '../secrets/tenant-secret.entity';

/**
 * Records what OpenRouter said about a workspace's key. The update names the row version the key
 * was read from, so a verdict on an old key never lands on a key that replaced it meanwhile.
 */
export class KeyHealthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly onChanged: (workspaceId: string) => void,
  ) {}

  async mark(workspaceId: string, rowUpdatedAt: Date | null, status: KeyStatus): Promise<void> {
    if (!rowUpdatedAt) return;
    const result = await this.dataSource
      .getRepository(TenantSecretEntity)
      .update({ workspaceId, updatedAt: rowUpdatedAt }, { openrouterStatus: status, openrouterLastCheckedAt: new Date() });
    if ((result.affected ?? 0) > 0) this.onChanged(workspaceId);
  }
}
