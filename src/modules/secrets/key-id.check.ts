import type { DataSource } from 'typeorm';
import { WebhookEndpointEntity } from '../webhook/webhook-endpoint.entity';
import type { TenantSecretsCipher } from './cipher';
import { TenantSecretEntity } from './tenant-secret.entity';

/**
 * Key ids found on stored blobs that neither SECRETS_PHRASE nor SECRETS_PHRASE_PREVIOUS derives:
 * the tenant-secrets blobs and the webhook signing secrets (current and previous), all sealed by
 * the same cipher, so a service started with the wrong phrase hears about either.
 */
export async function unknownStoredKeyIds(dataSource: DataSource, cipher: TenantSecretsCipher): Promise<string[]> {
  const stored = new Set([...(await tenantSecretKeyIds(dataSource)), ...(await webhookSecretKeyIds(dataSource))]);
  const known = new Set(cipher.knownKeyIds);
  return [...stored].filter((keyId) => !known.has(keyId)).sort();
}

/**
 * Started without migrating (MIGRATE_ON_START=false) on a new database: no table, so no blobs;
 * the service must still start so that /readyz can report the pending migrations.
 */
async function tableExists(dataSource: DataSource, entity: new () => object): Promise<boolean> {
  const queryRunner = dataSource.createQueryRunner();
  try {
    return await queryRunner.hasTable(dataSource.getMetadata(entity).tableName);
  } finally {
    await queryRunner.release();
  }
}

async function tenantSecretKeyIds(dataSource: DataSource): Promise<string[]> {
  if (!(await tableExists(dataSource, TenantSecretEntity))) return [];
  const rows: Array<{ keyId: string }> = await dataSource.getRepository(TenantSecretEntity).createQueryBuilder('s').select('DISTINCT s.key_id', 'keyId').getRawMany();
  return rows.map((row) => row.keyId);
}

/**
 * A sealed secret carries its key id in bytes 2–5 (after the format byte; see cipher.ts), read here
 * in SQL so that start-up reads a few distinct ids, not every endpoint's secrets. LOWER(HEX(SUBSTR))
 * means the same on SQLite and MySQL/MariaDB and matches the cipher's lowercase hex ids.
 */
async function webhookSecretKeyIds(dataSource: DataSource): Promise<string[]> {
  if (!(await tableExists(dataSource, WebhookEndpointEntity))) return [];
  const table = dataSource.getMetadata(WebhookEndpointEntity).tableName;
  const rows: Array<{ keyId: string }> = await dataSource.query(
    `SELECT DISTINCT LOWER(HEX(SUBSTR(secret, 2, 4))) AS keyId FROM ${table}
     UNION SELECT DISTINCT LOWER(HEX(SUBSTR(previous_secret, 2, 4))) AS keyId FROM ${table} WHERE previous_secret IS NOT NULL`,
  );
  return rows.map((row) => row.keyId);
}
