/** The table of pass buffers is what the passes allocate, and inference allocates nothing for training. */
import { describe, expect, it } from 'vitest';
import { alignFloats, CELL_TYPES, type CellType, type ModelConfig } from '../src/core/config.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import { CharModel } from '../src/core/model.js';
import { passBuffers, passFloats } from '../src/core/pass-buffers.js';
import { createWasmKernels, wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';

const cases = CELL_TYPES.flatMap((cell) => [0, 0.3].map((dropout) => [cell, dropout] as [CellType, number]));
const [batch, seqLength] = [3, 5];

describe.runIf(wasmSimdSupported())('pass buffers', () => {
  it.each(cases)('%s, dropout %s: a pass allocates exactly what passFloats says', (cell, dropout) => {
    const config: ModelConfig = { cell, layers: 3, hidden: 24, vocab: 7, dropout };
    const kernels = createWasmKernels();
    const model = new CharModel(config, kernels);
    // Each probe reserves 64 bytes: the heap's position just after the previous allocation.
    const position = () => kernels.alloc(1).byteOffset;
    // Inference with fixed weights also holds the transposed W_ih of each layer and decoder.weight.
    const passes = [
      { training: false, fixedWeights: false },
      { training: false, fixedWeights: true },
      { training: true, fixedWeights: false },
    ];
    for (const { training, fixedWeights } of passes) {
      const before = position();
      if (training) model.createTrainingPass(batch, seqLength);
      else model.createInferencePass(batch, seqLength, { fixedWeights });
      const used = position() - before - 64;
      const floats = passFloats(config, batch, seqLength, training, fixedWeights);
      expect(used).toBe(Math.ceil((floats * 4) / 64) * 64);
    }
    // Exactly those: decoder.weightᵀ [H, V], W_ihᵀ [V, gates·H] of layer 0 and [H, gates·H] of each above.
    const gates = { rnn: 1, lstm: 4, gru: 3 }[cell];
    const { vocab, hidden, layers } = config;
    const transposed =
      alignFloats(hidden * vocab) +
      alignFloats(vocab * gates * hidden) +
      (layers - 1) * alignFloats(hidden * gates * hidden);
    const extra = passFloats(config, batch, seqLength, false, true) - passFloats(config, batch, seqLength, false);
    expect(extra).toBe(transposed);
  });
});

describe('inference pays nothing for training', () => {
  it.each(cases)('%s, dropout %s', (cell, dropout) => {
    const config: ModelConfig = { cell, layers: 3, hidden: 24, vocab: 7, dropout };
    const inference = passBuffers(config, batch, seqLength, false);
    expect(inference.decoder.backward).toBeNull();
    expect(inference.layers.every((layer) => layer.backward === null)).toBe(true);
    expect(inference.carried.every((state) => state.backward === null)).toBe(true);
    expect(inference.dropout).toEqual([]);
    const model = new CharModel(config, createJsKernels());
    const trainingExtra = passFloats(config, batch, seqLength, true) - passFloats(config, batch, seqLength, false);
    expect(trainingExtra).toBeGreaterThan(0);
    const pass = model.createInferencePass(batch, seqLength);
    expect('backward' in pass || 'gradients' in pass).toBe(false);
  });
});
