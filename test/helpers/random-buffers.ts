/** Seeded random buffers for the kernel tests. */
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
