import { ErrorCode } from './error-code';

export interface AppErrorOptions {
  /**
   * A later attempt of the same operation may succeed: the usage ledger replays a call whose
   * recording failed so, and the gateway's answer carries `Retry-After`. Decided where the error
   * is made, never from its class.
   */
  retryable?: boolean;
  /** more fields of the error object for the caller's code, beside code and message (the gateway's JSON) */
  details?: Record<string, string>;
  /** the status OpenRouter answered, for an error that reports its refusal */
  upstreamStatus?: number;
}

/**
 * A client-visible error: its message is written for the client and never contains a secret. The
 * domain's one error type, a plain Error so that services know no transport: only
 * `graphql/format-error.ts` shapes it for GraphQL and the gateway's `gateway-errors.ts` for its
 * HTTP answers.
 */
export class AppError extends Error {
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, string>>;
  readonly upstreamStatus?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
    this.upstreamStatus = options.upstreamStatus;
  }
}

/** Whether a failure may pass if tried again later: asked of the error's flag, never of its class. */
export function isRetryable(error: unknown): boolean {
  return (error as { retryable?: unknown } | undefined)?.retryable === true;
}

export const unauthenticated = (message = 'Authentication required') => new AppError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message = 'You are not allowed to do this') => new AppError(ErrorCode.FORBIDDEN, message);
export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found`);
export const badUserInput = (message: string) => new AppError(ErrorCode.BAD_USER_INPUT, message);
export const conflict = (message: string) => new AppError(ErrorCode.CONFLICT, message);
/** A sum of amounts or tokens that SafeInt cannot carry exactly. */
export const amountOutOfRange = () =>
  new AppError(ErrorCode.AMOUNT_OUT_OF_RANGE, `A total is beyond ${Number.MAX_SAFE_INTEGER} (2^53 − 1), the largest amount this API reports exactly`);
