/**
 * The library's edge: options are checked there once, against the table, before any file is read; a
 * preset is merged there; errors name options as the caller does (the CLI passes its flags); and the
 * source keeps the house rule (no upward import, no circle).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { flagName } from '../src/cli/train.js';
import { corpusFromText, resumeTraining, trainModel, type TrainOptions } from '../src/index.js';
import { usageRejection } from './helpers/rejection.js';

const ROOT = resolve(import.meta.dirname, '..');
const TEXT = 'the quick brown fox jumps over the lazy dog. '.repeat(40);
/** A run of two tiny iterations that saves only at its end. */
const QUICK: Partial<TrainOptions> = {
  hidden: 8,
  layers: 1,
  batch: 2,
  seqLength: 8,
  iterations: 2,
  evalEvery: 0,
  saveEvery: 0,
  lrSchedule: 'constant',
};

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-edge-'));
  writeFileSync(join(dir, 'fox.txt'), TEXT);
});

/** The message of the usage error a promise rejects with. */
const rejection = async (promise: Promise<unknown>) => (await usageRejection(promise)).message;

const trainingOptions = (path: string) => JSON.parse(readFileSync(path, 'utf8')).training.options;

describe('trainModel given a corpus path', () => {
  it('checks the options before it reads the corpus', async () => {
    const missing = join(dir, 'no-such-corpus.txt');
    expect(await rejection(trainModel(missing, { hidden: 0 }))).toBe(
      'options.hidden 0 is invalid: expected a whole number from 1 to 8192',
    );
    expect(await rejection(trainModel(missing, {}, { threads: 0 }))).toBe(
      'control.threads 0 is invalid: expected a whole number from 1 to 256',
    );
  });

  it('reads it and records it as the run corpus', async () => {
    const output = join(dir, 'from-path.json');
    const summary = await trainModel(join(dir, 'fox.txt'), QUICK, { output, threads: 1 });
    expect(summary.iterations).toBe(2);
    expect(JSON.parse(readFileSync(output, 'utf8')).training.corpus.path).toBe(join(dir, 'fox.txt'));
  });
});

describe('a preset in trainModel', () => {
  it('starts from the recipe; options given win', async () => {
    const output = join(dir, 'preset.json');
    await trainModel(corpusFromText(TEXT), { ...QUICK, preset: 'min-char-rnn', batch: 3 }, { output, threads: 1 });
    expect(trainingOptions(output)).toMatchObject({ cell: 'rnn', optimizer: 'adagrad', init: 'min-char-rnn' });
    expect(trainingOptions(output)).toMatchObject({ hidden: 8, batch: 3, seqLength: 8 });
    expect(trainingOptions(output)).not.toHaveProperty('preset');
  });

  it('is checked like any option', async () => {
    expect(await rejection(trainModel(corpusFromText(TEXT), { preset: 'tiny' as never }))).toBe(
      'options.preset tiny is invalid: expected one of min-char-rnn',
    );
    expect(
      await rejection(trainModel(corpusFromText(TEXT), { preset: 'tiny' as never }, { optionName: flagName })),
    ).toBe('--preset tiny is invalid: expected one of min-char-rnn');
  });
});

describe('errors name options as the caller does', () => {
  it('a caller naming options by flag gets them so named, text where a number belongs quoted', async () => {
    const text = corpusFromText(TEXT);
    const named = { optionName: flagName };
    expect(await rejection(trainModel(text, { learningRate: 'abc' as never }, named))).toBe(
      '--lr "abc" is invalid: expected a positive number',
    );
    expect(await rejection(trainModel(text, {}, { ...named, timeLimitSeconds: 'soon' as never }))).toBe(
      '--time "soon" is invalid: expected a number of seconds > 0',
    );
    expect(await rejection(trainModel(text, { extendVocab: true }, named))).toBe(
      '--extend-vocab only applies with --init-from',
    );
  });

  it('resumeTraining names them the same way', async () => {
    const resume = (options: object) => resumeTraining('/nonexistent/run.json', { ...options, optionName: flagName });
    expect(await rejection(resume({ iterations: -5 }))).toBe(
      '--iters -5 is invalid: expected a whole number ≥ 0 (0 = no limit)',
    );
    expect(await rejection(resume({ threads: 0 }))).toBe(
      '--threads 0 is invalid: expected a whole number from 1 to 256',
    );
  });
});

describe('the house', () => {
  it('has no import running up from one part to another, and no circle', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-imports.mjs')], { encoding: 'utf8' });
    expect(result.stdout).toMatch(/no upward arrow, no circle\n$/);
    expect(result.status).toBe(0);
  });

  it('names the chain by which the browser entry would reach a Node built-in', () => {
    const copy = join(mkdtempSync(join(tmpdir(), 'charrnn-src-')), 'src');
    cpSync(join(ROOT, 'src'), copy, { recursive: true });
    appendFileSync(join(copy, 'web', 'url-settings.ts'), "export { readCorpus } from '../train/corpus.js';\n");
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-imports.mjs'), copy], {
      encoding: 'utf8',
    });
    expect(result.stdout).toContain(
      'browser: web/url-settings.ts → train/corpus.ts imports node:path, which no browser has\n',
    );
    expect(result.status).toBe(1);
  });
});
