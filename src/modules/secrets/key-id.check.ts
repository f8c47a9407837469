import type { DataSource } from 'typeorm';
import type { TenantSecretsCipher } from './cipher';
import { TenantSecretEntity } from './tenant-secret.entity';

/** Key ids found on stored blobs that neither SECRETS_PHRASE nor SECRETS_PHRASE_PREVIOUS derives. */
export async function unknownStoredKeyIds(dataSource: DataSource, cipher: TenantSecretsCipher): Promise<string[]> {
  // Started without migrating (MIGRATE_ON_START=false) on a new database: no table, so no blobs;
  // the service must still start so that /readyz can report the pending migrations.
  const queryRunner = dataSource.createQueryRunner();
  try {
    if (!(await queryRunner.hasTable(dataSource.getMetadata(TenantSecretEntity).tableName))) return [];
  } finally {
    await queryRunner.release();
  }
  const rows: Array<{ keyId: string }> = await dataSource
    .getRepository(TenantSecretEntity)
    .createQueryBuilder('s')
    .select('DISTINCT s.key_id', 'keyId')
    .getRawMany();
  const known = new Set(cipher.knownKeyIds);
  return rows.map((row) => row.keyId).filter((keyId) => !known.has(keyId));
}
