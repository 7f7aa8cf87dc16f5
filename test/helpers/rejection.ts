import { expect } from 'vitest';
import { CharrnnError } from '../../src/errors.js';

/** The CharrnnError a promise rejects with, checked to be a usage error (exit code 2). */
export async function usageRejection(promise: Promise<unknown>): Promise<CharrnnError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CharrnnError);
  expect((error as CharrnnError).exitCode).toBe(2);
  return error as CharrnnError;
}
