/** The table of pass buffers is what the passes allocate, and inference allocates nothing for training. */
import { describe, expect, it } from 'vitest';
import { CELL_TYPES, type CellType, type ModelConfig } from '../src/core/config.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import { CharModel, passBuffers, passFloats } from '../src/core/model.js';
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
    for (const training of [false, true]) {
      const before = position();
      if (training) model.createTrainingPass(batch, seqLength);
      else model.createInferencePass(batch, seqLength);
      const used = position() - before - 64;
      expect(used).toBe(Math.ceil((passFloats(config, batch, seqLength, training) * 4) / 64) * 64);
    }
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
