/** Optimizers and clipping against PyTorch (test/fixtures/optim.json, made by scripts/make-optim-fixtures.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packTensors, type ParameterLayout } from '../src/core/config.js';
import {
  clipGradientsByGlobalNorm,
  clipGradientsElementwise,
  learningRateAt,
  Optimizer,
  type OptimizerKind,
} from '../src/core/optim.js';

interface Case {
  kind: OptimizerKind;
  options: { lr: number; momentum?: number };
  clip: number | null;
  initial: number[][];
  steps: Array<{ grads: number[][]; norm: number | null; params: number[][] }>;
}

const { cases } = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'optim.json'), 'utf8')) as {
  cases: Case[];
};

function expectClose(actual: Float32Array, expected: number[], what: string): void {
  expected.forEach((value, i) => {
    if (!(Math.abs(actual[i]! - value) <= 1e-7 + 1e-6 * Math.abs(value)))
      throw new Error(`${what}[${i}]: ${actual[i]} vs PyTorch ${value}`);
  });
}

/** Tensors of the given sizes laid out in one flat buffer, as a model's parameters are. */
function layoutOf(sizes: number[]): ParameterLayout {
  return packTensors(sizes.map((size, i) => ({ name: `p${i}`, shape: [size] })));
}

/** One flat buffer holding `tensors` at the layout's offsets. */
function flat(layout: ParameterLayout, tensors: number[][]): Float32Array {
  const buffer = new Float32Array(layout.size);
  for (const [i, { offset }] of layout.tensors.entries()) buffer.set(tensors[i]!, offset);
  return buffer;
}

function views(layout: ParameterLayout, buffer: Float32Array): Float32Array[] {
  return layout.tensors.map(({ offset, size }) => buffer.subarray(offset, offset + size));
}

function replay(testCase: Case, stopAndRestoreAt?: number): Float32Array[] {
  const layout = layoutOf(testCase.initial.map((values) => values.length));
  const params = flat(layout, testCase.initial);
  const options = { kind: testCase.kind, momentum: testCase.options.momentum };
  let optimizer = new Optimizer(options, layout);
  testCase.steps.forEach((step, index) => {
    if (index === stopAndRestoreAt) {
      const saved = optimizer.state();
      const copies = Object.entries(saved.buffers).map(([name, list]) => [name, list.map((tensor) => tensor.slice())]);
      optimizer = Optimizer.fromState(options, layout, { ...saved, buffers: Object.fromEntries(copies) });
    }
    const grads = flat(layout, step.grads);
    if (testCase.clip !== null) expect(clipGradientsByGlobalNorm(grads, testCase.clip)).toBeCloseTo(step.norm!, 5);
    optimizer.update(params, grads, testCase.options.lr);
    views(layout, params).forEach((param, i) => {
      expectClose(param, step.params[i]!, `${testCase.kind} step ${index + 1} param ${i}`);
    });
  });
  return views(layout, params);
}

describe('optimizers match PyTorch', () => {
  const title = (c: Case) => `${c.kind} ${JSON.stringify(c.options)}${c.clip ? ` clip ${c.clip}` : ''}`;
  const named = cases.map((c) => [title(c), c] as const);
  it.each(named)('%s', (_, testCase) => {
    replay(testCase);
  });

  it.each(cases.map((c) => [c.kind, c] as const))(
    '%s: saving and restoring the state mid-way changes nothing',
    (_, testCase) => {
      const straight = replay(testCase);
      const restored = replay(testCase, 3);
      for (const [i, param] of straight.entries()) expect(Array.from(restored[i]!)).toEqual(Array.from(param));
    },
  );

  it('refuses a state of another optimizer or size', () => {
    const adam = new Optimizer({ kind: 'adam' }, layoutOf([3]));
    expect(() => Optimizer.fromState({ kind: 'sgd' }, layoutOf([3]), adam.state())).toThrow(/adam/);
    expect(() => Optimizer.fromState({ kind: 'adam' }, layoutOf([4]), adam.state())).toThrow(/does not match/);
    expect(() => Optimizer.fromState({ kind: 'adam' }, layoutOf([3, 1]), adam.state())).toThrow(/does not match/);
  });

  it('saves its state per tensor, under PyTorch names, without the gaps of the flat layout', () => {
    const layout = layoutOf([3, 20, 1]);
    const optimizer = new Optimizer({ kind: 'adam' }, layout);
    const params = flat(layout, [[1, 2, 3], new Array(20).fill(0.5), [7]]);
    optimizer.update(params, flat(layout, [[0.1, 0.2, 0.3], new Array(20).fill(-1), [2]]), 0.01);
    const state = optimizer.state();
    expect(Object.keys(state.buffers)).toEqual(['exp_avg', 'exp_avg_sq']);
    expect(state.buffers.exp_avg!.map((tensor) => tensor.length)).toEqual([3, 20, 1]);
    expect(state.step).toBe(1);
    // The gaps between tensors stay zero in the parameters.
    expect(params[3]).toBe(0);
    expect(params[layout.tensors[1]!.offset + 20]).toBe(0);
  });
});

describe('clipping and decay', () => {
  it('clips elementwise', () => {
    const grads = Float32Array.from([-7, -5, 0.5, 5, 9]);
    clipGradientsElementwise(grads, 5);
    expect(Array.from(grads)).toEqual([-5, -5, 0.5, 5, 5]);
  });

  it('leaves small gradients alone under a global norm', () => {
    const grads = Float32Array.from([0.3, 0.4]);
    expect(clipGradientsByGlobalNorm(grads, 5)).toBeCloseTo(0.5, 6);
    expect(Array.from(grads)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it("decays the learning rate char-rnn's way", () => {
    expect(learningRateAt(0.1, 0, 0.5, 2)).toBe(0.1);
    expect(learningRateAt(0.1, 1, 0.5, 2)).toBe(0.1);
    expect(learningRateAt(0.1, 2, 0.5, 2)).toBe(0.05);
    expect(learningRateAt(0.1, 5, 0.5, 2)).toBe(0.025);
    expect(learningRateAt(0.1, 9, 1, 1)).toBe(0.1);
  });
});
