/** Optimizers and clipping against PyTorch (test/fixtures/optim.json, made by scripts/make-optim-fixtures.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clipGradientsByGlobalNorm, clipGradientsElementwise, learningRateAt, Optimizer, type OptimizerKind } from '../src/core/optim.js';

interface Case {
  kind: OptimizerKind;
  options: { lr: number; momentum?: number };
  clip: number | null;
  initial: number[][];
  steps: Array<{ grads: number[][]; norm: number | null; params: number[][] }>;
}

const { cases } = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'optim.json'), 'utf8')) as { cases: Case[] };

function expectClose(actual: Float32Array, expected: number[], what: string): void {
  expected.forEach((value, i) => {
    if (!(Math.abs(actual[i]! - value) <= 1e-7 + 1e-6 * Math.abs(value))) throw new Error(`${what}[${i}]: ${actual[i]} vs PyTorch ${value}`);
  });
}

function replay(testCase: Case, stopAndRestoreAt?: number): Float32Array[] {
  const params = testCase.initial.map((values) => Float32Array.from(values));
  const sizes = params.map((p) => p.length);
  const options = { kind: testCase.kind, momentum: testCase.options.momentum };
  let optimizer = new Optimizer(options, sizes);
  testCase.steps.forEach((step, index) => {
    if (index === stopAndRestoreAt) {
      const saved = optimizer.state();
      const copy = { ...saved, buffers: Object.fromEntries(Object.entries(saved.buffers).map(([k, list]) => [k, list.map((b) => b.slice())])) };
      optimizer = Optimizer.fromState(options, sizes, copy);
    }
    const grads = step.grads.map((values) => Float32Array.from(values));
    if (testCase.clip !== null) expect(clipGradientsByGlobalNorm(grads, testCase.clip)).toBeCloseTo(step.norm!, 5);
    optimizer.step(params, grads, testCase.options.lr);
    params.forEach((param, i) => expectClose(param, step.params[i]!, `${testCase.kind} step ${index + 1} param ${i}`));
  });
  return params;
}

describe('optimizers match PyTorch', () => {
  it.each(cases.map((c) => [`${c.kind} ${JSON.stringify(c.options)}${c.clip ? ` clip ${c.clip}` : ''}`, c] as const))('%s', (_, testCase) => {
    replay(testCase);
  });

  it.each(cases.map((c) => [c.kind, c] as const))('%s: saving and restoring the state mid-way changes nothing', (_, testCase) => {
    const straight = replay(testCase);
    const restored = replay(testCase, 3);
    straight.forEach((param, i) => expect(Array.from(restored[i]!)).toEqual(Array.from(param)));
  });

  it('refuses a state of another optimizer or size', () => {
    const adam = new Optimizer({ kind: 'adam' }, [3]);
    expect(() => Optimizer.fromState({ kind: 'sgd' }, [3], adam.state())).toThrow(/adam/);
    expect(() => Optimizer.fromState({ kind: 'adam' }, [4], adam.state())).toThrow(/does not match/);
  });
});

describe('clipping and decay', () => {
  it('clips elementwise', () => {
    const grads = [Float32Array.from([-7, -5, 0.5, 5, 9])];
    clipGradientsElementwise(grads, 5);
    expect(Array.from(grads[0]!)).toEqual([-5, -5, 0.5, 5, 5]);
  });

  it('leaves small gradients alone under a global norm', () => {
    const grads = [Float32Array.from([0.3, 0.4])];
    expect(clipGradientsByGlobalNorm(grads, 5)).toBeCloseTo(0.5, 6);
    expect(Array.from(grads[0]!)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it("decays the learning rate char-rnn's way", () => {
    expect(learningRateAt(0.1, 0, 0.5, 2)).toBe(0.1);
    expect(learningRateAt(0.1, 1, 0.5, 2)).toBe(0.1);
    expect(learningRateAt(0.1, 2, 0.5, 2)).toBe(0.05);
    expect(learningRateAt(0.1, 5, 0.5, 2)).toBe(0.025);
    expect(learningRateAt(0.1, 9, 1, 1)).toBe(0.1);
  });
});
