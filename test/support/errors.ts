import { AppError } from '../../src/errors/app-error';
import type { GraphQLResult } from './test-app';

/**
 * Asserts a GraphQL answer failed with `code`. A failing case that answers INTERNAL_SERVER_ERROR is
 * a bug even when the request was wrong, so that is ruled out explicitly.
 */
export function expectGraphQLError(result: GraphQLResult, code: string): void {
  const codes = (result.errors ?? []).map((error) => error.extensions?.code);
  expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
  expect(codes).toContain(code);
}

/** Runs `work`, which must throw a client-visible AppError with `code`; returns it for more checks. */
export function appErrorFrom(work: () => unknown, code: string): AppError {
  let thrown: unknown;
  try {
    work();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(AppError);
  const appError = thrown as AppError;
  expect(appError.code).not.toBe('INTERNAL_SERVER_ERROR');
  expect(appError.code).toBe(code);
  return appError;
}
