import { GraphQLError } from 'graphql';
import { ErrorCode } from './error-code';

/** A client-visible error: its message is written for the client and never contains a secret. */
export class AppError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message, { extensions: { code } });
    this.name = 'AppError';
  }
}

export const unauthenticated = (message = 'Authentication required') => new AppError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message = 'You are not allowed to do this') => new AppError(ErrorCode.FORBIDDEN, message);
export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found`);
export const badUserInput = (message: string) => new AppError(ErrorCode.BAD_USER_INPUT, message);
export const conflict = (message: string) => new AppError(ErrorCode.CONFLICT, message);
/** A sum of amounts or tokens that SafeInt cannot carry exactly. */
export const amountOutOfRange = () =>
  new AppError(ErrorCode.AMOUNT_OUT_OF_RANGE, `A total is beyond ${Number.MAX_SAFE_INTEGER} (2^53 − 1), the largest amount this API reports exactly`);
