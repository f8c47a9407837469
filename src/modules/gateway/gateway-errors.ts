import type { ServerResponse } from 'node:http';
import { AppError } from '../../errors/app-error';
import { ErrorCode } from '../../errors/error-code';

/**
 * How a retry fares: `never` (x-should-retry: false, which the SDKs honour) for errors that come
 * out the same however often they are retried; `later` (Retry-After) for those a later attempt
 * may not meet.
 */
type RetryAdvice = 'never' | 'later';

interface GatewayAnswer {
  /** `upstream`: the status OpenRouter answered, which the error reports */
  status: number | 'upstream';
  retry?: RetryAdvice;
}

/** The one table of the gateway's error answers (SPEC.md, "The usage ledger"); a code not here is answered 500, masked. */
const GATEWAY_ANSWERS: Partial<Record<ErrorCode, GatewayAnswer>> = {
  [ErrorCode.BAD_REQUEST]: { status: 400, retry: 'never' },
  [ErrorCode.UNAUTHENTICATED]: { status: 401, retry: 'never' },
  [ErrorCode.BUDGET_EXCEEDED]: { status: 402, retry: 'never' },
  [ErrorCode.NOT_FOUND]: { status: 404, retry: 'never' },
  [ErrorCode.REQUEST_ID_USED]: { status: 409, retry: 'never' },
  [ErrorCode.REQUEST_IN_PROGRESS]: { status: 409, retry: 'never' },
  [ErrorCode.CONCURRENCY_LIMIT]: { status: 429, retry: 'later' },
  [ErrorCode.UPSTREAM_UNREACHABLE]: { status: 502, retry: 'later' },
  [ErrorCode.SHUTTING_DOWN]: { status: 503, retry: 'later' },
  [ErrorCode.DATABASE_UNAVAILABLE]: { status: 503, retry: 'later' },
  [ErrorCode.KEY_UNAVAILABLE]: { status: 503, retry: 'never' },
  [ErrorCode.PLATFORM_KEY_MISSING]: { status: 503, retry: 'never' },
  [ErrorCode.UPSTREAM_TIMEOUT]: { status: 504, retry: 'later' },
  [ErrorCode.BYOK_KEY_INVALID]: { status: 'upstream', retry: 'never' },
  [ErrorCode.BYOK_OUT_OF_CREDITS]: { status: 'upstream', retry: 'never' },
  [ErrorCode.BYOK_LIMIT_EXCEEDED]: { status: 'upstream', retry: 'never' },
  [ErrorCode.BYOK_MODEL_REFUSED]: { status: 'upstream', retry: 'never' },
};

const INTERNAL: GatewayAnswer = { status: 500 };
const RETRY_AFTER_SECONDS = '1';

/** Statuses of relayed upstream answers that come out the same however often they are retried. */
const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 401, 404, 409, 413, 422]);
/** Statuses of relayed upstream answers that a later attempt may not meet. */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

function adviceHeaders(retry: RetryAdvice | undefined, given: Record<string, string>): Record<string, string> {
  if (retry === 'never') return { 'x-should-retry': 'false' };
  if (retry === 'later' && given['retry-after'] === undefined) return { 'retry-after': RETRY_AFTER_SECONDS };
  return {};
}

/** The retry advice an upstream answer relayed as it is gets, unless the upstream said when. */
export function relayedAnswerAdvice(status: number, given: Record<string, string>): Record<string, string> {
  const retry = PERMANENT_STATUSES.has(status) ? 'never' : TRANSIENT_STATUSES.has(status) ? 'later' : undefined;
  return adviceHeaders(retry, given);
}

/** An error this table answers as it is; anything else is the gateway's fault, answered 500 and logged. */
export function isGatewayAnswered(error: unknown): error is AppError {
  return error instanceof AppError && GATEWAY_ANSWERS[error.code] !== undefined;
}

function writeError(response: ServerResponse, answer: GatewayAnswer, status: number, body: object, headers: Record<string, string>): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json', ...adviceHeaders(answer.retry, headers), ...headers });
  response.end(JSON.stringify({ error: body }));
}

/** Answers one of the gateway's errors: `{ error: { code, message, …details } }`; an answer already started is cut. */
export function sendGatewayError(response: ServerResponse, error: AppError, headers: Record<string, string> = {}): void {
  const answer = GATEWAY_ANSWERS[error.code] ?? INTERNAL;
  const status = answer.status === 'upstream' ? (error.upstreamStatus ?? 502) : answer.status;
  writeError(response, answer, status, { code: error.code, message: error.message, ...error.details }, headers);
}

/** The gateway's own failure: nothing of it is shown. */
export function sendInternalError(response: ServerResponse): void {
  writeError(response, INTERNAL, 500, { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'Internal server error' }, {});
}

/** A request body over the gateway's limit: refused before the rest is read, and the connection closed. */
export function sendBodyTooLarge(response: ServerResponse): void {
  writeError(response, GATEWAY_ANSWERS[ErrorCode.BAD_REQUEST]!, 413, { code: ErrorCode.BAD_REQUEST, message: 'Request body too large' }, { connection: 'close' });
}
