/**
 * Inference pays nothing for training and reuses its memory: a loaded model samples and evaluates
 * any number of times in flat memory, a large model samples a thousand times from the CLI, and when
 * kernel memory does run out the error says what needed it, and the model keeps working.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../src/train/checkpoint.js';
import { tensorSpecs, type ModelConfig } from '../src/core/config.js';
import { createJsKernels } from '../src/core/kernels-js.js';
import { CharModel } from '../src/core/model.js';
import { passFloats } from '../src/core/pass-buffers.js';
import { Rng } from '../src/core/rng.js';
import { createKernelMemory } from '../src/core/kernel-memory.js';
import { createWasmKernels, wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';
import { CharrnnError } from '../src/errors.js';
import { LoadedModel } from '../src/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'charrnn');
const TEXT = 'The quick brown fox jumps over the lazy dog; the dog sleeps on.\n'.repeat(30);

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-memory-'));
  writeFileSync(join(dir, 'fox.txt'), TEXT);
});

/** Runs an ES module in a fresh node, so its resident memory is its own. */
function runScript(source: string, timeout = 120_000) {
  const path = join(dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(path, source);
  return spawnSync(process.execPath, [path], { cwd: dir, encoding: 'utf8', timeout });
}

describe('inference memory', () => {
  it('10,000 sample() and evaluate() calls on one loaded model keep resident memory flat', () => {
    const library = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;
    const result = runScript(`
      import { corpusFromText, LoadedModel, trainModel } from ${JSON.stringify(library)};
      const text = ${JSON.stringify(TEXT)};
      const options = { cell: 'lstm', hidden: 32, layers: 2, iterations: 1, seqLength: 8, batch: 2 };
      await trainModel(corpusFromText(text, 'fox.txt'), options, { output: 'fox.json', threads: 1 });
      const model = await LoadedModel.load('fox.json');
      const held = text.slice(0, 20);
      let warm = 0;
      for (let call = 0; call < 10000; call++) {
        model.sample({ length: 5, temperature: 1, seed: call });
        model.evaluate(held);
        if (call === 500) warm = process.memoryUsage().rss;
      }
      console.log(JSON.stringify({ warm, end: process.memoryUsage().rss }));
    `);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const { warm, end } = JSON.parse(result.stdout) as { warm: number; end: number };
    expect(end - warm, `resident memory grew by ${((end - warm) / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(40 * 2 ** 20);
  }, 120_000);

  it('charrnn sample -n 1000 from an LSTM 3x512', () => {
    const big = ['--model', 'lstm', '--layers', '3', '--hidden', '512', '--seq', '4', '--batch', '2', '--iters', '1'];
    const env = { ...process.env, CI: 'true' };
    const trainArgs = ['train', 'fox.txt', ...big, '-o', 'big.json', '-q'];
    const trained = spawnSync(process.execPath, [BIN, ...trainArgs], { cwd: dir, env });
    expect(trained.status).toBe(0);
    const args = ['sample', '-c', 'big.json', '-n', '1000', '--length', '5', '--seed', '3', '--json'];
    const sampled = spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      env,
      encoding: 'utf8',
      maxBuffer: 2 ** 26,
    });
    expect(sampled.stderr).toBe('');
    expect(sampled.status).toBe(0);
    const samples = sampled.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { text: string });
    expect(samples).toHaveLength(1000);
    for (const sample of samples) expect([...sample.text]).toHaveLength(5);
  }, 300_000);
});

const config: ModelConfig = { cell: 'lstm', layers: 1, hidden: 64, vocab: 5, dropout: 0 };

/** A randomly initialized model as a checkpoint, held in memory. */
function checkpoint(): Checkpoint {
  const model = new CharModel(config, createJsKernels());
  model.initialize(new Rng(5));
  const tensor = (name: string, shape: number[]) => [name, { shape, data: model.tensors.get(name)!.slice() }];
  const tensors = Object.fromEntries(tensorSpecs(config).map(({ name, shape }) => tensor(name, shape)));
  return { model: config, vocab: ['\n', 'a', 'b', 'c', 'd'], tensors };
}

it('generate() iterators alive at the same time each keep their own state', () => {
  const model = LoadedModel.fromCheckpoint(checkpoint(), createJsKernels());
  const options = (seed: number) => ({ length: 40, temperature: 1, seed });
  const alone = [1, 2].map((seed) => model.sample(options(seed)));
  const [first, second] = [1, 2].map((seed) => model.generate(options(seed)));
  const texts = ['', ''];
  for (let i = 0; i < 40; i++) {
    texts[0] += first!.next().value!.char;
    texts[1] += second!.next().value!.char;
  }
  expect(texts).toEqual(alone);
  // Both went back to the pool: later samples still match.
  expect(model.sample(options(2))).toBe(alone[1]);
});

describe.runIf(wasmSimdSupported())('running out of kernel memory', () => {
  /** Kernels whose heap holds the model and a sampling pass, but not evaluate()'s 256-step pass. */
  function tightKernels() {
    const heapStart = createWasmKernels(createKernelMemory()).alloc(1).byteOffset;
    // A loaded model's passes have fixed weights.
    const passSize = (seqLength: number) => passFloats(config, 1, seqLength, false, true);
    const floats = 2 * new CharModel(config, createWasmKernels()).layout.size + passSize(1);
    const limit = heapStart + floats * 4 + (passSize(256) * 4) / 2;
    return createWasmKernels(createKernelMemory(limit));
  }

  it('is a CharrnnError naming what needed memory, and the model keeps working', () => {
    const saved = checkpoint();
    const model = LoadedModel.fromCheckpoint(saved, tightKernels());
    const unlimited = LoadedModel.fromCheckpoint(saved, createWasmKernels());
    const expected = unlimited.sample({ length: 30, temperature: 1, seed: 9 });
    for (let attempt = 0; attempt < 3; attempt++) {
      let caught: unknown;
      try {
        model.evaluate('abcd\nabcd\n');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CharrnnError);
      expect((caught as Error).message).toMatch(
        /^evaluating a text needs [\d.]+ MiB more kernel memory, but only [\d.]+ MiB .* free; .*smaller hidden size/,
      );
      expect(model.sample({ length: 30, temperature: 1, seed: 9 })).toBe(expected);
    }
  });
});
