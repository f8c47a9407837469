import { EntityManager, In } from 'typeorm';
import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';
import { SecretsDecryptionError, TenantSecretsCipher } from './cipher';
import { TenantSecretEntity } from './tenant-secret.entity';

/** What the blob holds once decrypted. More secrets may join later as optional fields. */
export interface TenantSecrets {
  openrouterKey?: string;
}

const PAYLOAD_VERSION = 1;

export const keyUnavailable = () =>
  new AppError(
    ErrorCode.KEY_UNAVAILABLE,
    "The workspace's stored OpenRouter key cannot be read. Replace the key to continue.",
  );

export function isKeyUnavailable(error: unknown): boolean {
  return error instanceof AppError && error.code === ErrorCode.KEY_UNAVAILABLE;
}

function serialise(secrets: TenantSecrets): Buffer {
  return Buffer.from(JSON.stringify({ v: PAYLOAD_VERSION, openrouterKey: secrets.openrouterKey }), 'utf8');
}

function deserialise(plaintext: Buffer): TenantSecrets {
  const parsed = JSON.parse(plaintext.toString('utf8')) as { v?: number; openrouterKey?: unknown };
  if (parsed.v !== PAYLOAD_VERSION) throw new SecretsDecryptionError('format');
  return typeof parsed.openrouterKey === 'string' ? { openrouterKey: parsed.openrouterKey } : {};
}

function isEmpty(secrets: TenantSecrets): boolean {
  return secrets.openrouterKey === undefined;
}

/** Reads and writes a workspace's encrypted secrets blob; all cryptography is delegated to the cipher. */
export class TenantSecretStore {
  constructor(private readonly cipher: TenantSecretsCipher) {}

  get currentKeyId(): string {
    return this.cipher.currentKeyId;
  }

  findRow(manager: EntityManager, workspaceId: string): Promise<TenantSecretEntity | null> {
    return manager.findOne(TenantSecretEntity, { where: { workspaceId } });
  }

  /** Fails closed: a blob that does not authenticate is KEY_UNAVAILABLE, never some other value. */
  decryptOrThrow(row: TenantSecretEntity): TenantSecrets {
    try {
      return deserialise(this.cipher.decrypt(row.workspaceId, row.ciphertext));
    } catch (error) {
      if (error instanceof SecretsDecryptionError || error instanceof SyntaxError) throw keyUnavailable();
      throw error;
    }
  }

  /**
   * Writes the secrets under the current key with a fresh nonce, or deletes the row when nothing
   * is left in it. Returns the row as stored (its `updatedAt` is the new version), or null when deleted.
   */
  async write(manager: EntityManager, workspaceId: string, secrets: TenantSecrets): Promise<TenantSecretEntity | null> {
    if (isEmpty(secrets)) {
      await manager.delete(TenantSecretEntity, { workspaceId });
      return null;
    }
    const existing = await this.findRow(manager, workspaceId);
    const row = Object.assign(existing ?? new TenantSecretEntity(), {
      workspaceId,
      ciphertext: this.cipher.encrypt(workspaceId, serialise(secrets)),
      keyId: this.cipher.currentKeyId,
      updatedAt: new Date(),
    });
    return manager.save(TenantSecretEntity, row);
  }

  /** The workspaces whose blob was written under one of these key ids, with the blob's version. */
  async versionsUnderKeyIds(manager: EntityManager, keyIds: readonly string[]): Promise<Array<{ workspaceId: string; updatedAt: Date }>> {
    if (keyIds.length === 0) return [];
    return manager.find(TenantSecretEntity, { select: ['workspaceId', 'updatedAt'], where: { keyId: In([...keyIds]) } });
  }

  /** Re-encrypts one row under the current key, keeping its contents; used by key rotation. */
  reencrypt(row: TenantSecretEntity): TenantSecretEntity {
    const secrets = this.decryptOrThrow(row);
    return Object.assign(row, {
      ciphertext: this.cipher.encrypt(row.workspaceId, serialise(secrets)),
      keyId: this.cipher.currentKeyId,
    });
  }
}
