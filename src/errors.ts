/**
 * A problem the user can fix: bad input, a bad checkpoint, an impossible option. The CLI prints its
 * message as one line on stderr (no stack trace) and exits with `exitCode`.
 */
export class CharrnnError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CharrnnError';
    this.exitCode = exitCode;
  }
}

/** Exit codes, documented in --help and the README. */
export const EXIT = { ok: 0, runtime: 1, usage: 2, hungUp: 129, interrupted: 130, terminated: 143 } as const;
