import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

/**
 * Random bytes are drawn 256 ids at a time (as node's randomUUID does): a randomBytes call per id
 * was 2 % of the gateway's CPU flat out. Each id's 16 bytes are used once.
 */
const pool = Buffer.alloc(16 * 256);
let poolOffset = pool.length;

function sixteenRandomBytes(): Buffer {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += 16;
  return pool.subarray(poolOffset - 16, poolOffset);
}

/**
 * A UUIDv7 (RFC 9562): time-ordered, so rows created later sort later and inserts stay at the end
 * of the primary-key index instead of scattering across it. Within one process, ids made in the
 * same millisecond still increase (a 12-bit counter in rand_a, RFC 9562 §6.2 method 1), so events
 * written one after another keep their order when sorted by (time, id).
 */
export function timeOrderedId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    lastMs += 1;
    sequence = 0;
  }
  const bytes = sixteenRandomBytes();
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
