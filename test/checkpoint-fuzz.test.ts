/**
 * Property test of the checkpoint loader: damaged files give a clean error or a usable model, never a crash or
 * garbage; a damaged training section is one line that leaves the weights usable, and one that passes resumes.
 */
import fc from 'fast-check';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  parseCheckpoint as parseCheckpointFile,
  tensorData,
  serializeCheckpoint as serializeCheckpointFile,
} from '../src/checkpoint/format.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../src/train/checkpoint.js';
import { tensorSpecs, type ModelConfig } from '../src/core/config.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import { CharModel } from '../src/core/model.js';
import { Vocab } from '../src/data/vocab.js';
import { CharrnnError } from '../src/errors.js';
import { setUpAndTrain } from '../src/train/trainer.js';
import { fingerprint } from '../src/train/state.js';
import { trainingStateFor } from './helpers/training-state.js';

/** A checkpoint as the library reads it: the file parsed, its training section decoded. */
const parseCheckpoint = (text: string, source: string) => decodeCheckpoint(parseCheckpointFile(text, source), source);
/** A checkpoint as the loop saves it: its training section encoded, then the file. */
const serializeCheckpoint = (checkpoint: Checkpoint) => serializeCheckpointFile(encodeCheckpoint(checkpoint));

const config: ModelConfig = { cell: 'lstm', layers: 2, hidden: 4, vocab: 5, dropout: 0 };
const training = trainingStateFor(config, 2);
training.options = { ...training.options, seqLength: 8, evalEvery: 0, saveEvery: 0 };
const valid: Checkpoint = {
  model: config,
  vocab: ['\n', ' ', 'a', 'b', '日'],
  tensors: Object.fromEntries(
    tensorSpecs(config).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return [name, { shape, data: Float32Array.from({ length: size }, (_, i) => Math.sin(i + name.length) * 0.3) }];
    }),
  ),
  training,
};
const text = serializeCheckpoint(valid);
const output = join(mkdtempSync(join(tmpdir(), 'charrnn-fuzz-')), 'resumed.json');

/** Loads; if it loads, the model must run and give finite logits. Any failure must be a CharrnnError. */
function loadAndUse(candidate: string): Checkpoint | undefined {
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(candidate, 'fuzz.json');
  } catch (error) {
    if (!(error instanceof CharrnnError)) throw error;
    expect(error.message).toMatch(/^fuzz\.json/);
    expect(error.message).not.toContain('\n');
    return undefined;
  }
  const model = new CharModel(checkpoint.model, createJsKernels());
  model.load(tensorData(checkpoint));
  const pass = model.createInferencePass(1, 2);
  pass.inputs.set([0, checkpoint.model.vocab - 1]);
  pass.forward();
  expect(pass.logits.every(Number.isFinite)).toBe(true);
  expect(checkpoint.vocab).toHaveLength(checkpoint.model.vocab);
  if (checkpoint.trainingDamage !== undefined) {
    expect(checkpoint.training).toBeUndefined();
    expect(checkpoint.trainingDamage).toMatch(/^fuzz\.json: training\b.*can still be sampled$/);
    expect(checkpoint.trainingDamage).not.toContain('\n');
  }
  return checkpoint;
}

/** Trains one more iteration from a checkpoint whose training section loaded; any failure must be a clean CharrnnError. */
async function resumeOneStep(checkpoint: Checkpoint): Promise<void> {
  const state = checkpoint.training!;
  const vocab = Vocab.fromSymbols(checkpoint.vocab);
  const ids = vocab.encode('ab a\nb 日 '.repeat(60), 'fuzz corpus');
  const data = { vocab, ids, corpus: { path: null, chars: ids.length, fingerprint: fingerprint(ids) } };
  const tensors = tensorData(checkpoint);
  const options = { ...state.options, iterations: state.iteration + 1 };
  try {
    const summary = await setUpAndTrain({ data, kernels: createJsKernels(), output, threads: 1 }, options, {
      training: { ...state, options },
      tensors,
    });
    expect(summary.iterations).toBe(state.iteration + 1);
    expect(parseCheckpoint(readFileSync(output, 'utf8'), 'resumed.json').trainingDamage).toBeUndefined();
  } catch (error) {
    if (!(error instanceof CharrnnError)) throw error;
    expect(error.message).not.toMatch(/internal error|\n/);
  }
}

function paths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  return [prefix, ...Object.entries(value).flatMap(([key, child]) => paths(child, [...prefix, key]))];
}
const allPaths = paths(JSON.parse(text)).filter((path) => path.length > 0);
/** Settings and counters of the training section, where many replacements are still valid and a resume must run. */
const settingPaths = allPaths.filter((path) => path[0] === 'training' && (path[1] === 'options' || path.length === 2));
const replacements = fc.constantFrom<unknown>(undefined, null, 0, -1, 1e9, 'x', [], {}, [1, 2], true, 1.5);

function replaced(path: string[], replacement: unknown): string {
  const json = JSON.parse(text);
  let parent = json;
  for (const key of path.slice(0, -1)) parent = parent[key];
  if (replacement === undefined) delete parent[path[path.length - 1]!];
  else parent[path[path.length - 1]!] = replacement;
  return JSON.stringify(json);
}

describe('checkpoint loader under damage', () => {
  it('survives truncation at any point', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: text.length - 1 }), (cut) => void loadAndUse(text.slice(0, cut))),
      { numRuns: 300 },
    );
  });

  it('survives byte flips', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: text.length - 1 }), fc.integer({ min: 32, max: 126 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const chars = [...text];
          for (const [at, code] of flips) chars[at] = String.fromCharCode(code);
          loadAndUse(chars.join(''));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('survives deleted or replaced fields', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...allPaths),
        replacements,
        (path, replacement) => void loadAndUse(replaced(path, replacement)),
      ),
      { numRuns: 500 },
    );
  });

  it('resumes from any training section that loads, or names what is damaged', async () => {
    expect(loadAndUse(text)!.training).toBeDefined();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...settingPaths),
        fc.constantFrom<unknown>(undefined, null, 0, 1, 3, 0.5, -1, 1e9, 'x', [], true),
        async (path, replacement) => {
          const checkpoint = loadAndUse(replaced(path, replacement));
          if (checkpoint?.training) await resumeOneStep(checkpoint);
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
