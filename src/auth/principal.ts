/** Who is calling: decided once per request from the Authorization header. */
export type Principal =
  | { kind: 'anonymous' }
  /** a bearer credential was sent but is not valid: every guarded operation answers UNAUTHENTICATED */
  | { kind: 'invalid' }
  | { kind: 'user'; userId: string; platformAdmin: boolean }
  /** the platform's inference runtime (SERVICE_TOKEN) */
  | { kind: 'service' }
  | { kind: 'partner'; tokenId: string; workspaceId: string };

export const ANONYMOUS: Principal = { kind: 'anonymous' };
