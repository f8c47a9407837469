/** Every code a client may see in `extensions.code` (SPEC.md, "Errors"). */
export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  ENTERPRISE_REQUIRED = 'ENTERPRISE_REQUIRED',
  KEY_ALREADY_CONFIGURED = 'KEY_ALREADY_CONFIGURED',
  KEY_NOT_CONFIGURED = 'KEY_NOT_CONFIGURED',
  CONFLICT = 'CONFLICT',
  KEY_UNAVAILABLE = 'KEY_UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
  /** removing or demoting the workspace's last OWNER */
  LAST_OWNER = 'LAST_OWNER',
  /** a sum of amounts or tokens beyond 2^53 − 1, which SafeInt cannot carry */
  AMOUNT_OUT_OF_RANGE = 'AMOUNT_OUT_OF_RANGE',
  /** too many requests of one principal at once, or too many key checks a minute */
  RATE_LIMITED = 'RATE_LIMITED',
  /** OpenRouter could not be asked (verifyKey) */
  UPSTREAM_UNREACHABLE = 'UPSTREAM_UNREACHABLE',
}
