/**
 * The fast kernels against the plain-JS reference, in every build (WebAssembly relaxed-SIMD FMA and
 * plain SIMD; native per instruction set this CPU runs): random shapes with odd sizes and sizes across the packing block edges, both accumulate
 * modes, unaligned views, extreme gate inputs, and the shared-memory behaviour the threads rely on.
 */
import { describe, expect, it } from 'vitest';
import { createKernelMemory } from '../src/core/kernel-memory.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import { KernelMemoryError, type Kernels } from '../src/core/kernels.js';
import { gruBackwardReference, gruForwardReference } from '../src/core/layers/gru.js';
import { lstmBackwardReference, lstmForwardReference } from '../src/core/layers/lstm.js';
import { tanhBackwardReference } from '../src/core/layers/rnn.js';
import { fastBackends, reportNativeSkip } from './helpers/backends.js';
import { expectClose, filled, random } from './helpers/kernel-checks.js';

const reference = createJsKernels();

/** A view of `length` random floats in kernel memory, starting `offset` floats into its allocation. */

function copyIn(kernels: Kernels, values: ArrayLike<number>): Float32Array {
  const view = kernels.alloc(values.length);
  view.set(values);
  return view;
}

function expectSame(actual: Float32Array, expected: Float32Array, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) throw new Error(`${what}[${i}]: ${actual[i]} vs reference ${expected[i]}`);
  }
}

const PRODUCTS = [
  ['matmulAB', (m: number, k: number) => m * k, (n: number, k: number) => k * n],
  ['matmulAtB', (m: number, k: number) => k * m, (n: number, k: number) => k * n],
  ['matmulABt', (m: number, k: number) => m * k, (n: number, k: number) => n * k],
] as const;

function checkProducts(fast: Kernels, m: number, n: number, k: number, seed: number, offset = 0): void {
  const next = random(seed);
  // f32 sums of k products of values in [−1, 1]: error grows like √k ulps of the sum's terms.
  const tolerance = (value: number) => 1e-5 * Math.sqrt(k) + 1e-5 * Math.abs(value);
  for (const accumulate of [false, true]) {
    for (const [name, aSize, bSize] of PRODUCTS) {
      const a = filled(fast, aSize(m, k), next, 1, offset);
      const b = filled(fast, bSize(n, k), next, 1, offset);
      const out = filled(fast, m * n, next, 1, offset);
      const expected = Float32Array.from(out);
      reference[name](expected, a, b, m, n, k, accumulate);
      fast[name](out, a, b, m, n, k, accumulate);
      expectClose(out, expected, tolerance, `${name}(${m},${n},${k}, accumulate=${accumulate})`);
    }
  }
}

// Odd sizes, the model's shapes, and sizes just across the packing blocks (rows 128, depth 256,
// columns 512) and the micro-kernel edges (4 rows, 8 columns).
const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 7, 3],
  [2, 9, 5],
  [3, 17, 33],
  [3, 33, 7],
  [4, 8, 1],
  [5, 9, 300],
  [6, 16, 2],
  [7, 33, 129],
  [17, 50, 17],
  [33, 3, 520],
  [50, 512, 128],
  [50, 128, 512],
  [25, 83, 128],
  [129, 7, 3],
  [83, 128, 257],
  [130, 129, 1],
  [131, 24, 65],
  [257, 513, 33],
  [50, 600, 9],
  [1, 1030, 260],
  [2, 83, 600],
  [3, 2, 1],
];

reportNativeSkip();

describe.each(fastBackends())('$name kernels', ({ name, create }) => {
  it('names the backend and instruction set it runs', () => {
    expect(create().name).toBe(name);
  });

  describe('against the reference', () => {
    const fast = create();

    it.each(SHAPES)('matmuls m=%i n=%i k=%i match the reference', (m, n, k) => {
      checkProducts(fast, m, n, k, m * 1_000_003 + n * 1009 + k);
    });

    it('matmuls on random shapes and unaligned views', () => {
      const next = random(42);
      const size = (limit: number) => 1 + Math.floor(((next() + 1) / 2) * limit);
      for (let trial = 0; trial < 25; trial++) checkProducts(fast, size(40), size(70), size(300), trial, trial % 4);
    });

    it('matmuls with k = 0 overwrite with zeros or leave out as it is', () => {
      const out = fast.alloc(6).fill(5);
      const none = fast.alloc(1);
      fast.matmulAB(out, none, none, 2, 3, 0, true);
      expect(Array.from(out)).toEqual([5, 5, 5, 5, 5, 5]);
      for (const name of ['matmulAB', 'matmulAtB', 'matmulABt'] as const) {
        out.fill(5);
        fast[name](out, none, none, 2, 3, 0, false);
        expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
      }
    });

    it('matmuls leave everything outside out untouched', () => {
      const next = random(7);
      const [m, n, k] = [9, 13, 11];
      const block = filled(fast, m * n + 32, next);
      const before = Float32Array.from(block);
      const out = block.subarray(16, 16 + m * n);
      fast.matmulABt(out, filled(fast, m * k, next), filled(fast, n * k, next), m, n, k, true);
      fast.matmulAtB(out, filled(fast, m * k, next), filled(fast, n * k, next), m, n, k, false);
      expectSame(block.subarray(0, 16), before.subarray(0, 16), 'before out');
      expectSame(block.subarray(16 + m * n), before.subarray(16 + m * n), 'after out');
    });

    it.each([
      [1, 1],
      [3, 5],
      [4, 4],
      [7, 13],
      [128, 512],
      [33, 6],
    ])('transpose %i x %i', (rows, cols) => {
      const a = filled(fast, rows * cols, random(rows * 31 + cols));
      const out = fast.alloc(rows * cols);
      const expected = new Float32Array(rows * cols);
      reference.transpose(expected, a, rows, cols);
      fast.transpose(out, a, rows, cols);
      expectSame(out, expected, 'transpose');
    });

    it.each([
      [1, 1],
      [3, 7],
      [50, 83],
      [17, 512],
      [2500, 33],
    ])('bias kernels, %i rows x %i, exactly as the reference', (rows, width) => {
      const next = random(rows * 7 + width);
      const bias = filled(fast, width, next);
      const out = filled(fast, rows * width, next);
      const expected = new Float32Array(rows * width);
      reference.broadcastRows(expected, bias, rows, width);
      fast.broadcastRows(out, bias, rows, width);
      expectSame(out, expected, 'broadcastRows');
      const a = filled(fast, rows * width, next);
      for (const accumulate of [false, true]) {
        const sums = filled(fast, width, next);
        const expectedSums = Float32Array.from(sums);
        reference.sumRows(expectedSums, a, rows, width, accumulate);
        fast.sumRows(sums, a, rows, width, accumulate);
        // The same f32 additions in the same order.
        expectSame(sums, expectedSums, `sumRows(accumulate=${accumulate})`);
      }
    });

    it.each([
      [1, 4, 83],
      [3, 7, 5],
      [50, 512, 83],
      [2500, 128, 65],
      [9, 3, 1],
    ])('one-hot kernels, %i rows, width %i, %i columns', (rows, width, columns) => {
      const next = random(rows + width * 3 + columns * 5);
      const ids = fast.allocInt32(rows);
      for (let r = 0; r < rows; r++) ids[r] = Math.floor(((next() + 1) / 2) * columns) % columns;
      const weight = filled(fast, width * columns, next);
      const out = filled(fast, rows * width, next);
      const expected = Float32Array.from(out);
      reference.gatherColumnsAdd(expected, weight, ids, rows, width, columns);
      fast.gatherColumnsAdd(out, weight, ids, rows, width, columns);
      expectSame(out, expected, 'gatherColumnsAdd');
      // The same lookup through the transposed weight: the same single add per element, so the same bits.
      const table = fast.alloc(columns * width);
      reference.transpose(table, weight, width, columns);
      const gathered = filled(fast, rows * width, next);
      const expectedGathered = Float32Array.from(gathered);
      reference.gatherRowsAdd(expectedGathered, table, ids, rows, width);
      fast.gatherRowsAdd(gathered, table, ids, rows, width);
      expectSame(gathered, expectedGathered, 'gatherRowsAdd');
      const dOut = filled(fast, rows * width, next);
      const gradWeight = filled(fast, width * columns, next);
      const expectedGrad = Float32Array.from(gradWeight);
      reference.scatterColumnsAdd(expectedGrad, dOut, ids, rows, width, columns);
      fast.scatterColumnsAdd(gradWeight, dOut, ids, rows, width, columns);
      expectSame(gradWeight, expectedGrad, 'scatterColumnsAdd');
    });

    // Activations are accurate to a few f32 ulps. Activations of sums (c = f·cPrev + i·g, tanh(x + r·h))
    // also carry the f32 rounding of terms up to ~10 where the reference sums in double.
    const activation = (value: number) => 1e-6 * Math.abs(value) + 1e-7;
    const activationOfSum = (value: number) => 1e-6 * Math.abs(value) + 2e-6;
    const gradient = (value: number) => 1e-5 * Math.abs(value) + 1e-5;

    it('tanh forward and backward, including tiny, huge and infinite inputs', () => {
      const special = [
        0,
        -0,
        1e-30,
        -1e-30,
        1e-45,
        1e-8,
        -3e-4,
        0.0624,
        0.0626,
        0.5,
        -0.9,
        3,
        9.1,
        -9.1,
        20,
        100,
        -100,
        1e30,
        -1e30,
        3.4e38,
        -3.4e38,
        Infinity,
        -Infinity,
      ];
      const next = random(3);
      const values = [
        ...special,
        ...Array.from({ length: 1003 }, (_, i) => next() * (i % 3 === 0 ? 20 : i % 3 === 1 ? 2 : 1e-3)),
      ];
      const pre = copyIn(fast, values);
      const h = fast.alloc(values.length);
      fast.tanhForward({ pre, h }, values.length);
      const expected = Float32Array.from(values, Math.tanh);
      expectClose(h, expected, activation, 'tanh');
      // Signed zeros and tiny values keep their exact value.
      for (let i = 0; i < 5; i++) expect(Object.is(h[i], expected[i])).toBe(true);
      // In place (h aliasing pre) gives the same.
      fast.tanhForward({ pre, h: pre }, values.length);
      expectSame(pre, h, 'tanh in place');
      const dh = filled(fast, values.length, next);
      const dPre = fast.alloc(values.length);
      const expectedD = new Float32Array(values.length);
      tanhBackwardReference({ dh, h, dPre: expectedD }, values.length);
      fast.tanhBackward({ dh, h, dPre }, values.length);
      expectClose(dPre, expectedD, activation, 'tanhBackward');
    });

    const extremes = [100, -100, 1e30, -1e30, 88.7, -88.7, 89, -104, 0, -0, 1e-30, 17, -17];

    it.each([
      [1, 1],
      [3, 5],
      [2, 128],
      [7, 33],
      [50, 129],
    ])('lstm step, batch %i, hidden %i', (batch, hidden) => {
      const next = random(batch * 100 + hidden);
      const gates = filled(fast, batch * 4 * hidden, next, 6);
      for (const [i, value] of extremes.entries()) gates[(i * 7) % gates.length] = value;
      const [cPrev, dh, dc] = [0, 1, 2].map(() => filled(fast, batch * hidden, next, 3));
      const [c, cTanh, h] = [0, 1, 2].map(() => fast.alloc(batch * hidden));
      const ref = {
        gates: Float32Array.from(gates),
        c: new Float32Array(batch * hidden),
        cTanh: new Float32Array(batch * hidden),
        h: new Float32Array(batch * hidden),
      };
      lstmForwardReference({ gates: ref.gates, cPrev, c: ref.c, cTanh: ref.cTanh, h: ref.h }, batch, hidden);
      fast.lstmForward({ gates, cPrev, c, cTanh, h }, batch, hidden);
      expectClose(gates, ref.gates, activation, 'gates');
      expectClose(c, ref.c, activationOfSum, 'c');
      expectClose(cTanh, ref.cTanh, activationOfSum, 'cTanh');
      expectClose(h, ref.h, activationOfSum, 'h');

      const dGates = fast.alloc(batch * 4 * hidden);
      const refDGates = new Float32Array(batch * 4 * hidden);
      const refDc = Float32Array.from(dc);
      const refStep = { gates: ref.gates, cPrev, cTanh: ref.cTanh, dh, dc: refDc, dGates: refDGates };
      lstmBackwardReference(refStep, batch, hidden);
      fast.lstmBackward({ gates, cPrev, cTanh, dh, dc, dGates }, batch, hidden);
      expectClose(dGates, refDGates, gradient, 'dGates');
      expectClose(dc, refDc, gradient, 'dc');

      // A huge cell state saturates tanh(c) without NaN or Inf.
      cPrev[0] = 1e30;
      cPrev[batch * hidden - 1] = -1e30;
      gates.set(ref.gates.map((value, i) => (i % 3 ? value : 50)));
      fast.lstmForward({ gates, cPrev, c, cTanh, h }, batch, hidden);
      for (const values of [gates, cTanh, h]) expect(values.every(Number.isFinite)).toBe(true);
      expect(Math.abs(cTanh[0]!)).toBe(1);
    });

    it.each([
      [1, 1],
      [3, 5],
      [2, 128],
      [7, 33],
      [50, 129],
    ])('gru step, batch %i, hidden %i', (batch, hidden) => {
      const next = random(batch * 300 + hidden);
      const xGates = filled(fast, batch * 3 * hidden, next, 6);
      const hGates = filled(fast, batch * 3 * hidden, next, 6);
      for (const [i, value] of extremes.entries()) xGates[(i * 5) % xGates.length] = value;
      for (const [i, value] of extremes.entries()) hGates[(i * 11) % hGates.length] = -value;
      const hPrev = filled(fast, batch * hidden, next, 2);
      const h = fast.alloc(batch * hidden);
      const refX = Float32Array.from(xGates);
      const refH = new Float32Array(batch * hidden);
      gruForwardReference({ xGates: refX, hGates, hPrev, h: refH }, batch, hidden);
      fast.gruForward({ xGates, hGates, hPrev, h }, batch, hidden);
      expectClose(xGates, refX, activationOfSum, 'gates');
      expectClose(h, refH, activationOfSum, 'h');
      expect(xGates.every(Number.isFinite) && h.every(Number.isFinite)).toBe(true);

      const dh = filled(fast, batch * hidden, next);
      const [dxGates, dhGates] = [0, 1].map(() => fast.alloc(batch * 3 * hidden));
      const dhPrev = filled(fast, batch * hidden, next);
      const ref = {
        dx: new Float32Array(batch * 3 * hidden),
        dhg: new Float32Array(batch * 3 * hidden),
        dhPrev: Float32Array.from(dhPrev),
      };
      const refStep = { gates: refX, hGates, hPrev, dh, dxGates: ref.dx, dhGates: ref.dhg, dhPrev: ref.dhPrev };
      gruBackwardReference(refStep, batch, hidden);
      fast.gruBackward({ gates: xGates, hGates, hPrev, dh, dxGates, dhGates, dhPrev }, batch, hidden);
      expectClose(dxGates, ref.dx, gradient, 'dxGates');
      expectClose(dhGates, ref.dhg, gradient, 'dhGates');
      expectClose(dhPrev, ref.dhPrev, gradient, 'dhPrev');
    });

    it.each([
      [1, 1],
      [1, 83],
      [7, 5],
      [50, 83],
      [2500, 83],
      [13, 300],
    ])('softmax cross-entropy, %i rows, vocab %i', (rows, vocab) => {
      const next = random(rows * 7 + vocab);
      const logits = filled(fast, rows * vocab, next, 8);
      for (const [i, value] of extremes.entries()) logits[(i * 13) % logits.length] = value;
      const targets = fast.allocInt32(rows);
      for (let r = 0; r < rows; r++) targets[r] = (r * 7 + 3) % vocab;
      const dLogits = fast.alloc(rows * vocab);
      const refD = new Float32Array(rows * vocab);
      const scale = 1 / rows;
      const expected = reference.softmaxCrossEntropy(Float32Array.from(logits), targets, refD, rows, vocab, scale);
      const loss = fast.softmaxCrossEntropy(logits, targets, dLogits, rows, vocab, scale);
      // Per row: exps to a couple of ulps, their sum in f32, the log in double.
      expect(Math.abs(loss - expected)).toBeLessThanOrEqual(1e-6 * rows + 1e-6 * Math.abs(expected));
      expectClose(dLogits, refD, (value) => 1e-6 * Math.abs(value) + 1e-7 * scale, 'dLogits');
      expect(dLogits.every(Number.isFinite)).toBe(true);
      // In place (dLogits aliasing logits) gives the same.
      const aliased = fast.softmaxCrossEntropy(logits, targets, logits, rows, vocab, scale);
      expect(aliased).toBe(loss);
      expectSame(logits, dLogits, 'aliased dLogits');
    });
  });

  it('keeps earlier views valid when the memory grows', () => {
    const memory = createKernelMemory();
    const kernels = create(memory);
    const early = kernels.alloc(16);
    early.fill(3);
    const pagesBefore = memory.buffer.byteLength;
    kernels.alloc((64 * 1024 * 1024) / 4); // forces growth
    expect(memory.buffer.byteLength).toBeGreaterThan(pagesBefore);
    expect(early.length).toBe(16);
    expect(early.buffer.byteLength).toBe(pagesBefore);
    expect(Array.from(early)).toEqual(new Array(16).fill(3));
    // The old view and a new view of the same bytes see each other's writes.
    const again = new Float32Array(memory.buffer, early.byteOffset, 16);
    again[5] = 7;
    expect(early[5]).toBe(7);
    const a = kernels.alloc(4).fill(1);
    const out = kernels.alloc(1);
    kernels.matmulAB(out, a, early.subarray(0, 4), 1, 1, 4, false);
    expect(out[0]).toBe(3 + 3 + 3 + 3);
  });

  it('hands out 64-byte-aligned, disjoint buffers', () => {
    const kernels = create();
    const buffers = [kernels.alloc(1), kernels.allocInt32(17), kernels.alloc(0), kernels.alloc(100)];
    for (const buffer of buffers) expect(buffer.byteOffset % 64).toBe(0);
    for (let i = 1; i < buffers.length; i++)
      expect(buffers[i]!.byteOffset).toBeGreaterThanOrEqual(buffers[i - 1]!.byteOffset + buffers[i - 1]!.byteLength);
  });

  it('runs out of memory cleanly: a KernelMemoryError, nothing reserved, later buffers still fine', () => {
    const kernels = create(createKernelMemory(8 * 2 ** 20));
    const before = kernels.alloc(16);
    expect(() => kernels.alloc(4 * 2 ** 20)).toThrow(KernelMemoryError);
    // Past what an i32 offset can address: still the same error, and still nothing reserved.
    expect(() => kernels.alloc(2 ** 31)).toThrow(/out of kernel memory: 8192\.0 MiB requested/);
    const after = kernels.alloc(16);
    expect(after.byteOffset).toBe(before.byteOffset + 64);
    after.fill(2);
    const out = kernels.alloc(1);
    kernels.matmulAB(out, before.fill(1), after, 1, 1, 16, false);
    expect(out[0]).toBe(32);
  });

  it('lets two instances share one memory (as worker threads do) without clobbering each other', () => {
    const memory = createKernelMemory();
    const [first, second] = [create(memory), create(memory)];
    const next = random(11);
    const [m, n, k] = [37, 70, 300];
    const a = filled(first, m * k, next);
    const b = filled(second, n * k, next);
    const [out1, out2] = [first.alloc(m * n), second.alloc(m * n)];
    const expected = new Float32Array(m * n);
    reference.matmulABt(expected, a, b, m, n, k, false);
    // Interleaved calls: each instance packs into its own scratch.
    first.matmulABt(out1, a, b, m, n, k, false);
    second.matmulABt(out2, a, b, m, n, k, false);
    first.matmulABt(out1, a, b, m, n, k, true);
    expectClose(out2, expected, (value) => 1e-4 + 1e-5 * Math.abs(value), 'second');
    expectClose(
      out1,
      expected.map((value) => 2 * value),
      (value) => 2e-4 + 1e-5 * Math.abs(value),
      'first',
    );
    expect(first.sharedMemory).toBe(memory);
  });

  it('gives bit-identical results wherever the buffers sit (1 and 2 threads must agree)', () => {
    const kernels = create();
    const next = random(5);
    const [m, n, k] = [25, 83, 130];
    const values = Array.from({ length: m * k + n * k }, () => next());
    const results = [0, 1, 3].map((offset) => {
      const a = kernels.alloc(m * k + offset).subarray(offset);
      const b = kernels.alloc(n * k + offset).subarray(offset);
      a.set(values.slice(0, m * k));
      b.set(values.slice(m * k));
      const out = kernels.alloc(m * n + offset).subarray(offset);
      kernels.matmulABt(out, a, b, m, n, k, false);
      return Float32Array.from(out);
    });
    expectSame(results[1]!, results[0]!, 'offset 1');
    expectSame(results[2]!, results[0]!, 'offset 3');
  });
});
