/** The charrnn command line: parse the words against the commands' flag tables, run, errors as one line on stderr. */
import { CharrnnError, EXIT } from '../errors.js';
import { COMPLETIONS_FLAG, completions, parseCommandLine } from './flags.js';
import { PROGRAM } from './program.js';
import { errorLine } from './terminal.js';

declare const CHARRNN_VERSION: string;

function reportError(error: unknown): void {
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
  const words = process.argv.slice(2);
  if (words[0] === COMPLETIONS_FLAG) {
    process.stdout.write(
      completions(words.slice(1), PROGRAM)
        .map((candidate) => `${candidate}\n`)
        .join(''),
    );
    return;
  }
  const parsed = parseCommandLine(words, PROGRAM);
  if (parsed.action === 'run') await parsed.command.handler(parsed.args as never);
  else process.stdout.write(`${parsed.action === 'help' ? parsed.text : CHARRNN_VERSION}\n`);
}

main().catch(reportError);
