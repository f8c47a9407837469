import type { EntityManager } from 'typeorm';
import { InferenceKeyRecordEntity } from '../../src/modules/inference-key/inference-key-record.entity';
import { maskedHint } from '../../src/modules/inference-key/masked-hint';
import type { TenantSecretStore } from '../../src/modules/secrets/tenant-secret.store';

/**
 * Stores a key the way saveKey does, blob and record at one version, but through the given store:
 * what a deployment holding another phrase (or a skipped re-encryption) leaves behind.
 */
export async function storeKeyDirectly(manager: EntityManager, store: TenantSecretStore, workspaceId: string, key: string, status: string | null = null): Promise<void> {
  const blob = await store.write(manager, workspaceId, { openrouterKey: key });
  await manager.save(
    InferenceKeyRecordEntity,
    Object.assign(new InferenceKeyRecordEntity(), { workspaceId, openrouterMaskedHint: maskedHint(key), openrouterStatus: status, updatedBy: null, updatedAt: blob!.updatedAt }),
  );
}

/** The stored status of the workspace's key, read past every cache. */
export async function storedKeyStatus(manager: EntityManager, workspaceId: string): Promise<string | null | undefined> {
  return (await manager.findOne(InferenceKeyRecordEntity, { where: { workspaceId } }))?.openrouterStatus;
}
