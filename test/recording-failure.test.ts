import { AppError, badUserInput, conflict, isRetryable } from '../src/errors/app-error';
import { ErrorCode } from '../src/errors/error-code';
import { recordCall } from '../src/modules/usage/ledger/recording-failure';
import type { InferenceCall } from '../src/modules/usage/usage-recorder.service';
import { InferencePath, KeySource } from '../src/modules/usage/usage.enums';
import { ModelTier } from '../src/modules/workspace/workspace.enums';

/**
 * Whether the ledger replays a call it could not record reads the error's `retryable` flag alone
 * (SPEC.md: "the decision is never made on an error's class"). The recorder's own refusals carry
 * `false`; a driver's failure that a later attempt may not meet is turned into a retryable
 * DATABASE_UNAVAILABLE where the ledger calls the recorder.
 */
const call: InferenceCall = {
  requestId: 'req-1',
  workspaceId: 'ws-1',
  path: InferencePath.AGENT_RUN,
  model: 'm',
  tier: ModelTier.BALANCED,
  keySource: KeySource.PLATFORM,
  inputTokens: 1,
  outputTokens: 1,
  rawCostMicros: null,
  occurredAt: new Date(),
  actorUserId: null,
};

function failingWith(error: unknown) {
  return { record: () => Promise.reject(error) };
}

async function failureOf(error: unknown): Promise<unknown> {
  return recordCall(failingWith(error), call).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
}

describe('recording failures as domain errors', () => {
  it.each([
    ['a lost MariaDB connection', Object.assign(new Error('Connection lost'), { code: 'PROTOCOL_CONNECTION_LOST' })],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a deadlock reported by TypeORM', Object.assign(new Error('query failed'), { driverError: { code: 'ER_LOCK_DEADLOCK' } })],
    ['SQLite busy', Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })],
  ])('%s is DATABASE_UNAVAILABLE, retryable', async (_name, error) => {
    const thrown = await failureOf(error);
    expect(thrown).toBeInstanceOf(AppError);
    expect({ code: (thrown as AppError).code, retryable: isRetryable(thrown) }).toEqual({ code: ErrorCode.DATABASE_UNAVAILABLE, retryable: true });
  });

  it.each([
    ['a refusal of the call', badUserInput('outputTokens may be at most 20000000 per call')],
    ['a conflicting duplicate', conflict('requestId already recorded with other values')],
    ['an unknown failure', new Error('a usage record was neither inserted nor found under its request id')],
  ])('%s is thrown as it is, not retryable', async (_name, error) => {
    const thrown = await failureOf(error);
    expect(thrown).toBe(error);
    expect(isRetryable(thrown)).toBe(false);
  });

  it('a domain error marked retryable is replayed by its flag, whatever its code', () => {
    expect(isRetryable(new AppError(ErrorCode.UPSTREAM_UNREACHABLE, 'x', { retryable: true }))).toBe(true);
    expect(isRetryable(new AppError(ErrorCode.UPSTREAM_UNREACHABLE, 'x'))).toBe(false);
  });
});
