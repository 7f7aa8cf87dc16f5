/** Every fast kernel against the plain-JS reference, on random shapes including odd sizes. */
import { describe, expect, it } from 'vitest';
import { createJsKernels } from '../src/core/kernels-js.js';
import { createWasmKernels, wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';
import { expectClose, filled, random } from './helpers/kernel-checks.js';

const reference = createJsKernels();

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 7, 3],
  [3, 17, 5],
  [7, 33, 129],
  [50, 512, 128],
  [4, 8, 1],
  [5, 9, 300],
  [17, 50, 17],
  [33, 3, 520],
  [2, 83, 128],
];

describe.runIf(wasmSimdSupported())('wasm kernels match the JS reference', () => {
  const fast = createWasmKernels();

  it.each(SHAPES)('matmuls m=%i n=%i k=%i, overwrite and accumulate', (m, n, k) => {
    const next = random(m * 1000 + n * 10 + k);
    const tolerance = (value: number) => 1e-5 * Math.sqrt(k) + 1e-5 * Math.abs(value);
    for (const accumulate of [false, true]) {
      const cases = [
        ['matmulAB', m * k, k * n],
        ['matmulAtB', k * m, k * n],
        ['matmulABt', m * k, n * k],
      ] as const;
      for (const [name, aSize, bSize] of cases) {
        const a = filled(fast, aSize, next);
        const b = filled(fast, bSize, next);
        const out = filled(fast, m * n, next);
        const expected = Float32Array.from(out);
        reference[name](expected, Float32Array.from(a), Float32Array.from(b), m, n, k, accumulate);
        fast[name](out, a, b, m, n, k, accumulate);
        expectClose(out, expected, tolerance, `${name}(${m},${n},${k}, accumulate=${accumulate})`);
      }
    }
  });

  it.each([
    [1, 1],
    [3, 5],
    [4, 4],
    [7, 13],
    [128, 512],
  ])('transpose %i x %i', (rows, cols) => {
    const next = random(rows + cols);
    const a = filled(fast, rows * cols, next);
    const out = fast.alloc(rows * cols);
    const expected = new Float32Array(rows * cols);
    reference.transpose(expected, a, rows, cols);
    fast.transpose(out, a, rows, cols);
    expect(Array.from(out)).toEqual(Array.from(expected));
  });

  const activationTolerance = (value: number) => 2e-6 + 2e-6 * Math.abs(value);

  it.each([
    [1, 1],
    [3, 5],
    [2, 8],
    [50, 128],
  ])('lstm and gru steps, batch %i hidden %i, with extreme inputs', (batch, hidden) => {
    const next = random(batch * 31 + hidden);
    const extremes = [0, 1e-9, -1e-9, 100, -100, 1e30, -1e30, 88, -88, 20];
    const gates = filled(fast, batch * 4 * hidden, next, 4);
    extremes.forEach((x, i) => {
      if (i < gates.length) gates[(i * 3) % gates.length] = x;
    });
    const cPrev = filled(fast, batch * hidden, next);
    const [c, cTanh, h] = [fast.alloc(batch * hidden), fast.alloc(batch * hidden), fast.alloc(batch * hidden)];
    const refGates = Float32Array.from(gates);
    const [rc, rt, rh] = [
      new Float32Array(batch * hidden),
      new Float32Array(batch * hidden),
      new Float32Array(batch * hidden),
    ];
    reference.lstmForward({ gates: refGates, cPrev, c: rc, cTanh: rt, h: rh }, batch, hidden);
    fast.lstmForward({ gates, cPrev, c, cTanh, h }, batch, hidden);
    for (const [x, y, name] of [
      [gates, refGates, 'gates'],
      [c, rc, 'c'],
      [cTanh, rt, 'cTanh'],
      [h, rh, 'h'],
    ] as const) {
      expect(x.every(Number.isFinite)).toBe(true);
      expectClose(x, y, activationTolerance, `lstmForward ${name}`);
    }
    const dh = filled(fast, batch * hidden, next);
    const dc = filled(fast, batch * hidden, next);
    const dGates = fast.alloc(batch * 4 * hidden);
    const refDc = Float32Array.from(dc);
    const refDGates = new Float32Array(batch * 4 * hidden);
    reference.lstmBackward({ gates: refGates, cPrev, cTanh: rt, dh, dc: refDc, dGates: refDGates }, batch, hidden);
    fast.lstmBackward({ gates, cPrev, cTanh, dh, dc, dGates }, batch, hidden);
    expectClose(dGates, refDGates, activationTolerance, 'lstmBackward dGates');
    expectClose(dc, refDc, activationTolerance, 'lstmBackward dc');

    const xGates = filled(fast, batch * 3 * hidden, next, 4);
    extremes.forEach((x, i) => {
      if (i < xGates.length) xGates[(i * 5) % xGates.length] = x;
    });
    const hGates = filled(fast, batch * 3 * hidden, next, 4);
    const hPrev = filled(fast, batch * hidden, next);
    const refX = Float32Array.from(xGates);
    const out = fast.alloc(batch * hidden);
    const refOut = new Float32Array(batch * hidden);
    reference.gruForward({ xGates: refX, hGates, hPrev, h: refOut }, batch, hidden);
    fast.gruForward({ xGates, hGates, hPrev, h: out }, batch, hidden);
    expectClose(xGates, refX, activationTolerance, 'gruForward gates');
    expectClose(out, refOut, activationTolerance, 'gruForward h');
    const [dx, dhg, dprev] = [
      fast.alloc(batch * 3 * hidden),
      fast.alloc(batch * 3 * hidden),
      filled(fast, batch * hidden, next),
    ];
    const [rdx, rdhg, rdprev] = [
      new Float32Array(batch * 3 * hidden),
      new Float32Array(batch * 3 * hidden),
      Float32Array.from(dprev),
    ];
    const refStep = { gates: refX, hGates, hPrev, dh, dxGates: rdx, dhGates: rdhg, dhPrev: rdprev };
    reference.gruBackward(refStep, batch, hidden);
    fast.gruBackward({ gates: xGates, hGates, hPrev, dh, dxGates: dx, dhGates: dhg, dhPrev: dprev }, batch, hidden);
    expectClose(dx, rdx, activationTolerance, 'gruBackward dx');
    expectClose(dhg, rdhg, activationTolerance, 'gruBackward dh gates');
    expectClose(dprev, rdprev, activationTolerance, 'gruBackward dhPrev');
  });

  it.each([1, 3, 4, 7, 100])('tanh forward and backward over %i values', (n) => {
    const next = random(n);
    const pre = filled(fast, n, next, 6);
    pre[0] = n > 1 ? 1e-8 : 50;
    const h = fast.alloc(n);
    const expected = new Float32Array(n);
    reference.tanhForward({ pre, h: expected }, n);
    fast.tanhForward({ pre, h }, n);
    expectClose(h, expected, activationTolerance, 'tanh');
    if (n > 1) expect(Math.abs(h[0]! - 1e-8)).toBeLessThan(1e-14);
    const dh = filled(fast, n, next);
    const dPre = fast.alloc(n);
    const refDPre = new Float32Array(n);
    reference.tanhBackward({ dh, h, dPre: refDPre }, n);
    fast.tanhBackward({ dh, h, dPre }, n);
    expectClose(dPre, refDPre, activationTolerance, 'tanh backward');
  });

  it.each([
    [1, 2],
    [5, 83],
    [50, 7],
    [3, 300],
  ])('softmax cross-entropy, %i rows of %i', (rows, vocab) => {
    const next = random(rows * vocab);
    const logits = filled(fast, rows * vocab, next, 8);
    logits[0] = 80;
    const targets = fast.allocInt32(rows);
    for (let r = 0; r < rows; r++) targets[r] = Math.floor(((next() + 1) / 2) * vocab) % vocab;
    const dLogits = fast.alloc(rows * vocab);
    const refD = new Float32Array(rows * vocab);
    const expected = reference.softmaxCrossEntropy(Float32Array.from(logits), targets, refD, rows, vocab, 1 / rows);
    const loss = fast.softmaxCrossEntropy(logits, targets, dLogits, rows, vocab, 1 / rows);
    expect(Math.abs(loss - expected)).toBeLessThan(1e-5 * rows);
    expectClose(dLogits, refD, (v) => 1e-7 + 1e-5 * Math.abs(v), 'dLogits');
    // In place (dLogits aliasing logits) gives the same.
    const aliased = fast.softmaxCrossEntropy(logits, targets, logits, rows, vocab, 1 / rows);
    expect(aliased).toBe(loss);
    expectClose(logits, dLogits, () => 0, 'aliased dLogits');
  });

  it('keeps earlier views valid when the memory grows', () => {
    const kernels = createWasmKernels();
    const early = kernels.alloc(16);
    early.fill(3);
    kernels.alloc((64 * 1024 * 1024) / 4); // forces growth
    expect(early.length).toBe(16);
    expect(Array.from(early)).toEqual(new Array(16).fill(3));
    const a = kernels.alloc(4).fill(1);
    const b = kernels.alloc(4).fill(2);
    const out = kernels.alloc(1);
    kernels.matmulAB(out, a, b, 1, 1, 4, false);
    expect(out[0]).toBe(8);
  });
});
