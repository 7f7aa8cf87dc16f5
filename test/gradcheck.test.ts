/** Finite-difference gradient checks of the hand-written backward, every cell at 1–3 layers. */
import { describe, expect, it } from 'vitest';
import { CELL_TYPES, type ModelConfig } from '../src/core/config.js';
import { CharModel } from '../src/core/model.js';
import type { UniformSource } from '../src/core/passes.js';
import { kernelBackends } from './helpers/backends.js';
import { passGradients } from './helpers/pass-gradients.js';

/** A tiny deterministic uniform source (LCG), so repeated forwards draw the same dropout masks. */
function replayable(seed: number): UniformSource {
  let state = seed >>> 0;
  const nextFloat = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return { nextFloat };
}

const cases: Array<{ config: ModelConfig; label: string }> = [];
for (const cell of CELL_TYPES)
  for (const layers of [1, 2, 3]) {
    cases.push({ label: `${cell} x${layers}`, config: { cell, layers, hidden: 6, vocab: 5, dropout: 0 } });
  }
cases.push({ label: 'lstm x2 dropout 0.3', config: { cell: 'lstm', layers: 2, hidden: 6, vocab: 5, dropout: 0.3 } });
cases.push({ label: 'gru x3 dropout 0.5', config: { cell: 'gru', layers: 3, hidden: 5, vocab: 4, dropout: 0.5 } });

describe.each(kernelBackends())('gradient check, $name kernels', ({ create }) => {
  it.each(cases)('$label', ({ config }) => {
    const batch = 3;
    const seqLength = 5;
    const model = new CharModel(config, create());
    const init = replayable(7);
    // Larger-than-default weights so the gates leave their linear region.
    for (const tensor of model.tensors.values()) {
      for (let i = 0; i < tensor.length; i++) tensor[i] = (init.nextFloat() * 2 - 1) * 0.7;
    }
    const pass = model.createTrainingPass(batch, seqLength);
    for (let i = 0; i < batch * seqLength; i++) {
      pass.inputs[i] = Math.floor(init.nextFloat() * config.vocab);
      pass.targets[i] = Math.floor(init.nextFloat() * config.vocab);
    }
    const initialState = pass.carried.map((s) => ({
      h: s.h.map(() => init.nextFloat() - 0.5),
      c: s.c?.map(() => init.nextFloat() - 0.5),
    }));
    const lossAt = (): number => {
      initialState.forEach((s, layer) => {
        pass.carried[layer]!.h.set(s.h);
        if (s.c) pass.carried[layer]!.c!.set(s.c);
      });
      pass.forward(
        config.dropout > 0 ? Array.from({ length: batch }, (_, stream) => replayable(99 + stream)) : undefined,
      );
      return pass.loss();
    };
    lossAt();
    const gradients = passGradients(model, pass, config.dropout > 0);
    const epsilon = 1e-2;
    let checked = 0;
    for (const [name, tensor] of model.tensors) {
      const gradient = gradients.get(name)!;
      for (let probe = 0; probe < 6; probe++) {
        const index = Math.floor(init.nextFloat() * tensor.length);
        const original = tensor[index]!;
        tensor[index] = original + epsilon;
        const plus = lossAt();
        const step = tensor[index]!;
        tensor[index] = original - epsilon;
        const minus = lossAt();
        const numeric = (plus - minus) / (step - tensor[index]!);
        tensor[index] = original;
        const analytic = gradient[index]!;
        expect(
          Math.abs(numeric - analytic),
          `${name}[${index}] numeric ${numeric} analytic ${analytic}`,
        ).toBeLessThanOrEqual(2e-4 + 2e-2 * Math.abs(analytic));
        checked++;
      }
    }
    expect(checked).toBe(model.tensors.size * 6);
  });
});
