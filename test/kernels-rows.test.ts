/**
 * Row stability of the fast kernels, which training relies on for weights bit-identical at any thread
 * count: a product's output rows computed in one call equal, bit for bit, the same rows computed in
 * separate calls of any sizes (m = 1 up, each row at any position); the gathered-row kernels equal their
 * contiguous counterparts bit for bit, and any slice of their output equals the same rows of the whole.
 * Every build (WebAssembly relaxed SIMD and plain SIMD, native per instruction set); the JS reference
 * checks the values.
 */
import { describe, expect, it } from 'vitest';
import { createJsKernels } from '../src/core/kernels-js.js';
import type { Kernels } from '../src/core/kernels.js';
import { fastBackends, reportNativeSkip } from './helpers/backends.js';
import { expectClose, filled, random } from './helpers/kernel-checks.js';

const reference = createJsKernels();

/** The same bits, element by element (so −0 ≠ 0 and NaNs compare by payload). */
function expectBitwise(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length).toBe(expected.length);
  const [a, e] = [actual, expected].map((x) => new Int32Array(x.buffer, x.byteOffset, x.length));
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) throw new Error(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (not bitwise equal)`);
  }
}

/** Relative to 1 + |expected|. */
const relative = (tolerance: number) => (value: number) => tolerance * (1 + Math.abs(value));

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

reportNativeSkip();

describe('row-stable kernels', () => {
  describe.each(fastBackends())('$name', ({ create }) => {
    const fast = create();

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

    it('matmuls: rows computed apart equal the whole product bitwise past the row blocks (wasm 128, native 192)', () => {
      const [m, n, k] = [200, 65, 300];
      const next = random(17);
      const [a, b, start] = [filled(fast, m * k, next), filled(fast, n * k, next), filled(fast, m * n, next)];
      const [whole, parts] = [fast.alloc(m * n), fast.alloc(m * n)];
      for (const accumulate of [false, true]) {
        whole.set(start);
        fast.matmulAB(whole, a, b, m, n, k, accumulate);
        for (const points of [
          [0, 1, m],
          [0, 128, m],
          [0, 192, m],
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

    /**
     * `count` random rows of `width` floats as a batch split over buffers (as over threads' passes):
     * 6 streams in parts of 2, 1 and 3 when 6 divides count (else one stream), each part time-major with
     * a margin before it; and the same rows in the batch's order as one contiguous [count, width] matrix.
     */
    function gathered(count: number, width: number, next: () => number) {
      const streams = count % 6 === 0 ? [2, 1, 3] : [1];
      const steps = count / streams.reduce((sum, part) => sum + part, 0);
      const parts = streams.map((partStreams) => {
        const buffer = filled(fast, steps * partStreams * width + 5, next);
        return { values: buffer.subarray(1), streams: partStreams };
      });
      const contiguous = fast.alloc(count * width);
      let p = 0;
      for (let t = 0; t < steps; t++) {
        for (const { values, streams: partStreams } of parts) {
          for (let r = 0; r < partStreams; r++, p++) {
            const at = (t * partStreams + r) * width;
            contiguous.set(values.subarray(at, at + width), p * width);
          }
        }
      }
      return { table: fast.rowTable(parts, width, steps), parts, steps, contiguous };
    }

    it('a row table takes two numbers per stream, whatever the steps (no memory per row)', () => {
      const position = () => fast.alloc(1).byteOffset;
      const parts = [100, 150].map((streams) => ({ values: fast.alloc(1000 * streams * 4), streams }));
      const before = position();
      fast.rowTable(parts, 4, 1000);
      // The probe itself takes 64 bytes; the table (1 + 2 × 250 int32s) rounds up to 2,048.
      expect(position() - before - 64).toBe(Math.ceil(((1 + 2 * 250) * 4) / 64) * 64);
    });

    it('rowTable keeps its parts, and a table from elsewhere is refused', () => {
      const parts = [{ values: fast.alloc(6), streams: 1 }];
      expect(fast.rowTable(parts, 3, 2).parts).toBe(parts);
      expect(() => fast.sumRowsOf(fast.alloc(3), reference.rowTable(parts, 3, 2), 0, 3, false)).toThrow(/row table/);
    });

    it.each([
      [6, 13, 8],
      [7, 5, 8],
      [42, 64, 13],
      [300, 130, 65],
      [600, 24, 128],
      [0, 9, 8],
    ])('matmulAtBRows over %i rows of width %i, n = %i', (count, width, n) => {
      const next = random(count * 131 + width * 7 + n);
      const a = gathered(count, width, next);
      const b = gathered(count, n, next);
      const start = filled(fast, width * n, next);
      const [whole, parts, expected] = [fast.alloc(width * n), fast.alloc(width * n), fast.alloc(width * n)];
      for (const accumulate of [false, true]) {
        const what = (points: number[]) => `matmulAtBRows(${count}, ${width}, ${n}, ${accumulate}) ${points}`;
        whole.set(start);
        fast.matmulAtBRows(whole, a.table, 0, b.table, width, n, accumulate);
        // The same as matmulAtB over the rows laid out contiguously, bit for bit.
        expected.set(start);
        fast.matmulAtB(expected, a.contiguous, b.contiguous, width, n, count, accumulate);
        expectBitwise(whole, expected, what([0, width]));
        // Close to the JS reference.
        const js = Float32Array.from(start);
        reference.matmulAtBRows(js, a.table, 0, b.table, width, n, accumulate);
        expectClose(whole, js, relative(1e-5 * Math.sqrt(count + 1)), what([0, width]));
        // Slices of rows from `first`, of odd sizes and fewer than 4, equal the same rows of the whole.
        for (const points of splits(width)) {
          parts.set(start);
          for (let s = 0; s + 1 < points.length; s++) {
            const [from, to] = [points[s]!, points[s + 1]!];
            fast.matmulAtBRows(parts.subarray(from * n), a.table, from, b.table, to - from, n, accumulate);
          }
          expectBitwise(parts, whole, what(points));
        }
      }
    });

    it.each([
      [1, 1],
      [7, 3],
      [300, 45],
      [48, 512],
      [0, 9],
    ])('sumRowsOf over %i rows of width %i', (count, width) => {
      const next = random(count * 17 + width);
      const { table, contiguous } = gathered(count, width, next);
      const start = filled(fast, width, next);
      const [whole, parts, expected] = [fast.alloc(width), fast.alloc(width), fast.alloc(width)];
      for (const accumulate of [false, true]) {
        const what = `sumRowsOf(${count}, ${width}, accumulate=${accumulate})`;
        whole.set(start);
        fast.sumRowsOf(whole, table, 0, width, accumulate);
        // The same f32 additions in the same order as sumRows and as the JS reference.
        expected.set(start);
        fast.sumRows(expected, contiguous, count, width, accumulate);
        expectBitwise(whole, expected, `${what} vs sumRows`);
        const js = Float32Array.from(start);
        reference.sumRowsOf(js, table, 0, width, accumulate);
        expectBitwise(whole, js, `${what} vs the reference`);
        for (const points of splits(width)) {
          parts.set(start);
          for (let s = 0; s + 1 < points.length; s++) {
            const [from, to] = [points[s]!, points[s + 1]!];
            fast.sumRowsOf(parts.subarray(from), table, from, to - from, accumulate);
          }
          expectBitwise(parts, whole, `${what} split at ${points}`);
        }
      }
    });

    // Few rows against many columns take the strided path; many rows the transposed one.
    it.each([
      [1, 4, 83],
      [7, 13, 5],
      [300, 130, 83],
      [24, 64, 83],
      [0, 3, 4],
    ])('scatterColumnsAddRows over %i rows, width %i, %i columns', (count, width, columns) => {
      const next = random(count * 5 + width * 3 + columns);
      const { table, contiguous } = gathered(count, width, next);
      const ids = fast.allocInt32(Math.max(count, 1));
      for (let p = 0; p < count; p++) ids[p] = Math.floor(((next() + 1) / 2) * columns) % columns;
      const start = filled(fast, width * columns, next);
      const [whole, parts, expected] = [
        fast.alloc(width * columns),
        fast.alloc(width * columns),
        fast.alloc(width * columns),
      ];
      const what = `scatterColumnsAddRows(${count}, ${width}, ${columns})`;
      whole.set(start);
      fast.scatterColumnsAddRows(whole, table, 0, ids, width, columns);
      expected.set(start);
      fast.scatterColumnsAdd(expected, contiguous, ids, count, width, columns);
      expectBitwise(whole, expected, `${what} vs scatterColumnsAdd`);
      const js = Float32Array.from(start);
      reference.scatterColumnsAddRows(js, table, 0, ids, width, columns);
      expectBitwise(whole, js, `${what} vs the reference`);
      for (const points of splits(width)) {
        parts.set(start);
        for (let s = 0; s + 1 < points.length; s++) {
          const [from, to] = [points[s]!, points[s + 1]!];
          fast.scatterColumnsAddRows(parts.subarray(from * columns), table, from, ids, to - from, columns);
        }
        expectBitwise(parts, whole, `${what} split at ${points}`);
      }
    });

    it.each([
      [1, 83],
      [7, 5],
      [50, 83],
      [13, 300],
    ])('softmaxCrossEntropy row losses, %i rows, vocab %i; the sum as without them', (rows, vocab) => {
      const next = random(rows * 11 + vocab);
      const logits = filled(fast, rows * vocab, next);
      for (let i = 0; i < logits.length; i++) logits[i]! *= 8;
      logits[0] = 100;
      logits[rows * vocab - 1] = -1e30;
      const targets = fast.allocInt32(rows);
      for (let r = 0; r < rows; r++) targets[r] = (r * 7 + 3) % vocab;
      const scale = 1 / rows;
      const [dPlain, dWith] = [fast.alloc(rows * vocab), fast.alloc(rows * vocab)];
      const plain = fast.softmaxCrossEntropy(logits, targets, dPlain, rows, vocab, scale);
      const losses = fast.alloc(2 * rows); // 64-byte aligned, so f64s too
      const rowLosses = new Float64Array(losses.buffer, losses.byteOffset, rows);
      const loss = fast.softmaxCrossEntropy(logits, targets, dWith, rows, vocab, scale, rowLosses);
      expect(Object.is(loss, plain)).toBe(true);
      expectBitwise(dWith, dPlain, 'dLogits');
      const expected = new Float64Array(rows);
      reference.softmaxCrossEntropy(
        Float32Array.from(logits),
        targets,
        new Float32Array(rows * vocab),
        rows,
        vocab,
        scale,
        expected,
      );
      expectClose(rowLosses, expected, relative(1e-6), 'rowLosses');
      expect(Math.abs(rowLosses.reduce((sum, value) => sum + value, 0) - loss)).toBeLessThan(1e-9 * rows * (1 + loss));
    });
  });
});
