import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.js';
import { probabilities, sampleIndex, validateSamplingOptions } from '../src/core/sampling.js';

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

  it('rejects invalid options naming the flag', () => {
    expect(() => validateSamplingOptions({ temperature: -1 })).toThrow(/--temp/);
    expect(() => validateSamplingOptions({ temperature: NaN })).toThrow(/--temp/);
    expect(() => validateSamplingOptions({ temperature: 1, topK: 0 })).toThrow(/--top-k/);
    expect(() => validateSamplingOptions({ temperature: 1, topK: 1.5 })).toThrow(/--top-k/);
    expect(() => validateSamplingOptions({ temperature: 1, topP: 0 })).toThrow(/--top-p/);
    expect(() => validateSamplingOptions({ temperature: 1, topP: 1.5 })).toThrow(/--top-p/);
    expect(() => validateSamplingOptions({ temperature: 0.8, topK: 5, topP: 0.9 })).not.toThrow();
  });
});
