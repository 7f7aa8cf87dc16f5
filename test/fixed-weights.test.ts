/**
 * A pass with fixed weights multiplies by transposed copies of W_ih (layers above the first) and of
 * decoder.weight with a·b; one without multiplies by the weights with a·bᵀ. The WebAssembly products
 * run the same chain per element either way, so the logits agree bit for bit, in both builds. The JS
 * kernels do not: matmulABt sums each element in double precision and rounds once, matmulAB rounds the
 * float32 output after every term, so there they agree to rounding (1e-6 relative).
 */
import { describe, expect, it } from 'vitest';
import { CELL_TYPES, type ModelConfig } from '../src/core/config.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import type { Kernels } from '../src/core/kernels.js';
import { CharModel } from '../src/core/model.js';
import { Rng } from '../src/core/rng.js';
import { createWasmKernels, wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';
import { WASM_VARIANTS } from '../src/core/wasm/variants.js';

// hidden > 256 (the kernels' depth block KC) and not a multiple of 8: several blocks and an edge panel.
const config = (cell: ModelConfig['cell']): ModelConfig => ({ cell, layers: 3, hidden: 260, vocab: 83, dropout: 0 });
const seqLength = 3;

/** Logits of two forwards (the second from the state the first left) of a pass over a loaded model. */
function logits(kernels: Kernels, model: ModelConfig, batch: number, fixedWeights: boolean): Float32Array[] {
  const source = new CharModel(model, createJsKernels());
  source.initialize(new Rng(7));
  const loaded = new CharModel(model, kernels);
  loaded.load(Object.fromEntries(source.tensors));
  const pass = loaded.createInferencePass(batch, seqLength, { fixedWeights });
  const ids = new Rng(11);
  pass.resetCarried();
  return [0, 1].map(() => {
    for (let i = 0; i < pass.inputs.length; i++) pass.inputs[i] = Math.floor(ids.nextFloat() * model.vocab);
    pass.forward();
    return pass.logits.slice();
  });
}

function firstDifference(actual: Float32Array, expected: Float32Array, tolerance: number): string | null {
  const [a, e] = [actual, expected].map((x) => new Int32Array(x.buffer, x.byteOffset, x.length));
  for (let i = 0; i < expected.length; i++) {
    const close = Math.abs(actual[i]! - expected[i]!) <= tolerance * (1 + Math.abs(expected[i]!));
    if (tolerance === 0 ? a[i] !== e[i] : !close) return `[${i}]: ${actual[i]} vs ${expected[i]}`;
  }
  return null;
}

const backends: Array<[string, () => Kernels, number]> = [
  ['js', createJsKernels, 1e-6],
  ...WASM_VARIANTS.map((variant): [string, () => Kernels, number] => [
    `wasm ${variant}`,
    () => createWasmKernels(undefined, variant),
    0,
  ]),
];
const cases = backends.flatMap((backend) =>
  CELL_TYPES.flatMap((cell) => [1, 5].map((batch) => [...backend, cell, batch] as const)),
);

describe('fixed weights: transposed copies give the same logits', () => {
  it.each(cases)('%s (tolerance %s), %s, batch %s', (name, create, tolerance, cell, batch) => {
    if (name.startsWith('wasm') && !wasmSimdSupported()) return;
    const model = config(cell);
    const fixed = logits(create(), model, batch, true);
    const changing = logits(create(), model, batch, false);
    fixed.forEach((values, forward) => {
      expect(firstDifference(values, changing[forward]!, tolerance), `forward ${forward}`).toBeNull();
    });
  });
});
