import { webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';

export interface UserClaims {
  userId: string;
  platformAdmin: boolean;
}

const ALGORITHM = 'HS256';
const MAX_SUBJECT_LENGTH = 191;
const REMEMBER_MS = 60_000;
const MAX_REMEMBERED_TOKENS = 10_000;

export class JwtCodec {
  /** Imported once: handing jose raw bytes would re-import the HMAC key on every verification. */
  private readonly key: Promise<webcrypto.CryptoKey>;
  private readonly verified = new Map<string, { claims: UserClaims; until: number }>();

  constructor(secret: string) {
    this.key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  }

  /**
   * Only HS256 is accepted: `alg: none` and every other algorithm fail verification. A verified
   * token is remembered (keyed by the whole token, signature included) until its `exp` or for a
   * minute at most, so a client's every request does not pay the HMAC again.
   */
  async verify(token: string, now = Date.now()): Promise<UserClaims | undefined> {
    const known = this.remembered(token, now);
    if (known) return known;
    try {
      const { payload } = await jwtVerify(token, await this.key, {
        algorithms: [ALGORITHM],
        requiredClaims: ['sub'],
        currentDate: new Date(now),
      });
      const sub = payload.sub;
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH) return undefined;
      const claims = { userId: sub, platformAdmin: payload.platform_admin === true };
      if (this.verified.size >= MAX_REMEMBERED_TOKENS) this.verified.clear();
      const until = Math.min(now + REMEMBER_MS, typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity);
      this.verified.set(token, { claims, until });
      return claims;
    } catch {
      return undefined;
    }
  }

  /** The claims of a token verified less than a minute ago and not expired since; no cryptography. */
  remembered(token: string, now = Date.now()): UserClaims | undefined {
    const known = this.verified.get(token);
    return known && known.until > now ? known.claims : undefined;
  }

  async sign(claims: UserClaims, expiresIn: string | number = '12h'): Promise<string> {
    return new SignJWT(claims.platformAdmin ? { platform_admin: true } : {})
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuedAt()
      .setExpirationTime(expiresIn)
      .sign(await this.key);
  }
}
