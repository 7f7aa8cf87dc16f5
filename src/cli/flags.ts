/**
 * The command-line parser, driven by the flag tables of the commands: it reads the words, checks each
 * value against its flag's kind, writes help and shell completions, and suggests the flag or command
 * meant by a misspelled one. Rules: a flag that takes a value takes the next word, whatever it starts
 * with (`--temp -1`, `--delimiter ---`); '-' is an ordinary argument (stdin); after `--` every word is
 * an argument; a repeated flag keeps its last value.
 */
import { CharrnnError, EXIT } from '../errors.js';
import { BOOLEAN, closestName, invalidValue, type ValueKind } from '../settings.js';
import { settingsOf, type SettingRow, type SettingValues } from '../train/options.js';

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

/** Flags every command takes. */
const GLOBAL_FLAGS: readonly Flag[] = [
  {
    name: 'quiet',
    alias: 'q',
    kind: BOOLEAN,
    default: false,
    help: 'No progress or messages on stderr (errors still shown)',
  },
  { name: 'color', kind: BOOLEAN, default: true, help: 'No colour or progress bar, even on a terminal' },
  { name: 'help', alias: 'h', kind: BOOLEAN, default: false, help: 'Show this help' },
  { name: 'version', alias: 'V', kind: BOOLEAN, default: false, help: 'Show the version' },
];

/** The flag of a setting row (its library default shown in help, not filled in: a preset may fill it). */
export function flagOf(setting: SettingRow<unknown>): Flag {
  if (setting.flag === null) throw new Error('a library-only setting has no flag');
  const shownDefault = setting.default === undefined || setting.kind.type === 'boolean' ? undefined : setting.default;
  const defaultText = setting.defaultText ?? (shownDefault === undefined ? undefined : String(shownDefault));
  return { name: setting.flag, alias: setting.alias, kind: setting.kind, defaultText, help: setting.help };
}

/** The settings of `table` given as flags in `args` (parsed by flag name), by their library names. */
export function settingsFromArgs<Table extends Record<string, SettingRow<unknown>>>(
  table: Table,
  args: Record<string, unknown>,
): Partial<SettingValues<Table>> {
  const values: Record<string, unknown> = {};
  for (const [key, setting] of settingsOf(table)) {
    if (setting.flag !== null && args[setting.flag] !== undefined) values[key] = args[setting.flag];
  }
  return values as Partial<SettingValues<Table>>;
}

export type ParsedCommandLine =
  | { readonly action: 'run'; readonly command: Command<never>; readonly args: Record<string, unknown> }
  | { readonly action: 'help'; readonly text: string }
  | { readonly action: 'version' };

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

function unknownFlag(spelling: string, known: Map<string, Flag>, command?: Command<never>): CharrnnError {
  const long = [...known.keys()].filter((name) => name.startsWith('--'));
  const near = closestName(spelling, long);
  const hint = command?.unknownFlagHint?.(spelling) ?? (near ? `did you mean ${near}?` : undefined);
  return usageError(`unknown flag ${spelling}${hint ? ` (${hint})` : ''}`, command);
}

/** A flag as given: how it was spelled, and its text (true/false for a switch without one). */
interface GivenFlag {
  spelling: string;
  text: string | boolean;
}

/** What has been read so far: the command once named, its arguments, and its flags (the last of each). */
interface Reading {
  command?: Command<never>;
  known: Map<string, Flag>;
  positionals: string[];
  given: Map<Flag, GivenFlag>;
}

/** An argument: the command's name first, then the command's own arguments. */
function readArgument(word: string, reading: Reading, program: Program): void {
  if (reading.command) {
    reading.positionals.push(word);
    return;
  }
  reading.command = program.commands.find((candidate) => nameOf(candidate) === word);
  if (!reading.command) {
    const near = closestName(word, program.commands.map(nameOf));
    throw usageError(`unknown command ${word}${near ? ` (did you mean ${near}?)` : ''}`);
  }
  reading.known = spellings([...reading.command.flags, ...GLOBAL_FLAGS]);
}

/**
 * The flag at words[i] with its value (`--name=value`, `--name value`, `-a value`, `--switch`, `--no-switch`);
 * returns the index of the last word it used.
 */
function readFlag(words: readonly string[], i: number, reading: Reading): number {
  const { known, command } = reading;
  const word = words[i]!;
  const equals = word.startsWith('--') ? word.indexOf('=') : -1;
  const spelling = equals > 0 ? word.slice(0, equals) : word;
  const inline = equals > 0 ? word.slice(equals + 1) : undefined;
  const negated = spelling.startsWith('--no-') ? known.get(`--${spelling.slice(5)}`) : undefined;
  const flag = known.get(spelling) ?? (negated?.kind.type === 'boolean' ? negated : undefined);
  if (!flag) throw unknownFlag(spelling, known, command);
  if (flag.kind.type === 'boolean') {
    reading.given.set(flag, { spelling, text: inline ?? flag !== negated });
    return i;
  }
  if (inline !== undefined) {
    reading.given.set(flag, { spelling, text: inline });
    return i;
  }
  const next = words[i + 1];
  // A missing value must not swallow the next flag, except as text, which may be anything.
  if (next === undefined || (flag.kind.type !== 'text' && known.has(next))) {
    throw usageError(`${spelling} needs a value (${flag.kind.expected})`, command);
  }
  reading.given.set(flag, { spelling, text: next });
  return i + 1;
}

/** Reads the words after `charrnn`: the command, its arguments and its flags, checked and converted. */
export function parseCommandLine(words: readonly string[], program: Program): ParsedCommandLine {
  const reading: Reading = { known: spellings(GLOBAL_FLAGS), positionals: [], given: new Map() };
  let onlyArguments = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (onlyArguments || word === '-' || !word.startsWith('-')) readArgument(word, reading, program);
    else if (word === '--') onlyArguments = true;
    else i = readFlag(words, i, reading);
  }
  const { command, given } = reading;
  const switchedOn = (name: string) => [...given].some(([flag, value]) => flag.name === name && value.text === true);
  if (switchedOn('help'))
    return { action: 'help', text: command ? commandHelp(command, program) : programHelp(program) };
  if (switchedOn('version')) return { action: 'version' };
  if (!command) {
    const names = program.commands.map(nameOf);
    throw usageError(`name a command: ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`);
  }
  return { action: 'run', command, args: argsOf(command, reading.positionals, given) };
}

function argsOf(command: Command<never>, positionals: string[], given: Map<Flag, GivenFlag>): Record<string, unknown> {
  const names = positionalNames(command);
  if (positionals.length < names.length) {
    const missing = names[positionals.length]!;
    throw usageError(`${nameOf(command)} needs <${missing}>: ${command.positionals?.[missing] ?? missing}`, command);
  }
  if (positionals.length > names.length) {
    throw usageError(`unexpected argument ${JSON.stringify(positionals[names.length])}`, command);
  }
  const args: Record<string, unknown> = Object.fromEntries(names.map((name, i) => [name, positionals[i]]));
  for (const flag of [...command.flags, ...GLOBAL_FLAGS]) {
    const value = given.get(flag);
    if (value === undefined) {
      if (flag.default !== undefined) args[flag.name] = flag.default;
    } else if (typeof value.text === 'boolean') args[flag.name] = value.text;
    else {
      const converted = flag.kind.fromText(value.text);
      if (converted === undefined) throw invalidValue(value.spelling, value.text, flag.kind);
      args[flag.name] = converted;
    }
  }
  return args;
}

/** How a flag's value is written in help: N, X, FILE, TEXT or its choices. */
function placeholder(kind: ValueKind<unknown>): string {
  switch (kind.type) {
    case 'integer':
      return ' N';
    case 'number':
      return ' X';
    case 'path':
      return ' FILE';
    case 'text':
      return ' TEXT';
    case 'choice':
      return ` ${kind.choices!.join('|')}`;
    case 'boolean':
      return '';
  }
}

/** Two columns, the second wrapped to the terminal's width; a name too long for its column gets its own line. */
function columns(rows: [string, string][]): string[] {
  const width = Math.min(110, process.stdout.columns ?? 100);
  const nameWidth = Math.min(32, Math.max(...rows.map(([name]) => name.length)));
  const textStart = 2 + nameWidth + 2;
  const lines: string[] = [];
  for (const [name, text] of rows) {
    let line = `  ${name.padEnd(nameWidth)}  `;
    if (name.length > nameWidth) {
      lines.push(line.trimEnd());
      line = ' '.repeat(textStart);
    }
    for (const word of text.split(' ')) {
      if (line.length > textStart && line.length + 1 + word.length > width) {
        lines.push(line);
        line = ' '.repeat(textStart);
      }
      line += line.length > textStart ? ` ${word}` : word;
    }
    lines.push(line.trimEnd());
  }
  return lines;
}

function flagRows(flags: readonly Flag[]): [string, string][] {
  return flags.map((flag) => {
    // A switch that is on by default is shown as the way to turn it off.
    const long = flag.kind.type === 'boolean' && flag.default === true ? `no-${flag.name}` : flag.name;
    const name = `${flag.alias ? `-${flag.alias}, ` : ''}--${long}${placeholder(flag.kind)}`;
    const shown =
      flag.defaultText ??
      (flag.default === undefined || flag.kind.type === 'boolean' ? undefined : String(flag.default));
    return [name, shown === undefined ? flag.help : `${flag.help} [default: ${shown}]`];
  });
}

function commandHelp(command: Command<never>, program: Program): string {
  const names = positionalNames(command);
  const lines = [`${program.name} ${command.command} [options]`, '', command.describe];
  if (names.length > 0)
    lines.push('', 'Arguments:', ...columns(names.map((name) => [name, command.positionals?.[name] ?? ''])));
  lines.push(
    '',
    'Options:',
    ...columns(flagRows(command.flags)),
    '',
    'Global options:',
    ...columns(flagRows(GLOBAL_FLAGS)),
  );
  if (command.examples?.length)
    lines.push('', 'Examples:', ...columns(command.examples.map(([example, what]) => [example, what])));
  return lines.join('\n');
}

function programHelp(program: Program): string {
  const lines = [`${program.name} <command> [options]`, '', program.summary, '', 'Commands:'];
  lines.push(...columns(program.commands.map((command) => [`${program.name} ${command.command}`, command.describe])));
  lines.push('', 'Global options:', ...columns(flagRows(GLOBAL_FLAGS)), '', program.epilogue);
  return lines.join('\n');
}

/**
 * The hidden flag the completion script calls with the words typed so far. Its name comes from the
 * scripts earlier versions installed in people's shell start-up files, which keep working.
 */
export const COMPLETIONS_FLAG = '--get-yargs-completions';

/** Candidates for the last of `words` (which start with the program's name): commands, flags or choices. */
export function completions(words: readonly string[], program: Program): string[] {
  const typed = words.slice(1);
  const current = typed[typed.length - 1] ?? '';
  const command = program.commands.find((candidate) => nameOf(candidate) === typed[0]);
  if (!command) return typed.length <= 1 ? program.commands.map(nameOf).filter((name) => name.startsWith(current)) : [];
  const known = spellings([...command.flags, ...GLOBAL_FLAGS]);
  const previous = known.get(typed[typed.length - 2] ?? '');
  if (previous?.kind.type === 'choice')
    return previous.kind.choices!.map(String).filter((name) => name.startsWith(current));
  if (!current.startsWith('-')) return [];
  return [...known.keys()].filter((name) => name.startsWith('--') && name.startsWith(current));
}

/** A completion script for bash and zsh (through zsh's bash compatibility). */
export function completionScript(name: string): string {
  const fn = `_${name}_yargs_completions`;
  return `###-begin-${name}-completions-###
#
# ${name} command completion script for bash and zsh
#
# Installation: ${name} completion >> ~/.bashrc (or ~/.zshrc)
#
if [ -n "$ZSH_VERSION" ]; then autoload -U +X bashcompinit && bashcompinit; fi
${fn}()
{
    local cur_word candidates
    cur_word="\${COMP_WORDS[COMP_CWORD]}"
    candidates=$(${name} ${COMPLETIONS_FLAG} "\${COMP_WORDS[@]:0:COMP_CWORD+1}")
    COMPREPLY=( $(compgen -W "\${candidates}" -- "\${cur_word}") )
    return 0
}
complete -o bashdefault -o default -F ${fn} ${name}
###-end-${name}-completions-###
`;
}
