/** Learning-rate schedules, and growing a model's vocabulary without changing its predictions. */
import { describe, expect, it } from 'vitest';
import { tensorSpecs, type ModelConfig } from '../src/core/config.js';
import { extendVocabulary } from '../src/core/extend-vocab.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import { Rng } from '../src/core/rng.js';
import { iterationsForTime, learningRateAt, type LrSchedule } from '../src/core/schedule.js';
import type { Checkpoint } from '../src/index.js';
import { LoadedModel } from '../src/index.js';

const BASE: LrSchedule = {
  kind: 'constant',
  baseRate: 1e-2,
  minRate: 1e-4,
  warmup: 0,
  decay: 1,
  decayEvery: 1,
  totalIterations: 0,
};

describe('learning-rate schedules', () => {
  it('constant stays at the base rate', () => {
    expect(learningRateAt(BASE, 0, 0)).toBe(1e-2);
    expect(learningRateAt(BASE, 10_000, 40)).toBe(1e-2);
  });

  it('step decays by epochs exactly as char-rnn does', () => {
    const step = { ...BASE, kind: 'step' as const, decay: 0.5, decayEvery: 2 };
    expect([0, 1, 2, 3, 4].map((epoch) => learningRateAt(step, 0, epoch))).toEqual([1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3]);
  });

  it('cosine runs from the base rate to the floor over the run, then stays there', () => {
    const cosine = { ...BASE, kind: 'cosine' as const, totalIterations: 100 };
    expect(learningRateAt(cosine, 0, 0)).toBeCloseTo(1e-2, 12);
    expect(learningRateAt(cosine, 50, 0)).toBeCloseTo((1e-2 + 1e-4) / 2, 12);
    expect(learningRateAt(cosine, 100, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(cosine, 500, 0)).toBeCloseTo(1e-4, 12);
    const rates = Array.from({ length: 101 }, (_, i) => learningRateAt(cosine, i, 0));
    for (let i = 1; i < rates.length; i++) expect(rates[i]!).toBeLessThanOrEqual(rates[i - 1]!);
  });

  it('warm-up rises linearly into any schedule', () => {
    const warm = { ...BASE, kind: 'cosine' as const, warmup: 9, totalIterations: 109 };
    expect(learningRateAt(warm, 0, 0)).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(warm, 4, 0)).toBeCloseTo(5e-3, 12);
    expect(learningRateAt(warm, 9, 0)).toBeCloseTo(1e-2, 12);
    expect(learningRateAt({ ...BASE, warmup: 4 }, 1, 0)).toBeCloseTo(4e-3, 12);
  });

  it('sizes a time-limited run from the measured speed, a little short', () => {
    expect(iterationsForTime(100, 100, 0.5)).toBe(100 + 194);
    expect(iterationsForTime(0, 0.01, 1)).toBe(1);
  });
});

function randomCheckpoint(config: ModelConfig, symbols: string[]): Checkpoint {
  const rng = new Rng(3);
  const tensors = Object.fromEntries(
    tensorSpecs(config).map(({ name, shape }) => {
      const data = Float32Array.from(
        { length: shape.reduce((a, b) => a * b, 1) },
        () => (rng.nextFloat() * 2 - 1) * 0.8,
      );
      return [name, { shape, data }];
    }),
  );
  return { model: config, vocab: symbols, tensors } as Checkpoint;
}

describe('extendVocabulary', () => {
  const text = 'the whale, the sea; the ship and the sea. '.repeat(4);
  const symbols = [...new Set(text)].sort();

  for (const cell of ['rnn', 'lstm', 'gru'] as const) {
    it(`keeps a ${cell}'s predictions on old text and starts new symbols unlikely`, () => {
      const config: ModelConfig = { cell, layers: 2, hidden: 12, vocab: symbols.length, dropout: 0 };
      const before = randomCheckpoint(config, symbols);
      const plain = Object.fromEntries(Object.entries(before.tensors).map(([name, tensor]) => [name, tensor.data]));
      const grown = extendVocabulary(config, plain, 3, new Rng(9));
      const after: Checkpoint = {
        model: grown.config,
        vocab: [...symbols, 'Q', 'Z', '!'],
        tensors: Object.fromEntries(
          tensorSpecs(grown.config).map(({ name, shape }) => [name, { shape, data: grown.tensors[name]! }]),
        ),
      } as Checkpoint;
      const old = LoadedModel.fromCheckpoint(before, createJsKernels()).evaluate(text);
      const extended = LoadedModel.fromCheckpoint(after, createJsKernels());
      expect(Math.abs(extended.evaluate(text).loss - old.loss)).toBeLessThan(1e-6);
      const generated = [...extended.generate({ length: 400, temperature: 1, seed: 1 })];
      expect(generated.some(({ char }) => 'QZ!'.includes(char))).toBe(false);
      // Inputs were not modified, and old rows and columns were copied unchanged.
      expect(plain['decoder.bias']!.length).toBe(symbols.length);
      expect(grown.tensors['decoder.bias']!.subarray(0, symbols.length)).toEqual(plain['decoder.bias']);
    });
  }
});
