import { webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';

export interface UserClaims {
  userId: string;
  platformAdmin: boolean;
}

const ALGORITHM = 'HS256';
/** in characters (code points), the width of the user id columns */
const MAX_SUBJECT_LENGTH = 191;
/** `iat` and `nbf` may lie this far ahead (clock skew between issuer and service), no further */
const FUTURE_LEEWAY_SECONDS = 60;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** C0, DEL and C1: a user id with one would forge log lines and lookalike ids. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/** When set, a token must name this issuer (`iss`) and audience (`aud`): JWT_ISSUER, JWT_AUDIENCE. */
export interface JwtExpectations {
  issuer?: string;
  audience?: string;
}

/** A user id as SPEC.md "Identity" takes it: well-formed Unicode, no control character, 191 characters at most. */
export function isAcceptableSubject(sub: unknown): sub is string {
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH * 2) return false;
  if (LONE_SURROGATE.test(sub) || hasControlCharacter(sub)) return false;
  return [...sub].length <= MAX_SUBJECT_LENGTH;
}
const REMEMBER_MS = 60_000;
const MAX_REMEMBERED_TOKENS = 10_000;

export class JwtCodec {
  /** Imported once: handing jose raw bytes would re-import the HMAC key on every verification. */
  private readonly key: Promise<webcrypto.CryptoKey>;
  private readonly verified = new Map<string, { claims: UserClaims; until: number }>();

  constructor(
    secret: string,
    private readonly expectations: JwtExpectations = {},
  ) {
    this.key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  }

  /**
   * Only HS256 is accepted: `alg: none` and every other algorithm fail verification. `exp` is
   * required and honoured to the second; `iat` or `nbf` more than a minute ahead is refused. A verified
   * token is remembered (keyed by the whole token, signature included) until its `exp` or for a
   * minute at most, so a client's every request does not pay the HMAC again.
   */
  async verify(token: string, now = Date.now()): Promise<UserClaims | undefined> {
    const known = this.remembered(token, now);
    if (known) return known;
    try {
      // jose's tolerance covers nbf (and iat's type); exp and iat's future are checked below, exactly.
      const { payload } = await jwtVerify(token, await this.key, {
        algorithms: [ALGORITHM],
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(now),
        clockTolerance: FUTURE_LEEWAY_SECONDS,
        issuer: this.expectations.issuer,
        audience: this.expectations.audience,
      });
      const nowSeconds = now / 1000;
      if (typeof payload.exp !== 'number' || payload.exp <= nowSeconds) return undefined;
      if (typeof payload.iat === 'number' && payload.iat > nowSeconds + FUTURE_LEEWAY_SECONDS) return undefined;
      const sub = payload.sub;
      if (!isAcceptableSubject(sub)) return undefined;
      const claims = { userId: sub, platformAdmin: payload.platform_admin === true };
      if (this.verified.size >= MAX_REMEMBERED_TOKENS) this.verified.clear();
      const until = Math.min(now + REMEMBER_MS, payload.exp * 1000);
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
    const jwt = new SignJWT(claims.platformAdmin ? { platform_admin: true } : {})
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuedAt()
      .setExpirationTime(expiresIn);
    if (this.expectations.issuer !== undefined) jwt.setIssuer(this.expectations.issuer);
    if (this.expectations.audience !== undefined) jwt.setAudience(this.expectations.audience);
    return jwt.sign(await this.key);
  }
}
