/** Every code a client may see: GraphQL's `extensions.code`, the gateway's `error.code` (SPEC.md, "Errors"). */
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

  // The gateway's own answers (`error.code` in the JSON of POST /v1/chat/completions and /v1/embeddings).
  /** a header or body the gateway cannot take */
  BAD_REQUEST = 'BAD_REQUEST',
  /** the X-Request-Id names a call already recorded (or, during an outage, journaled) with another body */
  REQUEST_ID_USED = 'REQUEST_ID_USED',
  /** the X-Request-Id names a streamed call still running on this worker */
  REQUEST_IN_PROGRESS = 'REQUEST_IN_PROGRESS',
  /** GATEWAY_MAX_CONCURRENT_PER_WORKSPACE calls of the workspace are running on this worker */
  CONCURRENCY_LIMIT = 'CONCURRENCY_LIMIT',
  /** the workspace's monthly AI budget, with action BLOCK, is spent */
  BUDGET_EXCEEDED = 'BUDGET_EXCEEDED',
  /** the worker is draining, or its grace period ended while the call ran */
  SHUTTING_DOWN = 'SHUTTING_DOWN',
  /** the database the call needs cannot be reached, and nothing cached may stand in */
  DATABASE_UNAVAILABLE = 'DATABASE_UNAVAILABLE',
  PLATFORM_KEY_MISSING = 'PLATFORM_KEY_MISSING',
  /** OpenRouter did not answer within OPENROUTER_TIMEOUT_MS */
  UPSTREAM_TIMEOUT = 'UPSTREAM_TIMEOUT',
  // OpenRouter refused the workspace's own key, for the reason each names.
  BYOK_KEY_INVALID = 'BYOK_KEY_INVALID',
  BYOK_OUT_OF_CREDITS = 'BYOK_OUT_OF_CREDITS',
  BYOK_LIMIT_EXCEEDED = 'BYOK_LIMIT_EXCEEDED',
  BYOK_MODEL_REFUSED = 'BYOK_MODEL_REFUSED',
}
