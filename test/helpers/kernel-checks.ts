/** What the kernel tests share: seeded random buffers, and a comparison with the reference. */
import { expect } from 'vitest';
import type { Kernels } from '../../src/core/kernels.js';

/** A seeded generator of uniform values in [−1, 1) (a linear congruential one: fast, and enough here). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  };
}

/** `length` values of next()·scale in the backend's memory, starting `offset` floats into a fresh buffer. */
export function filled(kernels: Kernels, length: number, next: () => number, scale = 1, offset = 0): Float32Array {
  const values = kernels.alloc(length + offset).subarray(offset);
  for (let i = 0; i < length; i++) values[i] = next() * scale;
  return values;
}

/** Each element within tolerance(expected value) of the reference's; throws naming the first that is not. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: (value: number) => number,
  what: string,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance(expected[i]!)))
      throw new Error(`${what}[${i}]: ${actual[i]} vs reference ${expected[i]}`);
  }
}
