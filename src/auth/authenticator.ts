import { bearerToken } from './bearer';
import { SecretMatcher } from './constant-time';
import type { JwtCodec } from './jwt';
import { ANONYMOUS, Principal } from './principal';

/** Looks up a partner token (`mpt_…`) by its hash; undefined when unknown or revoked. */
export type PartnerTokenLookup = (token: string) => Promise<{ tokenId: string; workspaceId: string } | undefined>;

export const PARTNER_TOKEN_PREFIX = 'mpt_';

/** Turns an Authorization header into a principal. Never throws: a bad credential is `invalid`. */
export class Authenticator {
  private readonly serviceToken: SecretMatcher | undefined;

  constructor(
    private readonly jwt: JwtCodec,
    serviceToken: string | undefined,
    private readonly partnerTokens: PartnerTokenLookup,
  ) {
    this.serviceToken = serviceToken === undefined ? undefined : new SecretMatcher(serviceToken);
  }

  async principalOf(authorization: string | undefined): Promise<Principal> {
    if (authorization === undefined || authorization === '') return ANONYMOUS;
    const token = bearerToken(authorization);
    if (token === undefined) return { kind: 'invalid' };
    if (token.startsWith(PARTNER_TOKEN_PREFIX)) {
      const partner = await this.partnerTokens(token);
      return partner ? { kind: 'partner', ...partner } : { kind: 'invalid' };
    }
    // A token verified before is a JWT, never the service token: a Map lookup reveals nothing about it.
    const remembered = this.jwt.remembered(token);
    if (remembered) return { kind: 'user', ...remembered };
    if (this.serviceToken?.matches(token)) return { kind: 'service' };
    const claims = await this.jwt.verify(token);
    return claims ? { kind: 'user', ...claims } : { kind: 'invalid' };
  }
}
