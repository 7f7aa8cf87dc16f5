/**
 * A setting is declared once: its library name, its command-line flag, what values it takes, its
 * default and its help. The CLI turns a flag's words into a value with its kind (`parse`); the library
 * checks every value against the rows once (`checkSettings`), so both say the same thing about a bad
 * one, each in its own names (`options.cell` in the library, `--model` on the command line).
 */
import { CharrnnError, EXIT } from './errors.js';

/** What values a setting takes; `T` is the value's type in the library. */
export interface ValueKind<T> {
  readonly type: 'integer' | 'number' | 'choice' | 'text' | 'path' | 'boolean';
  /** A valid value in words, for messages and help: "a whole number from 1 to 8192". */
  readonly expected: string;
  /** Inclusive bounds of a number (open where `minOpen`/`maxOpen`); the tests try values beyond them. */
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly T[];
  /**
   * A command-line word as the library's type, unchecked: a number's text as a number, other text as
   * it is. A word that is not of the type stays the word, for the check to refuse as typed.
   */
  parse(text: string): unknown;
  /** Whether a library value is one. */
  accepts(value: unknown): value is T;
}

/** One setting, as every table declares it (training's rows add what resume needs: train/options.ts). */
export interface Setting<T> {
  readonly kind: ValueKind<T>;
  readonly default: T;
  /** Long command-line flag without the dashes; null for a setting only the library (or a preset) sets. */
  readonly flag: string | null;
  readonly alias?: string;
  readonly help: string;
  /** The default as help shows it, where the value itself would not say it ("none", "one per core"). */
  readonly defaultText?: string;
}

/** A row whose value type comes from its kind alone (so a default of 'lstm' does not widen it to string). */
export function setting<T>(row: Omit<Setting<T>, 'default'> & { default: NoInfer<T> }): Setting<T> {
  return row;
}

type ValueOf<Row> = Row extends Setting<infer T> ? T : never;
/** The values a table of settings declares, by library name. */
export type SettingValues<Table> = { -readonly [K in keyof Table]: ValueOf<Table[K]> };

/** The rows of a table with their names, in declaration order. */
export function settingsOf<Table extends Record<string, Setting<unknown>>>(
  table: Table,
): [keyof Table & string, Table[keyof Table & string]][] {
  return Object.entries(table) as [keyof Table & string, Table[keyof Table & string]][];
}

export function defaultsOf<Table extends Record<string, Setting<unknown>>>(table: Table): SettingValues<Table> {
  return Object.fromEntries(settingsOf(table).map(([key, row]) => [key, row.default])) as SettingValues<Table>;
}

/** Settings given as undefined count as not given. */
export function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** What a setting is called where its value came from: the library's own name, or a CLI flag. */
export type OptionNamer<Name extends string> = (option: Name) => string;

/** The largest count any setting takes: a typo of 1e12 iterations is caught, a real run never reaches it. */
export const MAX_COUNT = 1e9;

/** A number's text as the number; anything else (blank, 'abc') as the text. */
function numberFromText(text: string): number | string {
  const value = Number(text);
  return text.trim() === '' || Number.isNaN(value) ? text : value;
}

function numberKind(
  type: 'integer' | 'number',
  expected: string,
  inRange: (value: number) => boolean,
  min: number,
  max: number,
): ValueKind<number> {
  const accepts = (value: unknown): value is number =>
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (type === 'number' || Number.isInteger(value)) &&
    inRange(value);
  return {
    type,
    expected,
    min,
    max,
    accepts,
    parse: numberFromText,
  };
}

/** A whole number in [min, max]; `note` explains a special value ("0 = no limit"). */
export function wholeNumber(min: number, max: number, note?: string): ValueKind<number> {
  const range = max === MAX_COUNT ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
  return numberKind('integer', note ? `${range} (${note})` : range, (value) => value >= min && value <= max, min, max);
}

/** A finite number between bounds, each open or closed; `expected` says it in the setting's own words. */
export function realNumber(
  bounds: { min: number; max?: number; minOpen?: boolean; maxOpen?: boolean },
  expected: string,
): ValueKind<number> {
  const { min, max = Infinity, minOpen = false, maxOpen = false } = bounds;
  const inRange = (value: number) => (minOpen ? value > min : value >= min) && (maxOpen ? value < max : value <= max);
  return numberKind('number', expected, inRange, min, max);
}

export function choice<T extends string>(choices: readonly T[]): ValueKind<T> {
  const accepts = (value: unknown): value is T =>
    typeof value === 'string' && (choices as readonly string[]).includes(value);
  return {
    type: 'choice',
    expected: `one of ${choices.join(', ')}`,
    choices,
    accepts,
    parse: (text) => text,
  };
}

/** Free text, which may start with a dash (a delimiter of '---', a prime of '- item') or be empty. */
export const TEXT: ValueKind<string> = {
  type: 'text',
  expected: 'text',
  accepts: (value): value is string => typeof value === 'string',
  parse: (text) => text,
};

/** Text that must say something: a stop string. */
export const NONEMPTY_TEXT: ValueKind<string> = {
  type: 'text',
  expected: 'a non-empty string',
  accepts: (value): value is string => typeof value === 'string' && value !== '',
  parse: (text) => text,
};

/** A file path ('-' where the setting reads stdin): never empty. */
export const PATH: ValueKind<string> = {
  type: 'path',
  expected: 'a file path',
  accepts: (value): value is string => typeof value === 'string' && value !== '',
  parse: (text) => text,
};

/** On or off: on the command line `--json` and `--no-json`. */
export const BOOLEAN: ValueKind<boolean> = {
  type: 'boolean',
  expected: 'true or false',
  accepts: (value): value is boolean => typeof value === 'boolean',
  parse: (text) => (text === 'true' ? true : text === 'false' ? false : text),
};

/** A random seed: what the generator takes (sample's --seed and train's --seed alike). */
export const SEED = wholeNumber(0, 0xffffffff);

/** A word as it was typed: quoted when empty or spaced, so the reader sees it. */
const typedWord = (text: string): string => (text === '' || /\s/.test(text) ? JSON.stringify(text) : text);

/** A library value as a message shows it: a string where a number or switch belongs is quoted ("0.5"). */
function shownValue(value: unknown, kind: ValueKind<unknown>): string {
  if (typeof value !== 'string') return String(value);
  return kind.type === 'text' || kind.type === 'path' || kind.type === 'choice'
    ? typedWord(value)
    : JSON.stringify(value);
}

/**
 * The one form of every bad-value message, in the library and on the command line. It keeps what it
 * names, so that the CLI can say it again in the words that were typed (`-o`, `1e9`).
 */
export class InvalidValueError extends CharrnnError {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly kind: ValueKind<unknown>,
    shown = shownValue(value, kind),
  ) {
    super(`${option} ${shown} is invalid: expected ${kind.expected}`, EXIT.usage);
    this.name = 'InvalidValueError';
  }

  /** The error for a command-line word, shown as it was typed. */
  static typed(spelling: string, text: string, kind: ValueKind<unknown>): InvalidValueError {
    return new InvalidValueError(spelling, text, kind, typedWord(text));
  }
}

/**
 * Checks the settings present in `values` against `table`, naming each as `nameOf` says, and refuses
 * names the table does not have (a misspelling from JavaScript, which the type checker cannot catch).
 * Undefined counts as not given.
 */
export function checkSettings<Name extends string>(
  table: Record<Name, Setting<unknown>>,
  values: object,
  nameOf: OptionNamer<NoInfer<Name>>,
): void {
  // An unknown key is named too: the message must show what was typed.
  const name = nameOf as (option: string) => string;
  const rows: Record<string, Setting<unknown>> = table;
  for (const [key, value] of Object.entries(values)) {
    const row = rows[key];
    if (!row) {
      // A flag's name used as the option's (iters for iterations) is the likeliest slip.
      const flagNamed = Object.keys(rows).find(
        (option) => rows[option]!.flag?.replace(/-(.)/g, (_, c: string) => c.toUpperCase()) === key,
      );
      const near = flagNamed ?? closestName(key, Object.keys(rows));
      const hint = near ? ` (did you mean ${name(near)}?)` : '';
      throw new CharrnnError(`${name(key)} is not a setting${hint}`, EXIT.usage);
    }
    if (value !== undefined && !row.kind.accepts(value)) throw new InvalidValueError(name(key), value, row.kind);
  }
}

/** How the CLI names a table's settings: by their flags (a library-only one by its own name). */
export function flagNamer<Table extends Record<string, Setting<unknown>>>(
  table: Table,
): OptionNamer<keyof Table & string> {
  return (option) => {
    const flag = table[option]?.flag;
    return flag ? `--${flag}` : option;
  };
}

/** Edit distance, for "did you mean" on misspelled names. */
function editDistance(a: string, b: string): number {
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

/** The known name closest to a misspelled or shortened one, when it is close enough to be what was meant. */
export function closestName(typed: string, known: Iterable<string>): string | undefined {
  let best: { name: string; cost: number } | undefined;
  for (const name of known) {
    // A name that begins with what was typed (iters → iterations) counts as one edit away.
    const cost = name.startsWith(typed) && typed.replace(/^-+/, '').length >= 3 ? 1 : editDistance(typed, name);
    if (!best || cost < best.cost) best = { name, cost };
  }
  return best && best.cost <= Math.max(2, Math.floor(typed.length / 3)) ? best.name : undefined;
}
