/** The charrnn command line: one file per subcommand, parsed from their flag tables, errors as one line on stderr. */
import { CharrnnError, EXIT } from '../errors.js';
import { isShardWorker, runShardWorker } from '../train/shard-worker.js';
import { evalCommand } from './eval.js';
import { COMPLETIONS_FLAG, completions, completionScript, parseCommandLine, type Command, type Program } from './flags.js';
import { infoCommand } from './info.js';
import { resumeCommand } from './resume.js';
import { sampleCommand } from './sample.js';
import { trainCommand } from './train.js';

declare const CHARRNN_VERSION: string;

function reportError(error: unknown): void {
  if (error instanceof CharrnnError) {
    process.stderr.write(`charrnn: ${error.message}\n`);
    process.exitCode = error.exitCode;
    return;
  }
  const err = error as NodeJS.ErrnoException;
  // Unexpected errors still get one line; CHARRNN_DEBUG=1 shows the stack for bug reports.
  const message = err?.message ?? String(error);
  process.stderr.write(`charrnn: internal error: ${message} (this is a bug; rerun with CHARRNN_DEBUG=1 for details)\n`);
  if (process.env.CHARRNN_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  process.exitCode = EXIT.runtime;
}

const completionCommand: Command<Record<string, never>> = {
  command: 'completion',
  describe: 'Print a bash/zsh completion script (charrnn completion >> ~/.bashrc)',
  flags: [],
  handler: () => {
    process.stdout.write(completionScript('charrnn'));
  },
};

const program: Program = {
  name: 'charrnn',
  summary: 'Character-level RNN/LSTM/GRU language models: train on any text, sample, resume.',
  version: CHARRNN_VERSION,
  commands: [trainCommand, sampleCommand, resumeCommand, evalCommand, infoCommand, completionCommand],
  epilogue: 'Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted (143 on SIGTERM).\nDocs: README.md',
};

async function main(): Promise<void> {
  const words = process.argv.slice(2);
  if (words[0] === COMPLETIONS_FLAG) {
    process.stdout.write(completions(words.slice(1), program).map((candidate) => `${candidate}\n`).join(''));
    return;
  }
  const parsed = parseCommandLine(words, program);
  if (parsed.action === 'run') await parsed.command.handler(parsed.args as never);
  else process.stdout.write(`${parsed.text}\n`);
}

// The bundle also serves as the training worker threads' script.
if (isShardWorker()) runShardWorker();
else main().catch(reportError);
