import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.js';

describe('Rng (xoshiro128** seeded by splitmix32)', () => {
  it('matches an independent implementation', () => {
    // From a separate Python implementation of splitmix32 + xoshiro128**.
    const expected: Record<number, number[]> = {
      1: [2442144158, 3238099751, 3819917871, 2104621829, 2021136066],
      42: [2837322924, 544945897, 479756282, 3500138142, 339756180],
    };
    for (const [seed, words] of Object.entries(expected)) {
      const rng = new Rng(Number(seed));
      expect(words.map(() => rng.nextUint32())).toEqual(words);
    }
  });

  it('continues identically after a state round trip through JSON', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 10; i++) rng.nextFloat();
    const copy = Rng.fromState(JSON.parse(JSON.stringify(rng.state())));
    const a = Array.from({ length: 100 }, () => rng.nextFloat());
    const b = Array.from({ length: 100 }, () => copy.nextFloat());
    expect(b).toEqual(a);
  });

  it('refuses a malformed state', () => {
    expect(() => Rng.fromState({ algorithm: 'xoshiro128**', s: [1, 2, 3] })).toThrow(/malformed/);
    expect(() => Rng.fromState({ algorithm: 'mt19937', s: [1, 2, 3, 4] })).toThrow(/malformed/);
    expect(() => Rng.fromState({ algorithm: 'xoshiro128**', s: [0, 0, 0, 0] })).toThrow(/malformed/);
    expect(() => Rng.fromState(null)).toThrow(/malformed/);
  });

  it('draws floats in [0, 1) with the moments of a uniform, and normals with mean 0 and variance 1', () => {
    const rng = new Rng(123);
    const n = 200_000;
    let sum = 0;
    let sumSquares = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.nextFloat();
      if (!(x >= 0 && x < 1)) throw new Error(`nextFloat gave ${x}`);
      sum += x;
      sumSquares += x * x;
    }
    expect(sum / n).toBeCloseTo(0.5, 2);
    expect(sumSquares / n - (sum / n) ** 2).toBeCloseTo(1 / 12, 2);
    let normalSum = 0;
    let normalSquares = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      normalSum += z;
      normalSquares += z * z;
    }
    expect(normalSum / n).toBeCloseTo(0, 1);
    expect(normalSquares / n).toBeCloseTo(1, 1);
  });

  it('gives different streams for different seeds', () => {
    expect(new Rng(1).nextUint32()).not.toBe(new Rng(2).nextUint32());
  });
});
