import { SecretsDecryptionError, TenantSecretsCipher } from '../src/modules/secrets/cipher';
import { cipherFor } from './support/test-app';

/**
 * Unit tests of the only module that touches keys and nonces. The blob layout is
 *   [format 1][key id 4][nonce 12][ciphertext n][tag 16]
 * and every region of it must be authenticated, so each one is tampered with in turn.
 */

const PHRASE_A = 'cipher test phrase A, long enough for the production rule';
const PHRASE_B = 'cipher test phrase B, long enough for the production rule';
const WORKSPACE = '6b1f6f4e-2f0e-4d1c-9a55-0c3f1a2b3c4d';
const OTHER_WORKSPACE = '0a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c';
const PLAINTEXT = Buffer.from(JSON.stringify({ v: 1, openrouterKey: 'sk-or-v1-cipher-test-0123456789abcdef' }), 'utf8');

const FORMAT_BYTES = 1;
const KEY_ID_BYTES = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = FORMAT_BYTES + KEY_ID_BYTES + NONCE_BYTES;

/** The reason a decryption failed; fails the test when it did not fail, or failed some other way. */
function failureReason(cipher: TenantSecretsCipher, workspaceId: string, blob: Buffer): SecretsDecryptionError['reason'] {
  try {
    cipher.decrypt(workspaceId, blob);
  } catch (error) {
    expect(error).toBeInstanceOf(SecretsDecryptionError);
    // The message is for logs: it must not leak any part of the plaintext.
    expect((error as Error).message).not.toContain('sk-or-');
    return (error as SecretsDecryptionError).reason;
  }
  throw new Error('decryption unexpectedly succeeded');
}

function withByteFlipped(blob: Buffer, index: number): Buffer {
  const copy = Buffer.from(blob);
  copy[index] ^= 0x01;
  return copy;
}

describe('TenantSecretsCipher', () => {
  // scrypt is deliberately slow: derive each phrase pair once for the whole file.
  let onlyA: TenantSecretsCipher;
  let onlyB: TenantSecretsCipher;
  let bWithPreviousA: TenantSecretsCipher;
  beforeAll(async () => {
    [onlyA, onlyB, bWithPreviousA] = await Promise.all([cipherFor(PHRASE_A), cipherFor(PHRASE_B), cipherFor(PHRASE_B, PHRASE_A)]);
  });

  it('round-trips a plaintext', () => {
    const blob = onlyA.encrypt(WORKSPACE, PLAINTEXT);
    expect(onlyA.decrypt(WORKSPACE, blob).equals(PLAINTEXT)).toBe(true);
  });

  it('round-trips an empty plaintext', () => {
    const blob = onlyA.encrypt(WORKSPACE, Buffer.alloc(0));
    expect(blob.length).toBe(HEADER_BYTES + TAG_BYTES);
    expect(onlyA.decrypt(WORKSPACE, blob).length).toBe(0);
  });

  it('uses a fresh nonce for every write, so equal plaintexts never give equal blobs', () => {
    const blobs = Array.from({ length: 20 }, () => onlyA.encrypt(WORKSPACE, PLAINTEXT));
    const nonces = new Set(blobs.map((blob) => blob.subarray(FORMAT_BYTES + KEY_ID_BYTES, HEADER_BYTES).toString('hex')));
    const whole = new Set(blobs.map((blob) => blob.toString('hex')));
    expect(nonces.size).toBe(blobs.length);
    expect(whole.size).toBe(blobs.length);
  });

  it('lays the blob out as format byte, 4-byte key id, 12-byte nonce, ciphertext, 16-byte tag', () => {
    const blob = onlyA.encrypt(WORKSPACE, PLAINTEXT);
    expect(blob[0]).toBe(0x01);
    expect(blob.subarray(1, 1 + KEY_ID_BYTES).toString('hex')).toBe(onlyA.currentKeyId);
    expect(TenantSecretsCipher.keyIdOf(blob)).toBe(onlyA.currentKeyId);
    expect(onlyA.currentKeyId).toMatch(/^[0-9a-f]{8}$/);
    // GCM is a stream mode: the ciphertext is exactly as long as the plaintext.
    expect(blob.length).toBe(HEADER_BYTES + PLAINTEXT.length + TAG_BYTES);
    // The plaintext must not appear in the blob in any recognisable form.
    expect(blob.includes(Buffer.from('sk-or-'))).toBe(false);
  });

  it('derives a key id per phrase, the same in every process', async () => {
    // A restarted process must find the key that wrote yesterday's blobs.
    const rederived = await TenantSecretsCipher.fromPhrases(PHRASE_A);
    expect(rederived.currentKeyId).toBe(onlyA.currentKeyId);
    expect(rederived.decrypt(WORKSPACE, onlyA.encrypt(WORKSPACE, PLAINTEXT)).equals(PLAINTEXT)).toBe(true);
    expect(onlyA.currentKeyId).not.toBe(onlyB.currentKeyId);
    expect(bWithPreviousA.currentKeyId).toBe(onlyB.currentKeyId);
    expect(bWithPreviousA.knownKeyIds).toEqual([onlyB.currentKeyId, onlyA.currentKeyId]);
  });

  describe('tampering: every region of the blob is authenticated', () => {
    let blob: Buffer;
    beforeAll(() => {
      blob = onlyA.encrypt(WORKSPACE, PLAINTEXT);
    });

    it('refuses a changed format byte as a format error', () => {
      expect(failureReason(onlyA, WORKSPACE, withByteFlipped(blob, 0))).toBe('format');
    });

    it.each([0, 1, 2, 3])('refuses a changed key id (byte %i): no key by that id', (offset) => {
      expect(failureReason(onlyA, WORKSPACE, withByteFlipped(blob, FORMAT_BYTES + offset))).toBe('unknown-key');
    });

    it('refuses a key id rewritten to another known key id (the id is bound in the AAD)', () => {
      const relabelled = Buffer.from(blob);
      Buffer.from(onlyB.currentKeyId, 'hex').copy(relabelled, FORMAT_BYTES);
      expect(failureReason(bWithPreviousA, WORKSPACE, relabelled)).toBe('authentication');
    });

    it.each([
      ['nonce', () => FORMAT_BYTES + KEY_ID_BYTES],
      ['nonce (last byte)', () => HEADER_BYTES - 1],
      ['ciphertext body', () => HEADER_BYTES],
      ['ciphertext body (last byte)', () => HEADER_BYTES + PLAINTEXT.length - 1],
      ['tag', () => HEADER_BYTES + PLAINTEXT.length],
      ['tag (last byte)', () => HEADER_BYTES + PLAINTEXT.length + TAG_BYTES - 1],
    ])('refuses a changed %s as an authentication failure', (_region, indexOf) => {
      expect(failureReason(onlyA, WORKSPACE, withByteFlipped(blob, indexOf()))).toBe('authentication');
    });

    it('refuses a one-bit change anywhere in the blob', () => {
      const accepted: number[] = [];
      for (let index = 0; index < blob.length; index++) {
        try {
          onlyA.decrypt(WORKSPACE, withByteFlipped(blob, index));
          accepted.push(index);
        } catch (error) {
          if (!(error instanceof SecretsDecryptionError)) throw error;
        }
      }
      expect(accepted).toEqual([]);
    });

    it.each(Array.from({ length: TAG_BYTES }, (_, i) => i + 1))('refuses a blob cut short by %i byte(s) (the tag must be exactly 16 bytes)', (cut) => {
      const truncated = blob.subarray(0, blob.length - cut);
      expect(['authentication', 'format']).toContain(failureReason(onlyA, WORKSPACE, truncated));
    });

    it('refuses blobs too short to hold a header and a tag as a format error', () => {
      expect(failureReason(onlyA, WORKSPACE, Buffer.alloc(0))).toBe('format');
      expect(failureReason(onlyA, WORKSPACE, blob.subarray(0, HEADER_BYTES + TAG_BYTES - 1))).toBe('format');
    });

    it('refuses bytes appended after the tag', () => {
      expect(failureReason(onlyA, WORKSPACE, Buffer.concat([blob, Buffer.from([0])]))).toBe('authentication');
    });
  });

  it("refuses a blob decrypted as another workspace's (the AAD binds it to its row)", () => {
    const blob = onlyA.encrypt(WORKSPACE, PLAINTEXT);
    expect(failureReason(onlyA, OTHER_WORKSPACE, blob)).toBe('authentication');
    // and the right workspace still reads it, so the failure is the binding, not the blob
    expect(onlyA.decrypt(WORKSPACE, blob).equals(PLAINTEXT)).toBe(true);
  });

  it('keeps blobs written under the previous phrase readable, and writes new ones under the current', () => {
    const old = onlyA.encrypt(WORKSPACE, PLAINTEXT);
    expect(bWithPreviousA.decrypt(WORKSPACE, old).equals(PLAINTEXT)).toBe(true);

    const fresh = bWithPreviousA.encrypt(WORKSPACE, PLAINTEXT);
    expect(TenantSecretsCipher.keyIdOf(fresh)).toBe(onlyB.currentKeyId);
    expect(onlyB.decrypt(WORKSPACE, fresh).equals(PLAINTEXT)).toBe(true);
  });

  it("refuses a blob whose key id is not derived by any phrase it holds, with reason 'unknown-key'", () => {
    const underA = onlyA.encrypt(WORKSPACE, PLAINTEXT);
    expect(failureReason(onlyB, WORKSPACE, underA)).toBe('unknown-key');
    const underB = onlyB.encrypt(WORKSPACE, PLAINTEXT);
    expect(failureReason(onlyA, WORKSPACE, underB)).toBe('unknown-key');
  });
});
