import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.js';
import { sampleFlagOf } from '../src/cli/sample.js';
import { probabilities, sampleIndex } from '../src/core/sampling.js';
import { CharrnnError } from '../src/errors.js';
import { LoadedModel, validateSampleOptions, type SampleOptions } from '../src/index.js';

const logits = Float32Array.from([1.0, 2.0, 0.5, 2.0, -1.0]);

describe('sampling', () => {
  it('argmax and temperature 0 take the most likely (lowest index on ties) and use no randomness', () => {
    const rng = new Rng(1);
    const before = JSON.stringify(rng.state());
    expect(sampleIndex(logits, { temperature: 1, argmax: true }, rng)).toBe(1);
    expect(sampleIndex(logits, { temperature: 0 }, rng)).toBe(1);
    expect(JSON.stringify(rng.state())).toBe(before);
  });

  it('is deterministic for a seed', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 50 }, () => sampleIndex(logits, { temperature: 1 }, rng));
    };
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
  });

  it('draws with the softmax frequencies', () => {
    const rng = new Rng(9);
    const counts = new Array(logits.length).fill(0);
    const n = 100_000;
    for (let i = 0; i < n; i++) counts[sampleIndex(logits, { temperature: 1 }, rng)]++;
    const expected = probabilities(logits, { temperature: 1 }, new Float64Array(logits.length));
    let chiSquare = 0;
    for (let i = 0; i < logits.length; i++) chiSquare += (counts[i] - n * expected[i]!) ** 2 / (n * expected[i]!);
    // 4 degrees of freedom: p = 0.001 at 18.5.
    expect(chiSquare).toBeLessThan(18.5);
  });

  it('sharpens with low temperature and flattens with high', () => {
    const cold = probabilities(logits, { temperature: 0.2 }, new Float64Array(5));
    const warm = probabilities(logits, { temperature: 5 }, new Float64Array(5));
    expect(cold[4]!).toBeLessThan(warm[4]!);
    expect(cold[1]! + cold[3]!).toBeGreaterThan(0.99);
  });

  it('top-k keeps the k most likely, ties to the lower index', () => {
    const probs = probabilities(logits, { temperature: 1, topK: 1 }, new Float64Array(5));
    expect(Array.from(probs)).toEqual([0, 1, 0, 0, 0]);
    const two = probabilities(logits, { temperature: 1, topK: 2 }, new Float64Array(5));
    expect(two[1]).toBeCloseTo(0.5, 12);
    expect(two[3]).toBeCloseTo(0.5, 12);
    expect(two[0]! + two[2]! + two[4]!).toBe(0);
  });

  it('top-p keeps the smallest set reaching p', () => {
    const tiny = probabilities(logits, { temperature: 1, topP: 1e-6 }, new Float64Array(5));
    expect(Array.from(tiny)).toEqual([0, 1, 0, 0, 0]);
    const full = probabilities(logits, { temperature: 1 }, new Float64Array(5));
    const nucleus = probabilities(logits, { temperature: 1, topP: full[1]! + full[3]! + 1e-9 }, new Float64Array(5));
    expect(nucleus[0]).toBeGreaterThan(0);
    expect(nucleus[2]! + nucleus[4]!).toBe(0);
  });

  it('rejects invalid options, named as the caller names them', () => {
    expect(() => validateSampleOptions({ temperature: -1 })).toThrow(/^temperature -1 is invalid/);
    expect(() => validateSampleOptions({ temperature: NaN })).toThrow(/^temperature NaN is invalid/);
    expect(() => validateSampleOptions({ topK: 0 })).toThrow(/^topK 0 is invalid/);
    expect(() => validateSampleOptions({ topK: 1.5 })).toThrow(/^topK 1\.5 is invalid/);
    expect(() => validateSampleOptions({ topP: 0 })).toThrow(/^topP 0 is invalid/);
    expect(() => validateSampleOptions({ topP: 1.5 })).toThrow(/^topP 1\.5 is invalid/);
    expect(() => validateSampleOptions({ temperature: -1 }, sampleFlagOf)).toThrow(/^--temp -1 is invalid/);
    expect(() => validateSampleOptions({ topP: 1.5 }, sampleFlagOf)).toThrow(/^--top-p 1\.5 is invalid/);
    expect(() => validateSampleOptions({ temperature: 0.8, topK: 5, topP: 0.9 })).not.toThrow();
  });
});

const FIXTURE = resolve(import.meta.dirname, 'fixtures', 'checkpoints-v1', 'main-lstm-adam.json');
const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');

function usageError(action: () => unknown): CharrnnError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(CharrnnError);
    expect((error as CharrnnError).exitCode).toBe(2);
    return error as CharrnnError;
  }
  throw new Error('expected a CharrnnError');
}

describe('library sampling options', async () => {
  const model = await LoadedModel.load(FIXTURE, 'js');

  it('default the temperature to 1 and the length to 1000, as the CLI does', () => {
    expect(model.sample({ length: 30, seed: 5 })).toBe(model.sample({ length: 30, seed: 5, temperature: 1 }));
    expect([...model.sample({ seed: 5 })]).toHaveLength(1000);
  });

  it.each<[string, SampleOptions, RegExp]>([
    ['a negative length', { length: -1 }, /^length -1 is invalid: expected a whole number ≥ 0 \(0 = endless\)$/],
    ['a fractional length', { length: 2.5 }, /^length 2\.5 is invalid/],
    [
      'a negative temperature',
      { length: 5, temperature: -0.5 },
      /^temperature -0\.5 is invalid: expected a number ≥ 0/,
    ],
    ['a temperature as text', { length: 5, temperature: '0.5' as unknown as number }, /^temperature "0\.5" is invalid/],
    ['a zero topK', { length: 5, topK: 0 }, /^topK 0 is invalid: expected a whole number ≥ 1$/],
    ['a topP above 1', { length: 5, topP: 1.5 }, /^topP 1\.5 is invalid: expected a probability in \(0, 1\]$/],
    ['a negative seed', { length: 5, seed: -1 }, /^seed -1 is invalid: expected a whole number from 0 to 4294967295$/],
    ['a seed of 2^32', { length: 5, seed: 2 ** 32 }, /^seed 4294967296 is invalid/],
    ['an empty stop', { length: 5, stop: '' }, /^stop "" is invalid: expected a non-empty string$/],
    [
      'argmax as text',
      { length: 5, argmax: 'yes' as unknown as boolean },
      /^argmax "yes" is invalid: expected true or false$/,
    ],
    [
      'a misspelled option',
      { length: 5, temp: 0.5 } as SampleOptions,
      /^temp is not a setting \(did you mean temperature\?\)$/,
    ],
    [
      'a prime the model never saw',
      { length: 5, prime: 'xyz' },
      /^prime has characters the model never saw: "x", "y", "z"/,
    ],
    [
      'a stop text the model cannot write',
      { length: 5, stop: 'Q!' },
      /^stop has characters the model never saw: "Q", "!", so it could never be generated/,
    ],
  ])("refuse %s in the library's own words", (_, options, message) => {
    for (const call of [() => model.sample(options), () => model.generate(options), () => model.stream(options)]) {
      const error = usageError(call);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain('--');
    }
  });

  it('check before the first character is asked for, so an endless stream with an impossible stop never starts', () => {
    expect(() => model.generate({ length: 0, stop: 'Q' })).toThrow(/stop has characters the model never saw: "Q"/);
    expect(() => model.stream({ length: 0, stop: 'Q' })).toThrow(/stop has characters/);
  });

  it('name CLI flags when the CLI asks', () => {
    expect(() => validateSampleOptions({ length: 5, temperature: -1 }, sampleFlagOf)).toThrow(/^--temp -1 is invalid/);
    expect(() => model.checkSampleOptions({ length: 0, stop: 'Q' }, sampleFlagOf)).toThrow(
      /^--stop has characters the model never saw: "Q"/,
    );
  });

  it('through the binary: an impossible --stop is one line naming the flag, not a hang', () => {
    const result = spawnSync(process.execPath, [BIN, 'sample', '-c', FIXTURE, '--json', '-l', '0', '--stop', 'Q'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stderr).toBe(
      'charrnn: --stop has characters the model never saw: "Q", so it could never be generated; the vocabulary is listed by: charrnn info CHECKPOINT\n',
    );
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
  });
});

describe('the interactive state: reset, feed, probabilities', async () => {
  const model = await LoadedModel.load(FIXTURE, 'js');
  const idOf = (char: string) => model.vocab.idOf(char.codePointAt(0)!);
  const shape = { temperature: 0.7, topK: 3 };

  it('gives the distribution the first character of a sample is drawn from, without a prime and after one', () => {
    model.reset();
    const start = model.probabilities(shape);
    const [first] = [...model.generate({ ...shape, length: 1, seed: 5 })];
    expect(start[idOf(first!.char)]).toBe(first!.probability);
    expect(start.filter((p) => p > 0)).toHaveLength(3);
    expect(start.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 12);
    model.reset('the ');
    model.feed('cat');
    const [next] = [...model.generate({ ...shape, length: 1, seed: 5, prime: 'the cat' })];
    expect(model.probabilities(shape)[idOf(next!.char)]).toBe(next!.probability);
  });

  it('moves on with each feed, whatever generate() does meanwhile, and starts again at reset()', () => {
    model.reset();
    const start = model.probabilities();
    model.feed('mat');
    model.feed('s');
    const fedInParts = model.probabilities();
    model.sample({ length: 20, seed: 1, prime: 'a' });
    expect(model.probabilities()).toEqual(fedInParts);
    model.reset();
    model.feed('mats');
    expect(model.probabilities()).toEqual(fedInParts);
    expect(fedInParts).not.toEqual(start);
    model.reset();
    expect(model.probabilities()).toEqual(start);
    expect(Array.from(model.probabilities({ argmax: true })).filter((p) => p === 1)).toHaveLength(1);
  });

  it('refuses characters the model never saw, and options that do not shape a distribution', () => {
    expect(usageError(() => model.feed('Qa')).message).toMatch(/^the text fed has characters the model never saw: "Q"/);
    expect(usageError(() => model.probabilities({ length: 5 } as never)).message).toBe('length is not a setting');
    expect(usageError(() => model.probabilities({ temperature: -1 })).message).toMatch(/^temperature -1 is invalid/);
  });
});
