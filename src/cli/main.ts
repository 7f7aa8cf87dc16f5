/** The charrnn command line: parse the words against the commands' flag tables, run, errors as one line on stderr. */
import { CharrnnError, EXIT } from '../errors.js';
import { parseCommandLine } from './flags.js';
import { PROGRAM } from './program.js';
import { errorLine, StdoutWriter } from './terminal.js';

declare const CHARRNN_VERSION: string;

function reportError(error: unknown): void {
  // A message that cannot be written (stderr full or closed) must not turn the exit code into a crash's.
  process.stderr.on('error', () => {});
  if (error instanceof CharrnnError) {
    errorLine(`charrnn: ${error.message}`);
    process.exitCode = error.exitCode;
    return;
  }
  const err = error as NodeJS.ErrnoException;
  // Unexpected errors still get one line; CHARRNN_DEBUG=1 shows the stack for bug reports.
  errorLine(
    `charrnn: internal error: ${err?.message ?? String(error)} (this is a bug; rerun with CHARRNN_DEBUG=1 for details)`,
  );
  if (process.env.CHARRNN_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  process.exitCode = EXIT.runtime;
}

async function main(): Promise<void> {
  const parsed = await parseCommandLine(process.argv.slice(2), PROGRAM, CHARRNN_VERSION);
  if (parsed.action === 'run') {
    await parsed.run();
    return;
  }
  const stdout = new StdoutWriter();
  await stdout.write(parsed.text);
  stdout.throwIfFailed();
}

main().catch(reportError);
