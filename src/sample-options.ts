/**
 * Every sampling option, declared once: its name in the library (the key), its values, its default, its
 * `charrnn sample` flag and help. LoadedModel checks options against this table and the CLI builds its
 * flags from it.
 */
import { isObject } from './checkpoint/json.js';
import { CharrnnError, EXIT } from './errors.js';
import {
  BOOLEAN,
  checkSettings,
  MAX_COUNT,
  NONEMPTY_TEXT,
  realNumber,
  SEED,
  setting,
  TEXT,
  wholeNumber,
  type OptionNamer,
  type SettingValues,
} from './settings.js';

export const SAMPLE_OPTIONS = {
  length: setting({
    flag: 'length',
    alias: 'l',
    kind: wholeNumber(0, MAX_COUNT, '0 = endless'),
    default: 1000,
    help: 'Characters per sample (0 = endless)',
  }),
  temperature: setting({
    flag: 'temp',
    alias: 't',
    kind: realNumber({ min: 0 }, 'a number ≥ 0 (0 means always the most likely character)'),
    default: 1,
    help: 'Temperature: lower is more conservative (0 = argmax)',
  }),
  topK: setting<number | undefined>({
    flag: 'top-k',
    kind: wholeNumber(1, MAX_COUNT),
    default: undefined,
    help: 'Sample only from the k most likely characters',
  }),
  topP: setting<number | undefined>({
    flag: 'top-p',
    kind: realNumber({ min: 0, max: 1, minOpen: true }, 'a probability in (0, 1]'),
    default: undefined,
    help: 'Nucleus sampling: the most likely characters up to this cumulative probability',
  }),
  argmax: setting({ flag: 'argmax', kind: BOOLEAN, default: false, help: 'Always take the most likely character' }),
  prime: setting<string | undefined>({
    flag: 'prime',
    alias: 'p',
    kind: TEXT,
    default: undefined,
    help: 'Text to start from (printed first)',
  }),
  seed: setting<number | undefined>({
    flag: 'seed',
    kind: SEED,
    default: undefined,
    defaultText: 'random',
    help: 'Random seed',
  }),
  stop: setting<string | undefined>({
    flag: 'stop',
    kind: NONEMPTY_TEXT,
    default: undefined,
    help: "End a sample once this text is generated (e.g. $'\\n\\n' for a blank line)",
  }),
};

/** The options that shape the next character's distribution (probabilities() takes these alone). */
export const DISTRIBUTION_OPTIONS = {
  temperature: SAMPLE_OPTIONS.temperature,
  topK: SAMPLE_OPTIONS.topK,
  topP: SAMPLE_OPTIONS.topP,
  argmax: SAMPLE_OPTIONS.argmax,
};

export type DistributionOptions = Partial<SettingValues<typeof DISTRIBUTION_OPTIONS>>;

/** Sampling options as a caller gives them: any of SAMPLE_OPTIONS; those left out take the table's default. */
export type SampleOptions = Partial<SettingValues<typeof SAMPLE_OPTIONS>>;
export type SampleOptionName = keyof SampleOptions;

/** The library's names for sampling options: their keys. */
export const sampleOptionName: OptionNamer<SampleOptionName> = (option) => option;

/**
 * Checks sampling options against the table, or the part of it that applies (`table`: DISTRIBUTION_OPTIONS for
 * probabilities()), unknown names and bad values alike; a problem is a CharrnnError with exit code 2 naming
 * the option as `nameOf` calls it (the library's names by default).
 */
export function validateSampleOptions(
  options: SampleOptions,
  nameOf: OptionNamer<SampleOptionName> = sampleOptionName,
  table: Partial<typeof SAMPLE_OPTIONS> = SAMPLE_OPTIONS,
): void {
  if (!isObject(options)) {
    throw new CharrnnError(
      `sample options must be an object such as { length: 200 }, not ${String(options)}`,
      EXIT.usage,
    );
  }
  checkSettings(table as typeof SAMPLE_OPTIONS, options, nameOf);
}
