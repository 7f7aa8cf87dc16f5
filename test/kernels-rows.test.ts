/**
 * Row stability of the WebAssembly kernels, which training relies on for weights bit-identical at any
 * thread count: a product's output rows computed in one call equal, bit for bit, the same rows computed
 * in separate calls of any sizes (m = 1 up, each row at any position). Both builds (relaxed-SIMD FMA
 * and plain SIMD).
 */
import { describe, expect, it } from 'vitest';
import type { Kernels } from '../src/core/kernels.js';
import {
  createKernelMemory,
  createWasmKernels,
  wasmSimdSupported,
  type WasmVariant,
} from '../src/core/wasm/kernels-wasm.js';

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32) * 2 - 1;
  };
}

function filled(kernels: Kernels, length: number, next: () => number): Float32Array {
  const values = kernels.alloc(length);
  for (let i = 0; i < length; i++) values[i] = next();
  return values;
}

/** The same bits, element by element (so −0 ≠ 0 and NaNs compare by payload). */
function expectBitwise(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length).toBe(expected.length);
  const [a, e] = [actual, expected].map((x) => new Int32Array(x.buffer, x.byteOffset, x.length));
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) throw new Error(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (not bitwise equal)`);
  }
}

/** Split points [0, …, m]: one row alone at the start and at the end, a cut after 3, pieces of 2 and of 5. */
function splits(m: number): number[][] {
  const pieces = (size: number) => [...Array.from({ length: Math.ceil(m / size) }, (_, i) => i * size), m];
  const all = [[0, 1, m], [0, 3, m], [0, m - 1, m], pieces(2), pieces(5)];
  return all.map((points) => [...new Set(points.filter((p) => p >= 0 && p <= m))].sort((x, y) => x - y));
}

/** Columns [from, to) of a [rows, cols] matrix, as a new contiguous [rows, to − from] one. */
function columns(kernels: Kernels, a: Float32Array, rows: number, cols: number, from: number, to: number) {
  const out = kernels.alloc(rows * (to - from));
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * cols + from, r * cols + to), r * (to - from));
  return out;
}

const ROWS = Array.from({ length: 13 }, (_, i) => i + 1);
const COLUMNS = [8, 13, 65, 128, 512];
const DEPTHS = [1, 37, 128, 300];

const variants: WasmVariant[] = ['relaxed-simd', 'simd'];

describe.runIf(wasmSimdSupported())('row-stable wasm kernels', () => {
  describe.each(variants)('%s', (variant) => {
    const fast = createWasmKernels(createKernelMemory(), variant);

    it.each(COLUMNS)('matmuls: rows computed apart equal the whole product bitwise, n = %i', (n) => {
      for (const k of DEPTHS) {
        for (const m of ROWS) {
          const next = random(m * 7919 + n * 31 + k);
          const a = filled(fast, m * k, next);
          const b = filled(fast, n * k, next);
          const start = filled(fast, m * n, next);
          const whole = fast.alloc(m * n);
          const parts = fast.alloc(m * n);
          for (const accumulate of [false, true]) {
            const what = (name: string, points: number[]) =>
              `${name}(m=${m}, n=${n}, k=${k}, accumulate=${accumulate}) split at ${points}`;
            // a·b (b as [k, n]) and a·bᵀ (b as [n, k]): rows of a and out are contiguous.
            for (const name of ['matmulAB', 'matmulABt'] as const) {
              whole.set(start);
              fast[name](whole, a, b, m, n, k, accumulate);
              for (const points of splits(m)) {
                parts.set(start);
                for (let s = 0; s + 1 < points.length; s++) {
                  const [from, to] = [points[s]!, points[s + 1]!];
                  fast[name](parts.subarray(from * n), a.subarray(from * k), b, to - from, n, k, accumulate);
                }
                expectBitwise(parts, whole, what(name, points));
              }
            }
            // aᵀ·b with a as [k, m]: out's rows are a's columns, given to each call as their own matrix.
            whole.set(start);
            fast.matmulAtB(whole, a, b, m, n, k, accumulate);
            for (const points of splits(m)) {
              parts.set(start);
              for (let s = 0; s + 1 < points.length; s++) {
                const [from, to] = [points[s]!, points[s + 1]!];
                const slice = columns(fast, a, k, m, from, to);
                fast.matmulAtB(parts.subarray(from * n), slice, b, to - from, n, k, accumulate);
              }
              expectBitwise(parts, whole, what('matmulAtB', points));
            }
          }
        }
      }
    });

    it('matmuls: rows computed apart equal the whole product bitwise past the row block (m > 128)', () => {
      const [m, n, k] = [133, 65, 300];
      const next = random(17);
      const [a, b, start] = [filled(fast, m * k, next), filled(fast, n * k, next), filled(fast, m * n, next)];
      const [whole, parts] = [fast.alloc(m * n), fast.alloc(m * n)];
      for (const accumulate of [false, true]) {
        whole.set(start);
        fast.matmulAB(whole, a, b, m, n, k, accumulate);
        for (const points of [
          [0, 1, m],
          [0, 128, m],
          [0, 3, 131, m],
        ]) {
          parts.set(start);
          for (let s = 0; s + 1 < points.length; s++) {
            const [from, to] = [points[s]!, points[s + 1]!];
            fast.matmulAB(parts.subarray(from * n), a.subarray(from * k), b, to - from, n, k, accumulate);
          }
          expectBitwise(parts, whole, `matmulAB(m=${m}, accumulate=${accumulate}) split at ${points}`);
        }
      }
    });
  });
});
