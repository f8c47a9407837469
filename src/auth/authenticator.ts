import { constantTimeEqual } from './constant-time';
import type { JwtCodec } from './jwt';
import { ANONYMOUS, Principal } from './principal';

/** Looks up a partner token (`mpt_…`) by its hash; undefined when unknown or revoked. */
export type PartnerTokenLookup = (token: string) => Promise<{ tokenId: string; workspaceId: string } | undefined>;

export const PARTNER_TOKEN_PREFIX = 'mpt_';

/** Turns an Authorization header into a principal. Never throws: a bad credential is `invalid`. */
export class Authenticator {
  constructor(
    private readonly jwt: JwtCodec,
    private readonly serviceToken: string | undefined,
    private readonly partnerTokens: PartnerTokenLookup,
  ) {}

  async principalOf(authorization: string | undefined): Promise<Principal> {
    if (authorization === undefined || authorization === '') return ANONYMOUS;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) return { kind: 'invalid' };
    const token = match[1];
    if (token.startsWith(PARTNER_TOKEN_PREFIX)) {
      const partner = await this.partnerTokens(token);
      return partner ? { kind: 'partner', ...partner } : { kind: 'invalid' };
    }
    if (this.serviceToken !== undefined && constantTimeEqual(token, this.serviceToken)) return { kind: 'service' };
    const claims = await this.jwt.verify(token);
    return claims ? { kind: 'user', ...claims } : { kind: 'invalid' };
  }
}
