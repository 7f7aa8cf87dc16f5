/**
 * Golden checksums: what the built binary computes, pinned bit for bit, so a refactor can prove it
 * moved nothing. Each case trains a small model and hashes the weights, the optimizer buffers and the
 * carried state of its checkpoint (not the options or timings, which may gain fields). A seeded sample
 * and an eval value are pinned the same way. Where a change has to alter the arithmetic (a reduction
 * order, say), re-pin with GOLDEN_PRINT=1 and say why in the commit.
 *
 * WebAssembly results depend on whether the CPU fuses relaxed-SIMD multiply-adds, and native ones on the
 * instruction set (vector width, blocking), so those pins are kept per kernel variant and checked only
 * where the same variant runs; the plain-JS pins hold anywhere. The native kernels run once per
 * instruction set this CPU has (CHARRNN_NATIVE_ISA).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeIsas } from '../src/core/native/kernels-native.js';
import { wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';
import { reportNativeSkip } from './helpers/backends.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = `Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,
and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part
of the world. It is a way I have of driving off the spleen and regulating the circulation.
`.repeat(6);
/** The arithmetic of the pins predates learning-rate schedules: a constant rate, as every run had then. */
const SMALL = ['--hidden', '16', '--layers', '2', '--seq', '12', '--batch', '6', '--iters', '24', '--seed', '7'];
const CONSTANT_RATE = ['--lr-schedule', 'constant'];
/** The learning rate, dropout and warm-up every run had when the pins were taken (a preset sets its own). */
const OLD_DEFAULTS = ['--lr', '2e-3', '--dropout', '0', '--warmup', '0'];

interface GoldenCase {
  name: string;
  args: string[];
}

/** A case per thread count; they must share one pin (the weights do not depend on the threads). */
const threadCases = (name: string, args: string[], threads: number[]): GoldenCase[] =>
  threads.map((count) => ({
    name: `${name} ${count} thread${count > 1 ? 's' : ''}`,
    args: [...args, '--threads', String(count)],
  }));

const CASES: GoldenCase[] = [
  ...threadCases('lstm', ['--model', 'lstm'], [1, 2, 3, 8]),
  ...threadCases('gru', ['--model', 'gru'], [1, 2]),
  ...threadCases('rnn', ['--model', 'rnn'], [1, 2]),
  ...threadCases('lstm dropout', ['--model', 'lstm', '--layers', '3', '--dropout', '0.3'], [1, 2, 5]),
  ...threadCases('gru dropout', ['--model', 'gru', '--dropout', '0.25'], [1, 3]),
  { name: 'sgd', args: ['--optim', 'sgd', '--lr', '0.5', '--momentum', '0.8'] },
  { name: 'adagrad', args: ['--optim', 'adagrad', '--lr', '0.05'] },
  { name: 'rmsprop', args: ['--optim', 'rmsprop', '--lr', '0.003', '--clip', '1'] },
  {
    name: 'adam lr decay',
    args: [
      '--optim',
      'adam',
      '--lr-schedule',
      'step',
      '--lr-decay',
      '0.5',
      '--lr-decay-every',
      '1',
      '--clip-value',
      '0.1',
    ],
  },
  { name: 'min-char-rnn preset', args: ['--preset', 'min-char-rnn', '--hidden', '20', '--iters', '40'] },
  { name: 'cosine with warm-up', args: ['--lr-schedule', 'cosine', '--warmup', '5', '--min-lr', '1e-4'] },
];

/** Pins by kernel variant (the `kernel` of the start event), then case name. */
const GOLDEN: Record<string, Record<string, string>> = {
  js: {
    'gru 1 thread': '524e56d10f81b320c874d99f',
    'gru dropout 1 thread': 'c5893086023334e9af1b4837',
    'lstm 1 thread': '05144539c00ea1ae8a60287c',
    'lstm dropout 1 thread': '78db0b809f5d900753fef637',
    'rnn 1 thread': '2de9144a9a3e900ebcebc8a2',
  },
  'wasm-relaxed-simd': {
    adagrad: '232bf55ff8f3c7bf0e5d5792',
    'adam lr decay': 'f353b50cb695a7c325b899bf',
    'cosine with warm-up': '4db022a79dee6ee9f40bf1ed',
    eval: '{"chars":1823,"loss":3.2253245945088533,"bpc":4.65315979775513}',
    'gru 1 thread': '03efcc4b738df3f04e691cf0',
    'gru 2 threads': '03efcc4b738df3f04e691cf0',
    'gru dropout 1 thread': 'd6dca7f762c78ab90c80e66e',
    'gru dropout 3 threads': 'd6dca7f762c78ab90c80e66e',
    'lstm 1 thread': 'cb41ae4f1df305efc5d09b1f',
    'lstm 2 threads': 'cb41ae4f1df305efc5d09b1f',
    'lstm 3 threads': 'cb41ae4f1df305efc5d09b1f',
    'lstm 8 threads': 'cb41ae4f1df305efc5d09b1f',
    'lstm dropout 1 thread': '993d57a2b14c2bdd9f4997ac',
    'lstm dropout 2 threads': '993d57a2b14c2bdd9f4997ac',
    'lstm dropout 5 threads': '993d57a2b14c2bdd9f4997ac',
    'min-char-rnn preset': '47769821b2b0784a7ca3a5f5',
    rmsprop: '15375f41ae138993173575ef',
    'rnn 1 thread': '414b12518bcebe180d7dad63',
    'rnn 2 threads': '414b12518bcebe180d7dad63',
    sample: 'fbffe0fa8904210ad1fc5960',
    sgd: 'c94bc44a48dacf0c1f219a76',
    'top-k samples': 'f4448c961603c4c7428f2ce3',
  },
  'native-avx2': {
    adagrad: '7893551b21a812f36c7e0c35',
    'adam lr decay': '2f80ca24cf1b8208ba5fc6f1',
    'cosine with warm-up': '541178c26e7c765caf9a5879',
    eval: '{"chars":1823,"loss":3.22532459758654,"bpc":4.653159802195293}',
    'gru 1 thread': '30b11e19938c1a10db6e09b5',
    'gru 2 threads': '30b11e19938c1a10db6e09b5',
    'gru dropout 1 thread': '92399eb7db483c25a1cb39ff',
    'gru dropout 3 threads': '92399eb7db483c25a1cb39ff',
    'lstm 1 thread': 'bd0335a7ebe7797b9832330d',
    'lstm 2 threads': 'bd0335a7ebe7797b9832330d',
    'lstm 3 threads': 'bd0335a7ebe7797b9832330d',
    'lstm 8 threads': 'bd0335a7ebe7797b9832330d',
    'lstm dropout 1 thread': '5e10aa9039093a6dfde4a845',
    'lstm dropout 2 threads': '5e10aa9039093a6dfde4a845',
    'lstm dropout 5 threads': '5e10aa9039093a6dfde4a845',
    'min-char-rnn preset': '34a001eeaa55913dfaeb7dfd',
    rmsprop: 'b8c02a3795c825909d7d4193',
    'rnn 1 thread': '07029b30bfc4cd5a18015ae6',
    'rnn 2 threads': '07029b30bfc4cd5a18015ae6',
    sample: 'fbffe0fa8904210ad1fc5960',
    sgd: '9135ca9f8fe73b3c8a6e06a5',
    'top-k samples': 'f4448c961603c4c7428f2ce3',
  },
  'native-avx512': {
    adagrad: '09d6c551d0e6ac68e6fef26a',
    'adam lr decay': '749019dc6160c52b54c46032',
    'cosine with warm-up': '596b2f4fc45b82f04ff04860',
    eval: '{"chars":1823,"loss":3.225324597985243,"bpc":4.6531598027705}',
    'gru 1 thread': '2b0074460d6ed8395b4f349d',
    'gru 2 threads': '2b0074460d6ed8395b4f349d',
    'gru dropout 1 thread': '475953a681665ed251b5698d',
    'gru dropout 3 threads': '475953a681665ed251b5698d',
    'lstm 1 thread': '531bafcee99fc3bb7d88a489',
    'lstm 2 threads': '531bafcee99fc3bb7d88a489',
    'lstm 3 threads': '531bafcee99fc3bb7d88a489',
    'lstm 8 threads': '531bafcee99fc3bb7d88a489',
    'lstm dropout 1 thread': 'd624baab6303081a29198da0',
    'lstm dropout 2 threads': 'd624baab6303081a29198da0',
    'lstm dropout 5 threads': 'd624baab6303081a29198da0',
    'min-char-rnn preset': '6ad01d9845d2cbd613fb17ae',
    rmsprop: '767595e9757ad3fc454194e1',
    'rnn 1 thread': 'ab2d86785007dcbaa3af682c',
    'rnn 2 threads': 'ab2d86785007dcbaa3af682c',
    sample: 'fbffe0fa8904210ad1fc5960',
    sgd: '7829e69fd7772a44d1a90327',
    'top-k samples': 'f4448c961603c4c7428f2ce3',
  },
  'native-baseline': {
    adagrad: '5e7f7852e49d9c9dfcf222a4',
    'adam lr decay': '9f3936d164b268d241da837e',
    'cosine with warm-up': '650fa478b03bc6ddf8c574bb',
    eval: '{"chars":1823,"loss":3.2253245940700532,"bpc":4.653159797122075}',
    'gru 1 thread': '832f2bd58e4ce397488f3fa1',
    'gru 2 threads': '832f2bd58e4ce397488f3fa1',
    'gru dropout 1 thread': '6528a4a777fd58a04d28f3f6',
    'gru dropout 3 threads': '6528a4a777fd58a04d28f3f6',
    'lstm 1 thread': 'beb428eabfc73160b958bb52',
    'lstm 2 threads': 'beb428eabfc73160b958bb52',
    'lstm 3 threads': 'beb428eabfc73160b958bb52',
    'lstm 8 threads': 'beb428eabfc73160b958bb52',
    'lstm dropout 1 thread': '67c88c60613b1d704aebad59',
    'lstm dropout 2 threads': '67c88c60613b1d704aebad59',
    'lstm dropout 5 threads': '67c88c60613b1d704aebad59',
    'min-char-rnn preset': '8b8bca177a0ae88a61c0ed10',
    rmsprop: 'b6a093b7852e42e84f3d41b5',
    'rnn 1 thread': '581ee91ea394932dbc58ac0b',
    'rnn 2 threads': '581ee91ea394932dbc58ac0b',
    sample: 'fbffe0fa8904210ad1fc5960',
    sgd: 'b875e8358ea66da381fab518',
    'top-k samples': 'f4448c961603c4c7428f2ce3',
  },
};

/** A backend to pin: its --kernel and environment; `variant` is the start event's kernel, once trained. */
interface KernelRun {
  label: string;
  kernel: string;
  env: Record<string, string>;
  variant: string;
}

const RUNS: KernelRun[] = [
  { label: 'js', kernel: 'js', env: {}, variant: 'js' },
  ...(wasmSimdSupported() ? [{ label: 'wasm', kernel: 'wasm', env: {}, variant: '' }] : []),
  ...nativeIsas().map((isa) => ({
    label: `native ${isa}`,
    kernel: 'native',
    env: { CHARRNN_NATIVE_ISA: isa },
    variant: '',
  })),
];

let dir: string;

function charrnn(
  args: string[],
  env: Record<string, string> = {},
): { stdout: string; stderr: string; status: number | null } {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', ...env },
  });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

function digest(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
}

/** Hashes what the arithmetic produced: tensors, optimizer buffers and step, RNG, carried state, position. */
function checkpointDigest(path: string): string {
  const checkpoint = JSON.parse(readFileSync(path, 'utf8'));
  const training = checkpoint.training;
  return digest(
    checkpoint.vocab,
    checkpoint.tensors,
    training.optimizer,
    training.rng,
    training.carried,
    training.iteration,
    training.epoch,
    training.chunk,
  );
}

function trainCase(run: KernelRun, golden: GoldenCase): string {
  const output = join(dir, `${run.label.replace(' ', '-')}-${golden.name.replaceAll(' ', '-')}.json`);
  const args = [
    ...SMALL,
    ...(golden.args.includes('--preset') ? [] : OLD_DEFAULTS),
    ...(golden.args.includes('--lr-schedule') ? [] : CONSTANT_RATE),
    ...golden.args,
  ];
  const result = charrnn(
    ['train', 'corpus.txt', ...args, '--kernel', run.kernel, '-o', output, '--json', '-q'],
    run.env,
  );
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  run.variant = JSON.parse(result.stdout.split('\n')[0]!).kernel;
  return checkpointDigest(output);
}

function check(variant: string, name: string, actual: string): void {
  if (process.env.GOLDEN_PRINT) {
    console.log(`GOLDEN ${variant} | ${name} | ${actual}`);
    return;
  }
  const pinned = GOLDEN[variant]?.[name];
  if (pinned === undefined) {
    console.warn(`no golden pin for ${variant} / ${name}; not checked on this machine`);
    return;
  }
  expect(actual, `${variant} / ${name}`).toBe(pinned);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-golden-'));
  writeFileSync(join(dir, 'corpus.txt'), TEXT);
});

describe('golden checksums (the arithmetic does not move)', () => {
  reportNativeSkip();

  for (const run of RUNS) {
    describe(`--kernel ${run.label}`, () => {
      for (const golden of CASES) {
        // The plain-JS reference is slow: it pins three cells, the optimizers are pinned on the fast kernels.
        if (run.kernel === 'js' && !/1 thread/.test(golden.name)) continue;
        it(golden.name, () => {
          const actual = trainCase(run, golden);
          check(run.variant, golden.name, actual);
        });
      }

      if (run.kernel === 'js') return;
      it('a seeded sample and an eval value', () => {
        const model = join(dir, `${run.label.replace(' ', '-')}-lstm-1-thread.json`);
        const flags = ['-c', model, '--kernel', run.kernel];
        const sample = charrnn(['sample', ...flags, '--seed', '11', '--temp', '0.9', '--length', '300'], run.env);
        expect(sample.status).toBe(0);
        const topK = charrnn(['sample', ...flags, '--seed', '5', '--top-k', '4', '-n', '3', '--length', '40'], run.env);
        expect(topK.status).toBe(0);
        const evaluated = charrnn(['eval', 'corpus.txt', ...flags, '--json'], run.env);
        expect(evaluated.status).toBe(0);
        check(run.variant, 'sample', digest(sample.stdout));
        check(run.variant, 'top-k samples', digest(topK.stdout));
        check(run.variant, 'eval', evaluated.stdout.trim());
      });
    });
  }
});
