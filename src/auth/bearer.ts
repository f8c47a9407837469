/**
 * The token of an `Authorization: Bearer <token>` header, undefined for anything else: the one
 * reading of the header, for the authenticator and the gateway's service token alike.
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}
