import type { GraphQLResult } from './test-app';

/**
 * Asserts that a request failed with exactly `code`, and, whatever the code, that it was not an
 * internal error: a refusal the service meant to make is never a crash.
 */
export function expectErrorCode(result: GraphQLResult, code: string): void {
  const codes = (result.errors ?? []).map((error) => error.extensions?.code);
  expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
  expect(codes).toEqual([code]);
}

/** Asserts success and returns the data, so a failure shows the server's answer rather than `undefined`. */
export function expectData<T>(result: GraphQLResult<T>): T {
  expect({ errors: result.errors, status: result.status }).toEqual({ errors: undefined, status: 200 });
  expect(result.data).toBeTruthy();
  return result.data as T;
}
