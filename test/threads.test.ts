/**
 * Worker threads through the built binary: the same weights and validation for any thread count, the
 * thread count actually used, resuming a run made by the release with shards, and a worker that dies
 * or runs out of kernel memory.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeIsas } from '../src/core/native/kernels-native.js';
import { wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';
import { reportNativeSkip } from './helpers/backends.js';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = resolve(ROOT, 'bin', 'charrnn');
const FIXTURES = resolve(import.meta.dirname, 'fixtures');
// The golden test's corpus: the fixture below was trained on it.
const TEXT = `Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,
and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part
of the world. It is a way I have of driving off the spleen and regulating the circulation.
`.repeat(6);
const SMALL = ['--hidden', '16', '--layers', '2', '--seq', '12', '--batch', '16', '--seed', '3', '--save-every', '0'];

let dir: string;

function charrnn(args: string[], env: Record<string, string> = {}, nodeFlags: string[] = []): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...nodeFlags, BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', ...env },
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
}

function lines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** What the arithmetic produced: weights, optimizer, RNG, carried state and the validation history. */
function arithmeticOf(path: string): unknown {
  const { tensors, training } = JSON.parse(readFileSync(path, 'utf8'));
  return {
    tensors,
    optimizer: training.optimizer,
    rng: training.rng,
    carried: training.carried,
    history: training.history,
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-threads-'));
  writeFileSync(join(dir, 'corpus.txt'), TEXT);
});

/** The shared-memory backends to train on: WebAssembly, and the native kernels per instruction set. */
const THREADED_KERNELS = [
  ...(wasmSimdSupported() ? [{ kernel: 'wasm', isa: '' }] : []),
  ...nativeIsas().map((isa) => ({ kernel: 'native', isa })),
];

describe('worker threads', () => {
  reportNativeSkip();

  it.each(THREADED_KERNELS)(
    'give bit-identical weights and validation with 1, 2, 3 and 8 threads, and report the threads used ($kernel $isa)',
    ({ kernel, isa }) => {
      const flags = [...SMALL, '--dropout', '0.2', '--iters', '16', '--eval-every', '8', '--json', '-q'];
      const env: Record<string, string> = isa ? { CHARRNN_NATIVE_ISA: isa } : {};
      const results = [1, 2, 3, 8].map((threads) => {
        const output = `t${kernel}${isa}${threads}.json`;
        const args = ['train', 'corpus.txt', ...flags, '--kernel', kernel, '--threads', String(threads), '-o', output];
        const result = charrnn(args, env);
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        const events = lines(result.stdout);
        expect(events[0]).toMatchObject({ event: 'start', threads });
        if (isa) expect(events[0]).toMatchObject({ kernel: `native-${isa}` });
        return { events, arithmetic: arithmeticOf(join(dir, output)) };
      });
      const valLosses = results.map(({ events }) =>
        events.filter((event) => event.event === 'eval').map((event) => event.valLoss),
      );
      expect(valLosses[0]).toHaveLength(2);
      for (const result of results.slice(1)) expect(result.arithmetic).toEqual(results[0]!.arithmetic);
      for (const losses of valLosses.slice(1)) expect(losses).toEqual(valLosses[0]);
    },
    60_000,
  );

  it('use one per core by default, and no more threads than streams', () => {
    const start = (args: string[]) =>
      lines(charrnn(['train', 'corpus.txt', ...SMALL, '--iters', '1', '--json', ...args]).stdout)[0];
    expect(start(['-o', 'default.json'])).toMatchObject({ threads: availableParallelism() });
    expect(start(['--batch', '3', '--threads', '8', '-o', 'capped.json'])).toMatchObject({ threads: 3 });
  }, 30_000);

  it('resume a run saved by the release with shards (its --shards is ignored) identically on any thread count', () => {
    // Made by a release that cut batches into shards: train corpus.txt --hidden 8 --layers 2 --seq 12
    // --batch 6 --seed 7 --optim adagrad --lr 0.05 --iters 12 (two shards, its default then).
    const digests = ['1', '2', '4'].map((threads) => {
      const path = join(dir, `former-${threads}.json`);
      copyFileSync(join(FIXTURES, 'shards2-adagrad-iter12.json'), path);
      const args = ['resume', path, '--corpus', 'corpus.txt', '--iters', '24', '--threads', threads, '--json'];
      const result = charrnn(args);
      expect(result.status).toBe(0);
      const { tensors, training } = JSON.parse(readFileSync(path, 'utf8'));
      expect(training.iteration).toBe(24);
      return createHash('sha256')
        .update(JSON.stringify([tensors, training.optimizer, training.rng, training.carried, training.history]))
        .digest('hex');
    });
    expect(digests[1]).toBe(digests[0]);
    expect(digests[2]).toBe(digests[0]);
  }, 30_000);

  describe('a worker that dies', () => {
    // Each worker dies when its 15th request arrives: training step 8's forward-backward (two requests a step).
    const preload = ['--import', pathToFileURL(join(ROOT, 'test', 'helpers', 'worker-failure.mjs')).href];
    const cases = [
      { failure: 'exit 15', cause: 'it exited with code 7' },
      { failure: 'throw 15', cause: 'test failure in a worker at request 15' },
    ];
    for (const { failure, cause } of cases) {
      it(`stops training at once with the cause, exit code 1 and the last checkpoint intact (${failure})`, () => {
        const output = join(dir, `dies-${failure.replace(' ', '-')}.json`);
        const flags = [
          ...SMALL,
          '--save-every',
          '5',
          '--eval-every',
          '0',
          '--iters',
          '40',
          '--threads',
          '2',
          '-q',
          '-o',
          output,
        ];
        const started = performance.now();
        const env = { CHARRNN_WORKER_FAILURE: failure };
        const result = charrnn(['train', 'corpus.txt', ...flags], env, preload);
        expect(result.signal).toBeNull();
        expect(result.status).toBe(1);
        expect(result.stderr).toBe(
          `charrnn: a training worker thread stopped: ${cause}; ` +
            'nothing from this step was saved, the last checkpoint is intact\n',
        );
        expect(performance.now() - started).toBeLessThan(15_000);
        const saved = JSON.parse(readFileSync(output, 'utf8'));
        expect(saved.training.iteration).toBe(5);
        expect(charrnn(['resume', output, '--iters', '10', '-q']).status).toBe(0);
      }, 30_000);
    }
  });

  describe.runIf(wasmSimdSupported())('a worker that runs out of kernel memory', () => {
    /**
     * Trains through the library on two threads with a heap that holds what the main thread lays out
     * (parameters, gradients, both threads' passes, and 256 KiB for its own tables) but not the
     * worker's kernel workspace.
     */
    const TIGHT_TRAINING = `
import { corpusFromText } from '${ROOT}/src/index.js';
import { CharModel } from '${ROOT}/src/core/model.js';
import { passFloats } from '${ROOT}/src/core/pass-buffers.js';
import { createKernelMemory } from '${ROOT}/src/core/kernel-memory.js';
import { createWasmKernels } from '${ROOT}/src/core/wasm/kernels-wasm.js';
import { resolveTrainOptions } from '${ROOT}/src/train/options.js';
import { fingerprint } from '${ROOT}/src/train/state.js';
import { setUpAndTrain } from '${ROOT}/src/train/trainer.js';

const options = resolveTrainOptions({ hidden: 64, batch: 20, seqLength: 20, iterations: 2 });
const { vocab, ids } = corpusFromText('the cat sat on the mat. '.repeat(400));
const config = { cell: options.cell, layers: options.layers, hidden: 64, vocab: vocab.size, dropout: 0 };
const heapStart = createWasmKernels(createKernelMemory()).alloc(1).byteOffset;
const parameters = new CharModel(config, createWasmKernels()).layout.size;
const passes = 2 * (passFloats(config, 10, 20, true) + passFloats(config, 10, 20, false));
const kernels = createWasmKernels(createKernelMemory(heapStart + (2 * parameters + passes) * 4 + 2 ** 18));
const data = { vocab, ids, corpus: { path: null, chars: ids.length, fingerprint: fingerprint(ids) } };
try {
  await setUpAndTrain({ data, kernels, output: 'tight.json', threads: 2 }, options, null);
  console.log('trained');
} catch (error) {
  console.log(error.message);
}
`;

    it('is the explained memory error the main thread gives, before training starts', async () => {
      const { build } = await import('esbuild');
      writeFileSync(join(dir, 'tight.ts'), TIGHT_TRAINING);
      // The worker's script must sit beside the bundle that starts it, as dist/worker.js does.
      const script = join(dir, 'tight', 'train.js');
      const bundle = { bundle: true, platform: 'node', format: 'esm' } as const;
      await build({ entryPoints: [join(dir, 'tight.ts')], outfile: script, ...bundle });
      copyFileSync(join(ROOT, 'dist', 'worker.js'), join(dir, 'tight', 'worker.js'));
      const result = spawnSync(process.execPath, [script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(/^training this model needs [\d.]+ MiB more kernel memory, but only [\d.]+ MiB /);
      expect(result.stdout).toMatch(/ heap are free; lower --batch, --seq, --hidden or --layers\n$/);
      expect(existsSync(join(dir, 'tight.json'))).toBe(false);
    }, 30_000);
  });
});
