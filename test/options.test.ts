/**
 * The option table: the library checks options as the CLI checks flags (each in its own names), the
 * derived defaults, types and resume overrides follow the table, and presets stay valid.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { CellType } from '../src/core/config.js';
import type { OptimizerKind } from '../src/core/optim.js';
import { corpusFromText, resumeTraining, trainModel, type ResumeOptions } from '../src/index.js';
import {
  DEFAULT_TRAIN_OPTIONS,
  PRESETS,
  RESUMABLE_OPTIONS,
  RUN_SETTINGS,
  TRAIN_OPTIONS,
  type ResumableOptions,
  type TrainOptions,
} from '../src/train/options.js';
import { checkSettings, settingsOf } from '../src/settings.js';
import { usageRejection } from './helpers/rejection.js';

const corpus = corpusFromText('the quick brown fox jumps over the lazy dog. '.repeat(40), 'fox.txt');

describe('the library checks its options', () => {
  it.each([
    [
      'an unknown cell',
      { cell: 'transformer' },
      /^options\.cell transformer is invalid: expected one of rnn, lstm, gru$/,
    ],
    [
      'an unknown optimizer',
      { optimizer: 'lion' },
      /^options\.optimizer lion is invalid: expected one of sgd, adagrad, rmsprop, adam$/,
    ],
    [
      'a fractional hidden size',
      { hidden: 12.5 },
      /^options\.hidden 12\.5 is invalid: expected a whole number from 1 to 8192$/,
    ],
    [
      'a string for a number',
      { layers: '2' },
      /^options\.layers "2" is invalid: expected a whole number from 1 to 16$/,
    ],
    ['NaN', { learningRate: NaN }, /^options\.learningRate NaN is invalid: expected a positive number$/],
    ['a misspelled name', { hiden: 8 }, /^options\.hiden is not a setting \(did you mean options\.hidden\?\)$/],
  ])('refuses %s in trainModel', async (_, options, message) => {
    expect((await usageRejection(trainModel(corpus, options as Partial<TrainOptions>))).message).toMatch(message);
  });

  it.each([
    [
      'an unknown kernel',
      { kernel: 'cuda' },
      /^control\.kernel cuda is invalid: expected one of auto, js, wasm, native$/,
    ],
    [
      'a negative time limit',
      { timeLimitSeconds: -1 },
      /^control\.timeLimitSeconds -1 is invalid: expected a number of seconds > 0$/,
    ],
    ['no threads', { threads: 0 }, /^control\.threads 0 is invalid: expected a whole number from 1 to 256$/],
    ['an empty output path', { output: '' }, /^control\.output "" is invalid: expected a file path$/],
  ])('refuses %s in trainModel control', async (_, control, message) => {
    expect((await usageRejection(trainModel(corpus, {}, control as never))).message).toMatch(message);
  });

  it('refuses, in resumeTraining, options that would change the weights and bad stopping points', async () => {
    const resume = (options: Record<string, unknown>) =>
      usageRejection(resumeTraining('/nonexistent/run.json', options as ResumeOptions));
    expect((await resume({ hidden: 64 })).message).toMatch(
      /^options\.hidden cannot change on resume: it would change the weights/,
    );
    expect((await resume({ iterations: -5 })).message).toMatch(
      /^options\.iterations -5 is invalid: expected a whole number ≥ 0 \(0 = no limit\)$/,
    );
    expect((await resume({ timeLimitSeconds: -1 })).message).toMatch(/^options\.timeLimitSeconds -1 is invalid/);
    expect((await resume({ iters: 5 })).message).toMatch(
      /^options\.iters is not a setting \(did you mean options\.iterations\?\)$/,
    );
  });

  it('names an option as the caller does', () => {
    const fromFile = (option: string) => `run.json: training.options.${option}`;
    expect(() => checkSettings(TRAIN_OPTIONS, { ...DEFAULT_TRAIN_OPTIONS, batch: 0 }, fromFile)).toThrow(
      /^run\.json: training\.options\.batch 0 is invalid: expected a whole number from 1 to 10000$/,
    );
  });
});

describe('the table', () => {
  it('accepts its own defaults and presets', () => {
    const check = (options: object) => checkSettings(TRAIN_OPTIONS, options, (option) => `options.${option}`);
    expect(() => check(DEFAULT_TRAIN_OPTIONS)).not.toThrow();
    for (const preset of Object.values(PRESETS))
      expect(() => check({ ...DEFAULT_TRAIN_OPTIONS, ...preset })).not.toThrow();
    for (const [, setting] of settingsOf(RUN_SETTINGS)) {
      if (setting.default !== undefined) expect(setting.kind.accepts(setting.default)).toBe(true);
    }
  });

  it('gives every flag one name and one letter at most, shared by no other setting', () => {
    const rows = [...settingsOf(TRAIN_OPTIONS), ...settingsOf(RUN_SETTINGS)].map(([, setting]) => setting);
    const flags = rows.flatMap((setting) =>
      setting.flag === null ? [] : [setting.flag, ...(setting.alias ? [setting.alias] : [])],
    );
    expect(new Set(flags).size).toBe(flags.length);
    for (const setting of rows) if (setting.alias) expect(setting.alias).toHaveLength(1);
  });

  it('lets resume change only the stopping points, validation size and reporting', () => {
    expect(Object.keys(RESUMABLE_OPTIONS).sort()).toEqual([
      'epochs',
      'evalEvery',
      'iterations',
      'sampleEvery',
      'saveEvery',
      'valChars',
    ]);
    expectTypeOf<keyof ResumableOptions>().toEqualTypeOf<
      'epochs' | 'evalEvery' | 'iterations' | 'sampleEvery' | 'saveEvery' | 'valChars'
    >();
  });

  it('derives precise option types', () => {
    expectTypeOf<TrainOptions['cell']>().toEqualTypeOf<CellType>();
    expectTypeOf<TrainOptions['optimizer']>().toEqualTypeOf<OptimizerKind>();
    expectTypeOf<TrainOptions['encoding']>().toEqualTypeOf<'utf8' | 'latin1'>();
    expectTypeOf<TrainOptions['hidden']>().toEqualTypeOf<number>();
    expect(DEFAULT_TRAIN_OPTIONS.valChars).toBe(100_000);
  });
});

describe('learning-rate schedule options', () => {
  it('a decay given without a schedule asks for the step schedule; presets and explicit choices win', async () => {
    const { resolveTrainOptions } = await import('../src/train/options.js');
    expect(resolveTrainOptions({}).lrSchedule).toBe('cosine');
    expect(resolveTrainOptions({ lrDecay: 0.5 }).lrSchedule).toBe('step');
    expect(resolveTrainOptions({ lrDecayEvery: 3 }).lrSchedule).toBe('step');
    expect(resolveTrainOptions({ lrDecay: 0.5, lrSchedule: 'constant' }).lrSchedule).toBe('constant');
    expect(resolveTrainOptions({}, 'min-char-rnn').lrSchedule).toBe('constant');
  });
});
