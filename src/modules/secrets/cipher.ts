import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt } from 'node:crypto';

/**
 * The only module that touches encryption keys and nonces.
 *
 * Stored format (one blob per workspace):
 *   [format byte 0x01][key id: 4 bytes][nonce: 12 bytes][ciphertext][GCM tag: 16 bytes]
 * The key id is a fingerprint of the master key that wrote the blob, so decryption picks the key
 * by id rather than by trial. The additional authenticated data binds the blob to its row:
 *   "tenant-secrets" 0x00 "v1" 0x00 <workspaceId> 0x00 <keyId hex>
 * so a blob copied to another workspace's row fails authentication.
 */

/** Bytes that came out of `TenantSecretsCipher.encrypt`; plaintext cannot be stored by mistake. */
export type EncryptedBlob = Buffer & { readonly __brand: 'EncryptedBlob' };

export class SecretsDecryptionError extends Error {
  constructor(readonly reason: 'format' | 'unknown-key' | 'authentication') {
    super(`tenant secrets could not be decrypted (${reason})`);
    this.name = 'SecretsDecryptionError';
  }
}

const FORMAT_V1 = 0x01;
const KEY_ID_BYTES = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES;
const SCRYPT_SALT = 'byok-billing/tenant-secrets/master-key/v1';
const SCRYPT_PARAMS = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 };

interface MasterKey {
  id: string;
  material: Buffer;
}

function deriveMasterKey(phrase: string): Promise<MasterKey> {
  return new Promise((resolvePromise, reject) => {
    scrypt(phrase.normalize('NFC'), SCRYPT_SALT, 32, SCRYPT_PARAMS, (error, material) => {
      if (error) return reject(error);
      const id = createHmac('sha256', material).update('tenant-secrets key id').digest().subarray(0, KEY_ID_BYTES);
      resolvePromise({ id: id.toString('hex'), material });
    });
  });
}

function additionalData(workspaceId: string, keyId: string): Buffer {
  return Buffer.from(['tenant-secrets', 'v1', workspaceId, keyId].join('\0'), 'utf8');
}

/** Each workspace gets its own data key, so one workspace's ciphertext is useless under another's key. */
function workspaceKey(master: MasterKey, workspaceId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master.material, Buffer.alloc(0), `tenant-secrets/v1/${workspaceId}`, 32));
}

export class TenantSecretsCipher {
  private constructor(
    private readonly current: MasterKey,
    private readonly previous: MasterKey | undefined,
  ) {}

  /** Derives the master keys with scrypt: expensive by design, so call it once per process. */
  static async fromPhrases(current: string, previous?: string): Promise<TenantSecretsCipher> {
    const [currentKey, previousKey] = await Promise.all([
      deriveMasterKey(current),
      previous === undefined ? Promise.resolve(undefined) : deriveMasterKey(previous),
    ]);
    return new TenantSecretsCipher(currentKey, previousKey);
  }

  get currentKeyId(): string {
    return this.current.id;
  }

  /** Key ids this process can decrypt (current first). */
  get knownKeyIds(): string[] {
    return this.previous ? [this.current.id, this.previous.id] : [this.current.id];
  }

  encrypt(workspaceId: string, plaintext: Buffer): EncryptedBlob {
    const nonce = randomBytes(NONCE_BYTES);
    const key = workspaceKey(this.current, workspaceId);
    try {
      const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(additionalData(workspaceId, this.current.id));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      const header = Buffer.concat([Buffer.from([FORMAT_V1]), Buffer.from(this.current.id, 'hex'), nonce]);
      return Buffer.concat([header, body, cipher.getAuthTag()]) as EncryptedBlob;
    } finally {
      key.fill(0);
    }
  }

  decrypt(workspaceId: string, blob: Buffer): Buffer {
    if (blob.length < HEADER_BYTES + TAG_BYTES || blob[0] !== FORMAT_V1) {
      throw new SecretsDecryptionError('format');
    }
    const keyId = TenantSecretsCipher.keyIdOf(blob);
    const master = [this.current, this.previous].find((candidate) => candidate?.id === keyId);
    if (!master) throw new SecretsDecryptionError('unknown-key');
    const nonce = blob.subarray(1 + KEY_ID_BYTES, HEADER_BYTES);
    const tag = blob.subarray(blob.length - TAG_BYTES);
    const body = blob.subarray(HEADER_BYTES, blob.length - TAG_BYTES);
    const key = workspaceKey(master, workspaceId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(workspaceId, keyId));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw new SecretsDecryptionError('authentication');
    } finally {
      key.fill(0);
    }
  }

  /** The key id a blob claims, as hex; readable without any key. */
  static keyIdOf(blob: Buffer): string {
    return blob.subarray(1, 1 + KEY_ID_BYTES).toString('hex');
  }
}
