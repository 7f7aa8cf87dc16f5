/** The charrnn command line: yargs in strict mode, one file per subcommand, errors as one line on stderr. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CharrnnError, EXIT } from '../errors.js';
import { isShardWorker, runShardWorker } from '../train/shard-worker.js';
import { evalCommand } from './eval.js';
import { resumeCommand } from './resume.js';
import { sampleCommand } from './sample.js';
import { STDIN_PLACEHOLDER } from './terminal.js';
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
  process.stderr.write(`charrnn: internal error: ${err?.message ?? String(error)} (this is a bug; rerun with CHARRNN_DEBUG=1 for details)\n`);
  if (process.env.CHARRNN_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  process.exitCode = EXIT.runtime;
}

async function main(): Promise<void> {
  // yargs-parser reads a lone '-' as an empty flag, so stdin travels under a placeholder name.
  const args = hideBin(process.argv).map((arg) => (arg === '-' ? STDIN_PLACEHOLDER : arg));
  const parser = yargs(args)
    .scriptName('charrnn')
    // A repeated flag takes its last value, as in most command lines.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 <command> [options]\n\nCharacter-level RNN/LSTM/GRU language models: train on any text, sample, resume.')
    .command(trainCommand)
    .command(sampleCommand)
    .command(resumeCommand)
    .command(evalCommand)
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No progress or messages on stderr (errors still shown)' })
    .option('color', { type: 'boolean', default: true, describe: 'Colour and progress bars on a terminal (--no-color turns them off)' })
    .demandCommand(1, 'name a command: train, sample, resume or eval (charrnn --help lists them)')
    .recommendCommands()
    .strict()
    .version(CHARRNN_VERSION)
    .help()
    .alias('help', 'h')
    .alias('version', 'V')
    .wrap(Math.min(110, process.stderr.columns ?? 100))
    .epilogue('Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted (143 on SIGTERM).\nDocs: README.md')
    .fail((message, error) => {
      if (error) throw error;
      throw new CharrnnError(`${message}; see charrnn --help`, EXIT.usage);
    });
  await parser.parseAsync();
}

// The bundle also serves as the training worker threads' script.
if (isShardWorker()) runShardWorker();
else main().catch(reportError);
