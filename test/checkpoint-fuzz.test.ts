/** Property test of the checkpoint loader: damaged files give a clean error or a usable model, never a crash or garbage. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../src/checkpoint/format.js';
import { tensorSpecs, type ModelConfig } from '../src/core/config.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import { CharModel } from '../src/core/model.js';
import { CharrnnError } from '../src/errors.js';

const config: ModelConfig = { cell: 'lstm', layers: 2, hidden: 4, vocab: 5, dropout: 0 };
const valid: Checkpoint = {
  model: config,
  vocab: ['\n', ' ', 'a', 'b', '日'],
  tensors: Object.fromEntries(tensorSpecs(config).map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return [name, { shape, data: Float32Array.from({ length: size }, (_, i) => Math.sin(i + name.length) * 0.3) }];
  })),
  training: { iteration: 1 },
};
const text = serializeCheckpoint(valid);

/** Loads; if it loads, the model must run and give finite logits. Any failure must be a CharrnnError. */
function loadAndUse(candidate: string): void {
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(candidate, 'fuzz.json');
  } catch (error) {
    if (!(error instanceof CharrnnError)) throw error;
    expect(error.message).toMatch(/^fuzz\.json/);
    expect(error.message).not.toContain('\n');
    return;
  }
  const model = new CharModel(checkpoint.model, createJsKernels());
  model.load(Object.fromEntries(Object.entries(checkpoint.tensors).map(([name, tensor]) => [name, tensor.data])));
  const pass = model.createInferencePass(1, 2);
  pass.inputs.set([0, checkpoint.model.vocab - 1]);
  pass.forward();
  expect(pass.logits.every(Number.isFinite)).toBe(true);
  expect(checkpoint.vocab).toHaveLength(checkpoint.model.vocab);
}

function paths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  return [prefix, ...Object.entries(value).flatMap(([key, child]) => paths(child, [...prefix, key]))];
}
const allPaths = paths(JSON.parse(text)).filter((path) => path.length > 0);

describe('checkpoint loader under damage', () => {
  it('survives truncation at any point', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: text.length - 1 }), (cut) => loadAndUse(text.slice(0, cut))), { numRuns: 300 });
  });

  it('survives byte flips', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: text.length - 1 }), fc.integer({ min: 32, max: 126 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const chars = [...text];
        for (const [at, code] of flips) chars[at] = String.fromCharCode(code);
        loadAndUse(chars.join(''));
      }),
      { numRuns: 400 },
    );
  });

  it('survives deleted or replaced fields', () => {
    const replacements = fc.constantFrom<unknown>(undefined, null, 0, -1, 1e9, 'x', [], {}, [1, 2], true, 1.5);
    fc.assert(
      fc.property(fc.constantFrom(...allPaths), replacements, (path, replacement) => {
        const json = JSON.parse(text);
        let parent = json;
        for (const key of path.slice(0, -1)) parent = parent[key];
        if (replacement === undefined) delete parent[path[path.length - 1]!];
        else parent[path[path.length - 1]!] = replacement;
        loadAndUse(JSON.stringify(json));
      }),
      { numRuns: 500 },
    );
  });
});
