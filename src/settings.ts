/**
 * A setting is declared once: its library name, its command-line flag, what values it takes, its
 * default and its help. The library checks option objects against these rows and the CLI parses
 * flags with them, so both accept the same values and say the same thing about a bad one, each in
 * its own names (`options.cell` in the library, `--model` on the command line).
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
  /** A command-line word as a value; undefined when it is not one. */
  fromText(text: string): T | undefined;
  /** Whether a library value is one. */
  accepts(value: unknown): value is T;
}

/** The largest count any setting takes: a typo of 1e12 iterations is caught, a real run never reaches it. */
export const MAX_COUNT = 1e9;

function numberFromText(text: string): number | undefined {
  if (text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
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
    fromText: (text) => {
      const value = numberFromText(text);
      return accepts(value) ? value : undefined;
    },
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
    fromText: (text) => (accepts(text) ? text : undefined),
  };
}

/** Free text, which may start with a dash (a delimiter of '---', a prime of '- item') or be empty. */
export const TEXT: ValueKind<string> = {
  type: 'text',
  expected: 'text',
  accepts: (value): value is string => typeof value === 'string',
  fromText: (text) => text,
};

/** A file path ('-' where the setting reads stdin): never empty. */
export const PATH: ValueKind<string> = {
  type: 'path',
  expected: 'a file path',
  accepts: (value): value is string => typeof value === 'string' && value !== '',
  fromText: (text) => (text === '' ? undefined : text),
};

/** On or off: on the command line `--json` and `--no-json`. */
export const BOOLEAN: ValueKind<boolean> = {
  type: 'boolean',
  expected: 'true or false',
  accepts: (value): value is boolean => typeof value === 'boolean',
  fromText: (text) => (text === 'true' ? true : text === 'false' ? false : undefined),
};

/** A random seed: what the generator takes (sample's --seed and train's --seed alike). */
export const SEED = wholeNumber(0, 0xffffffff);

/** A value as it would be typed back: strings quoted when empty or spaced, so the reader sees them. */
function shownValue(value: unknown): string {
  if (typeof value !== 'string') return String(value);
  return value === '' || /\s/.test(value) ? JSON.stringify(value) : value;
}

/** The one form of every bad-value message, in the library and on the command line. */
export function invalidValue(name: string, value: unknown, kind: ValueKind<unknown>): CharrnnError {
  return new CharrnnError(`${name} ${shownValue(value)} is invalid: expected ${kind.expected}`, EXIT.usage);
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
