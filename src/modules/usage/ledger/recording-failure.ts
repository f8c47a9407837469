import { isTransientDatabaseError } from '../../../db/transaction-runner';
import { AppError } from '../../../errors/app-error';
import { ErrorCode } from '../../../errors/error-code';
import type { InferenceCall, UsageRecorderService } from '../usage-recorder.service';

/** A database connection that failed or went away: the next attempt may well get through. */
const CONNECTION_LOST: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);

/**
 * The recorder's failure as a domain error: its own errors already are one, with their flag; a
 * driver's failure that a later attempt may not meet (a deadlock, a lock wait, a lost connection)
 * becomes DATABASE_UNAVAILABLE, retryable. Anything else is left as it is, not retryable. Done
 * here, where the ledger calls the recorder, so that whether a call is replayed reads the flag
 * alone; the GraphQL mutation's errors are not touched.
 */
function recordingFailure(error: unknown): unknown {
  const code = (error as { driverError?: { code?: unknown }; code?: unknown } | undefined)?.driverError?.code ?? (error as { code?: unknown } | undefined)?.code;
  if (isTransientDatabaseError(error) || (typeof code === 'string' && CONNECTION_LOST.has(code))) {
    return new AppError(ErrorCode.DATABASE_UNAVAILABLE, `the usage database did not take the call (${code})`, { retryable: true });
  }
  return error;
}

/** Records one gateway call; a failure is thrown as the domain error it means. */
export async function recordCall(recorder: Pick<UsageRecorderService, 'record'>, call: InferenceCall, lingerMs = 0): ReturnType<UsageRecorderService['record']> {
  try {
    return await recorder.record(call, lingerMs);
  } catch (error) {
    throw recordingFailure(error);
  }
}
