/**
 * The command line, parsed and documented by yargs from the commands' flag tables. Each value is turned
 * into its setting's type here and checked once: by the library where the flag sets one of its settings,
 * else here against the flag's kind; either way a bad one gets the table's one-line message, in the
 * words that were typed. Rules users rely on:
 * a flag that takes a value takes the next word, whatever it starts with (`--temp -1`, `--delimiter ---`);
 * '-' is an ordinary argument (stdin); after `--` every word is an argument; a repeated flag keeps its
 * last value; an unknown flag is answered with the closest flag of its command.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs, { type Argv, type Options } from 'yargs';
import { CharrnnError, EXIT } from '../errors.js';
import {
  BOOLEAN,
  closestName,
  InvalidValueError,
  settingsOf,
  type Setting,
  type SettingValues,
  type ValueKind,
} from '../settings.js';

export interface Flag<T = unknown> {
  /** The long name, without dashes: `--name`; a boolean also takes `--no-name`. */
  readonly name: string;
  /** One letter: `-a`. */
  readonly alias?: string;
  readonly kind: ValueKind<T>;
  /** Filled in when the flag is not given. */
  readonly default?: T;
  /** The default as help shows it, where none is filled in or the value would not say it. */
  readonly defaultText?: string;
  readonly help: string;
  /** The heading help lists it under ("Model and optimizer:"); the command's options by default. */
  readonly group?: string;
  /** Whether the flag sets a library setting, which the library checks (flagOf): the CLI only converts it. */
  readonly checkedByLibrary?: boolean;
}

export interface Command<Args> {
  /** The name and its required arguments: 'eval <corpus>'. */
  readonly command: string;
  readonly describe: string;
  /** Help for each argument named in `command`. */
  readonly positionals?: Readonly<Record<string, string>>;
  readonly flags: readonly Flag[];
  readonly examples?: readonly (readonly [string, string])[];
  /** A hint for a flag this command does not take (resume explains why a train-only flag is missing). */
  readonly unknownFlagHint?: (flag: string) => string | undefined;
  handler(args: Args): Promise<void> | void;
}

export interface Program {
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly Command<never>[];
  readonly epilogue: string;
}

const GLOBAL_GROUP = 'Global options:';

/** Flags every command takes. */
const GLOBAL_FLAGS: readonly Flag[] = [
  {
    name: 'quiet',
    alias: 'q',
    kind: BOOLEAN,
    default: false,
    help: 'No progress or messages on stderr (errors still shown)',
  },
  { name: 'color', kind: BOOLEAN, default: true, help: 'Colour and a progress bar on a terminal (--no-color: never)' },
  { name: 'help', alias: 'h', kind: BOOLEAN, default: false, help: 'Show this help' },
  { name: 'version', alias: 'V', kind: BOOLEAN, default: false, help: 'Show the version' },
].map((flag) => ({ ...flag, group: GLOBAL_GROUP }));

/**
 * The flag of a library setting, checked by the library: its default is shown in help, not filled in
 * (the library fills it in, or a preset does).
 */
export function flagOf(setting: Setting<unknown>, group?: string): Flag {
  if (setting.flag === null) throw new Error('a library-only setting has no flag');
  const shownDefault = setting.default === undefined || setting.kind.type === 'boolean' ? undefined : setting.default;
  const defaultText = setting.defaultText ?? (shownDefault === undefined ? undefined : String(shownDefault));
  const { alias, kind, help } = setting;
  return { name: setting.flag, alias, kind, defaultText, help, group, checkedByLibrary: true };
}

/** The flags of a table's settings (those that have one), under `group`. */
export const flagsOf = (table: Record<string, Setting<unknown>>, group?: string): Flag[] =>
  settingsOf(table).flatMap(([, setting]) => (setting.flag === null ? [] : [flagOf(setting, group)]));

/**
 * The settings of `table` given as flags in `args` (parsed by flag name), by their library names, for
 * the library to check.
 */
export function settingsFromArgs<Table extends Record<string, Setting<unknown>>>(
  table: Table,
  args: Record<string, unknown>,
): Partial<SettingValues<Table>> {
  const values: Record<string, unknown> = {};
  for (const [key, setting] of settingsOf(table)) {
    if (setting.flag !== null && args[setting.flag] !== undefined) values[key] = args[setting.flag];
  }
  return values as Partial<SettingValues<Table>>;
}

/** A flag's value as it was typed: the spelling of the flag and the word given. */
interface TypedValue {
  readonly spelling: string;
  readonly text: string;
}

export type ParsedCommandLine =
  | {
      readonly action: 'run';
      readonly command: Command<never>;
      readonly args: Record<string, unknown>;
      /** Runs the command; a bad value the library refuses is said again in the words that were typed. */
      readonly run: () => Promise<void>;
    }
  /** Help, the version, a completion script or completions: text for stdout. */
  | { readonly action: 'print'; readonly text: string };

const nameOf = (command: Command<never>): string => command.command.split(' ')[0]!;
const positionalNames = (command: Command<never>): string[] =>
  [...command.command.matchAll(/<([^>]+)>/g)].map((match) => match[1]!);

function usageError(message: string, command?: Command<never>): CharrnnError {
  return new CharrnnError(`${message}; see charrnn ${command ? `${nameOf(command)} ` : ''}--help`, EXIT.usage);
}

/** Flags by every spelling that reaches them: '--name' and '-a'. */
function spellings(flags: readonly Flag[]): Map<string, Flag> {
  const bySpelling = new Map<string, Flag>();
  for (const flag of flags) {
    bySpelling.set(`--${flag.name}`, flag);
    if (flag.alias) bySpelling.set(`-${flag.alias}`, flag);
  }
  return bySpelling;
}

/** yargs suggests commands only; a flag is matched against the flags of its own command. */
function unknownFlag(spelling: string, known: Map<string, Flag>, command?: Command<never>): CharrnnError {
  const long = [...known.keys()].filter((name) => name.startsWith('--'));
  const near = closestName(spelling, long);
  const hint = command?.unknownFlagHint?.(spelling) ?? (near ? `did you mean ${near}?` : undefined);
  return usageError(`unknown flag ${spelling}${hint ? ` (${hint})` : ''}`, command);
}

/** Marks an argument yargs-parser would misread (see bindFlagValues); removed once yargs has bound it. */
const ARGUMENT_MARK = '\u0000';
const markArgument = (word: string): string => (word.startsWith('-') ? `${ARGUMENT_MARK}${word}` : word);
const unmarkArgument = (value: unknown): unknown =>
  typeof value === 'string' && value.startsWith(ARGUMENT_MARK) ? value.slice(1) : value;

/** A command line as yargs is given it, and what was learnt on the way. */
interface BoundLine {
  readonly words: string[];
  command?: Command<never>;
  /** How each flag given was typed, by name, so that messages name it as the user wrote it. */
  readonly spelled: Map<string, string>;
  /** The value of each flag the library checks, as typed, by name. */
  readonly typed: Map<string, TypedValue>;
  help: boolean;
  version: boolean;
}

/**
 * The pre-pass before yargs. yargs-parser takes a value that starts with a dash for a flag or drops it
 * (`--temp -1`, `--delimiter ---`, `-c -`: yargs-parser#142, yargs#198), reads a '-' argument as ''
 * (yargs-parser#186), and does not give words after `--` to a command's arguments (yargs#2423). So each
 * value is bound to its flag as `--flag=value`, which yargs-parser reads verbatim, and arguments that
 * start with a dash are marked until yargs has bound them. Knowing the command's flags here, an unknown
 * one is refused with the closest flag of that command, and a value missing before the next flag is named.
 */
function bindFlagValues(words: readonly string[], program: Program): BoundLine {
  const line: BoundLine = { words: [], spelled: new Map(), typed: new Map(), help: false, version: false };
  let known = spellings(GLOBAL_FLAGS);
  let argumentSeen = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') {
      line.words.push(...words.slice(i + 1).map(markArgument));
      break;
    }
    if (word === '-' || !word.startsWith('-')) {
      if (!argumentSeen) {
        argumentSeen = true;
        line.command = program.commands.find((candidate) => nameOf(candidate) === word);
        // An unknown command goes to yargs as typed, which refuses it and suggests the closest.
        if (!line.command) return { ...line, words: [...line.words, ...words.slice(i)] };
        known = spellings([...line.command.flags, ...GLOBAL_FLAGS]);
        // The command's name is not passed on: yargs runs it as its default command (commandParser).
        continue;
      }
      line.words.push(markArgument(word));
      continue;
    }
    i = bindFlag(words, i, known, line);
  }
  return line;
}

/** The flag at words[i] and its value, as one word for yargs; returns the index of the last word used. */
function bindFlag(words: readonly string[], i: number, known: Map<string, Flag>, line: BoundLine): number {
  const word = words[i]!;
  const equals = word.startsWith('--') ? word.indexOf('=') : -1;
  const spelling = equals > 0 ? word.slice(0, equals) : word;
  const inline = equals > 0 ? word.slice(equals + 1) : undefined;
  const negated = spelling.startsWith('--no-') ? known.get(`--${spelling.slice(5)}`) : undefined;
  const flag = known.get(spelling) ?? (negated?.kind.type === 'boolean' ? negated : undefined);
  if (!flag) throw unknownFlag(spelling, known, line.command);
  line.spelled.set(flag.name, spelling);
  if (flag.kind.type === 'boolean') {
    if (inline !== undefined && !flag.kind.accepts(flag.kind.parse(inline)))
      throw InvalidValueError.typed(spelling, inline, flag.kind);
    const on = flag !== negated && inline !== 'false';
    if (flag.name === 'help') line.help = on;
    else if (flag.name === 'version') line.version = on;
    else line.words.push(word);
    return i;
  }
  if (inline !== undefined) {
    line.words.push(`--${flag.name}=${inline}`);
    return i;
  }
  const next = words[i + 1];
  // A missing value must not swallow the next flag, except as text, which may be anything.
  if (next === undefined || (flag.kind.type !== 'text' && known.has(next))) {
    throw usageError(`${spelling} needs a value (${flag.kind.expected})`, line.command);
  }
  line.words.push(`--${flag.name}=${next}`);
  return i + 1;
}

/**
 * How yargs declares and documents a flag. Values other than switches are left as typed (no yargs type),
 * so that the table, not yargs, converts and judges them; yargs lists the default and the choices. To
 * run a command, yargs is told only what parsing needs, the flag hidden: yargs renders the whole help
 * after every command it parses (usage.cacheHelpMessage), shown or not, a cost at every start-up.
 */
function yargsOption(flag: Flag, documented: boolean): Options {
  const isSwitch = flag.kind.type === 'boolean';
  const parsing: Options = {
    alias: flag.alias,
    type: isSwitch ? 'boolean' : undefined,
    default: isSwitch ? flag.default : undefined,
  };
  if (!documented) return { ...parsing, hidden: true };
  const shown = flag.defaultText ?? (flag.default === undefined || isSwitch ? undefined : String(flag.default));
  return {
    ...parsing,
    describe: flag.help,
    group: flag.group ?? 'Options:',
    defaultDescription: shown,
    choices: flag.kind.choices as string[] | undefined,
  };
}

/**
 * Every flag the command takes, converted to its setting's type, the defaults filled in. A flag the
 * library checks is left to it, its typed words kept for the message; the CLI's own flags are checked
 * here, naming the flag as it was typed.
 */
function convertValues(argv: Record<string, unknown>, command: Command<never>, line: BoundLine): void {
  for (const name of positionalNames(command)) argv[name] = unmarkArgument(argv[name]);
  for (const flag of command.flags) {
    const text = argv[flag.name];
    if (text === undefined) {
      if (flag.default !== undefined) argv[flag.name] = flag.default;
      continue;
    }
    if (flag.kind.type === 'boolean') continue;
    const spelling = line.spelled.get(flag.name) ?? `--${flag.name}`;
    const value = flag.kind.parse(String(text));
    if (flag.checkedByLibrary) line.typed.set(flag.name, { spelling, text: String(text) });
    else if (!flag.kind.accepts(value)) throw InvalidValueError.typed(spelling, String(text), flag.kind);
    argv[flag.name] = value;
  }
}

/** A bad value the library refused (named by flag, or by the setting a flag shares a name with), as typed. */
function retyped(error: unknown, line: BoundLine): unknown {
  if (!(error instanceof InvalidValueError)) return error;
  const typed = line.typed.get(error.option.replace(/^-+/, ''));
  return typed ? InvalidValueError.typed(typed.spelling, typed.text, error.kind) : error;
}

/** Where the CLI bundle lies: the directory yargs is given as its working one. */
const CLI_DIRECTORY = dirname(fileURLToPath(import.meta.url));

/** Help is wrapped to the terminal, at most 100 columns; 80 off a terminal. */
const helpWidth = (): number => Math.min(100, process.stdout.columns ?? 80);

/** What every parser shares: the words as yargs-parser reads them, strict, and one line for a failure. */
function baseParser(program: Program, words: readonly string[], command?: Command<never>): Argv {
  // yargs' own default is process.cwd(), which throws where the working directory was deleted; it uses
  // the directory only to look for a package.json, and charrnn gives its version itself.
  const parser = yargs([...words], CLI_DIRECTORY)
    .scriptName(program.name)
    // English, without reading LANG or locale files (the bundle has none).
    .locale('en')
    .parserConfiguration({
      'duplicate-arguments-array': false,
      'camel-case-expansion': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'strip-aliased': true,
    })
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      if (error instanceof CharrnnError) throw error;
      const text = (message ?? error?.message ?? 'bad command line').replaceAll(ARGUMENT_MARK, '');
      throw usageError(text.replace(/\s*\n\s*/g, ' '), command);
    });
  return parser;
}

/** The positionals and flags of `command` declared to a yargs command builder. */
function declareCommand(builder: Argv, command: Command<never>, documented: boolean): Argv {
  for (const name of positionalNames(command))
    builder.positional(name, { describe: command.positionals?.[name], type: 'string' });
  for (const flag of command.flags) builder.option(flag.name, yargsOption(flag, documented));
  return builder;
}

/**
 * yargs as help, completion and an unknown command see it: every command, every flag documented, the
 * global flags listed after each command's own. The commands have no yargs handler: charrnn runs them.
 */
function programParser(program: Program, version: string, words: readonly string[]): Argv {
  const names = [...program.commands.map(nameOf), 'completion'];
  const parser = baseParser(program, words)
    .usage(`${program.name} <command> [options]\n\n${program.summary}`)
    .epilogue(program.epilogue)
    .wrap(helpWidth())
    .recommendCommands()
    .demandCommand(1, `name a command: ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`)
    .completion('completion', 'Print a bash/zsh completion script (charrnn completion >> ~/.bashrc)')
    .help('help', 'Show this help')
    .alias('help', 'h')
    .version('version', 'Show the version', version)
    .alias('version', 'V');
  for (const flag of GLOBAL_FLAGS)
    if (flag.name !== 'help' && flag.name !== 'version')
      parser.option(flag.name, { ...yargsOption(flag, true), global: true });
  const globalGroup = (builder: Argv) =>
    builder.group(
      GLOBAL_FLAGS.map((flag) => flag.name),
      GLOBAL_GROUP,
    );
  globalGroup(parser);
  for (const command of program.commands) {
    parser.command(command.command, command.describe, (builder) => {
      declareCommand(builder, command, true);
      // Full width, what it does as a shell comment above it: two columns would cut the command lines apart.
      for (const [example, what] of command.examples ?? []) builder.example(`# ${what}\n${example}`, '');
      return globalGroup(builder);
    });
  }
  return parser;
}

/**
 * yargs as a command run sees it: the command the pre-pass found, alone, as yargs' default command
 * (its name already taken from the words), told only what parsing needs; then the values are converted
 * (convertValues). Help and version were answered before. A named command would cost every start-up a
 * rendering of the whole help that nobody sees (yargs caches it after parsing one: usage.cacheHelpMessage).
 */
function commandParser(program: Program, line: BoundLine & { command: Command<never> }): Argv {
  const { command } = line;
  const parser = baseParser(program, line.words, command).help(false).version(false);
  for (const flag of GLOBAL_FLAGS)
    if (flag.name !== 'help' && flag.name !== 'version') parser.option(flag.name, yargsOption(flag, false));
  const usage = command.command.replace(/^\S+/, '$0');
  return parser.command(usage, command.describe, (builder) =>
    declareCommand(builder, command, false).middleware((argv) => convertValues(argv, command, line), true),
  );
}

/**
 * The hidden flag the completion script calls with the words typed so far. yargs' own name, which the
 * scripts earlier versions installed in people's shell start-up files also call.
 */
const COMPLETIONS_FLAG = '--get-yargs-completions';

/** Parses `words`; yargs' output (completions, a completion script) comes back rather than being printed. */
async function parseQuietly(parser: Argv, words: readonly string[]) {
  let printed = '';
  const argv = await parser.parse([...words], {}, (_error, _argv, output) => {
    printed ||= output;
  });
  return {
    argv: argv as Record<string, unknown>,
    printed: printed === '' || printed.endsWith('\n') ? printed : `${printed}\n`,
  };
}

/** Reads the words after `charrnn`: what to print, or the command to run with its arguments, checked and converted. */
export async function parseCommandLine(
  words: readonly string[],
  program: Program,
  version = '',
): Promise<ParsedCommandLine> {
  // Candidates for the last word typed: commands, the command's flags, or a choice flag's values.
  if (words[0] === COMPLETIONS_FLAG)
    return { action: 'print', text: (await parseQuietly(programParser(program, version, []), words)).printed };
  const line = bindFlagValues(words, program);
  if (line.help) {
    const helpWords = line.command ? [nameOf(line.command)] : [];
    return { action: 'print', text: `${await programParser(program, version, helpWords).getHelp()}\n` };
  }
  if (line.version) return { action: 'print', text: `${version}\n` };
  const { command } = line;
  // No command found: yargs writes what it was asked for (a completion script) or refuses the word.
  if (!command)
    return { action: 'print', text: (await parseQuietly(programParser(program, version, []), line.words)).printed };
  const { argv } = await parseQuietly(commandParser(program, { ...line, command }), line.words);
  const run = async () => {
    try {
      await command.handler(argv as never);
    } catch (error) {
      throw retyped(error, line);
    }
  };
  return { action: 'run', command, args: argv, run };
}
