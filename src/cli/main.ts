/** The charrnn command line: yargs in strict mode, one file per subcommand, errors as one line on stderr. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CharrnnError, EXIT } from '../errors.js';
import { evalCommand } from './eval.js';
import { infoCommand } from './info.js';
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

/** Edit distance, for "did you mean" on misspelled flags. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The part of a yargs instance that lists its options (present at run time, missing from @types/yargs). */
interface OptionSource {
  getOptions(): { key: Record<string, unknown> };
}

/** Adds the closest known flag to yargs' "Unknown argument: x" (it suggests only commands). */
function withSuggestion(message: string, instance: OptionSource): string {
  const unknown = /^Unknown arguments?: (.+)$/.exec(message)?.[1]?.split(', ')[0];
  if (!unknown) return message;
  const known = Object.keys(instance.getOptions().key).filter((key) => key.length > 1 && !/[A-Z]/.test(key));
  const [best] = known.map((key) => ({ key, cost: distance(unknown, key) })).sort((x, y) => x.cost - y.cost);
  return best && best.cost <= Math.max(2, Math.floor(unknown.length / 3)) ? `${message} (did you mean --${best.key}?)` : message;
}

/** Flags whose text values may start with '-' (a delimiter of '---', a prime of '- item'). */
const TEXT_FLAGS = new Set(['--prime', '-p', '--stop', '--delimiter']);

/**
 * Prepares argv for yargs-parser, which reads a lone '-' as an empty flag (so stdin travels under a
 * placeholder name) and a value starting with '-' as another flag (so text flags are joined with '=').
 */
function normalizeArgs(raw: string[]): string[] {
  const args: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const arg = raw[i]!;
    if (arg === '--') {
      args.push(...raw.slice(i));
      break;
    }
    if (TEXT_FLAGS.has(arg) && i + 1 < raw.length) args.push(`${arg}=${raw[++i]}`);
    else args.push(arg === '-' ? STDIN_PLACEHOLDER : arg);
  }
  return args;
}

/** Turns yargs' bare "Did you mean x?" for a mistyped command into a sentence that names it. */
function explainCommand(message: string, args: string[]): string {
  const suggestion = /^Did you mean (.+)\?$/.exec(message)?.[1];
  const typed = args.find((arg) => !arg.startsWith('-'));
  return suggestion && typed ? `Unknown command: ${typed} (did you mean ${suggestion}?)` : message;
}

async function main(): Promise<void> {
  const args = normalizeArgs(hideBin(process.argv));
  const parser = yargs(args)
    .scriptName('charrnn')
    // A repeated flag takes its last value, as in most command lines.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 <command> [options]\n\nCharacter-level RNN/LSTM/GRU language models: train on any text, sample, resume.')
    .command(trainCommand)
    .command(sampleCommand)
    .command(resumeCommand)
    .command(evalCommand)
    .command(infoCommand)
    .completion('completion', 'Print a bash/zsh completion script (charrnn completion >> ~/.bashrc)')
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No progress or messages on stderr (errors still shown)' })
    .option('color', { type: 'boolean', default: true, describe: 'Colour and progress bars on a terminal (--no-color turns them off)' })
    .demandCommand(1, 'name a command: train, sample, resume, eval or info (charrnn --help lists them)')
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
      // The options in force are the failing command's: yargs rebuilds them on this instance per command.
      throw new CharrnnError(`${withSuggestion(explainCommand(message, args), parser as unknown as OptionSource)}; see charrnn --help`, EXIT.usage);
    });
  await parser.parseAsync();
}

main().catch(reportError);
