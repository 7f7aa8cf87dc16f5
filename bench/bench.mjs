#!/usr/bin/env node
// Training speed of charrnn on a shipped corpus, one JSON line per config; with --compare, the PyTorch
// and numpy reference trainers run in the same session and the ratios are printed (best of --runs each).
// After the lstm-2x128 config, sampling speed from the model it trained, to a pipe (start-up included).
// With --quality SECONDS, instead: the validation loss of `charrnn train --time SECONDS` with default flags,
// against ref_torch.py given the same model, batch, sequence length and learning rate for the same seconds.
//
//   npm run bench -- [--seconds 20] [--runs 3] [--compare] [--only lstm-2x128,...] [--corpus FILE]
//                    [--kernel auto|native|wasm|js] [--threads N]
//   npm run bench -- --quality 120 [--corpus FILE]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    compare: { type: 'boolean', default: false },
    only: { type: 'string' },
    corpus: { type: 'string', default: join(root, 'corpora', 'moby-dick.txt') },
    kernel: { type: 'string', default: 'auto' },
    threads: { type: 'string' },
    quality: { type: 'string' },
    'shared-bench': { type: 'string', default: resolve(root, '..', 'shared', 'bench') },
  },
});
const seconds = Number(flags.quality ?? flags.seconds);
const runs = Number(flags.runs);

const CONFIGS = [
  {
    name: 'min-char-rnn',
    args: ['--preset', 'min-char-rnn'],
    torch: [
      '--model',
      'rnn',
      '--layers',
      '1',
      '--hidden',
      '100',
      '--batch',
      '1',
      '--seq',
      '25',
      '--optim',
      'adagrad',
      '--lr',
      '0.1',
    ],
    numpy: true,
  },
  {
    name: 'lstm-2x128',
    args: ['--model', 'lstm', '--layers', '2', '--hidden', '128', '--batch', '50', '--seq', '50', '--optim', 'adam'],
    torch: ['--model', 'lstm', '--layers', '2', '--hidden', '128', '--batch', '50', '--seq', '50', '--optim', 'adam'],
  },
  {
    name: 'lstm-3x512',
    args: ['--model', 'lstm', '--layers', '3', '--hidden', '512', '--batch', '50', '--seq', '50', '--optim', 'adam'],
    torch: ['--model', 'lstm', '--layers', '3', '--hidden', '512', '--batch', '50', '--seq', '50', '--optim', 'adam'],
  },
  {
    name: 'gru-2x256',
    args: ['--model', 'gru', '--layers', '2', '--hidden', '256', '--batch', '50', '--seq', '50', '--optim', 'adam'],
    torch: ['--model', 'gru', '--layers', '2', '--hidden', '256', '--batch', '50', '--seq', '50', '--optim', 'adam'],
  },
];

function lastJsonLine(text) {
  const lines = text
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'));
  return lines.length ? JSON.parse(lines[lines.length - 1]) : null;
}

/** `charrnn train` on the corpus for `seconds`, JSON lines on stdout; `extra` are the run's own flags. */
function spawnTrain(extra, output) {
  const threads = flags.threads ? ['--threads', flags.threads] : [];
  const timing = ['--time', String(seconds), '--json', '--print-every', '1000000', '--kernel', flags.kernel];
  const args = [join(root, 'bin', 'charrnn'), 'train', flags.corpus, ...extra, ...timing, '-o', output, ...threads];
  return spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
}

function runCharrnn(config, outDir) {
  const speedOnly = ['--eval-every', '0', '--save-every', '0', '--val-frac', '0'];
  const result = spawnTrain([...config.args, ...speedOnly], join(outDir, `${config.name}.json`));
  const done = lastJsonLine(result.stdout);
  if (result.status !== 0 || !done) throw new Error(`charrnn ${config.name} failed: ${result.stderr}`);
  const start = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .find((event) => event.event === 'start');
  return {
    chars_per_s: done.chars_per_s,
    train_loss: done.train_loss,
    kernel: start?.kernel,
    threads: start?.threads ?? 1,
  };
}

const SAMPLE_CHARS = 300_000;

function runSampling(checkpoint) {
  const started = process.hrtime.bigint();
  const result = spawnSync(
    process.execPath,
    [
      join(root, 'bin', 'charrnn'),
      'sample',
      '-c',
      checkpoint,
      '--length',
      String(SAMPLE_CHARS),
      '--seed',
      '1',
      '--kernel',
      flags.kernel,
    ],
    { encoding: 'utf8', maxBuffer: 64 * SAMPLE_CHARS },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`charrnn sample failed: ${result.stderr}`);
  return { chars_per_s: [...result.stdout].length / seconds };
}

function python() {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return probe.status === 0 ? '/usr/bin/python3' : null;
}

function runReference(script, args, { set = {}, unset = [] }) {
  const env = { ...process.env, ...set };
  for (const name of unset) delete env[name];
  const result = spawnSync(
    '/usr/bin/python3',
    [join(flags['shared-bench'], script), flags.corpus, ...args, '--seconds', String(seconds)],
    { encoding: 'utf8', env },
  );
  const line = lastJsonLine(result.stdout);
  if (result.status !== 0 || !line) throw new Error(`${script} failed: ${result.stderr}`);
  return line;
}

// PyTorch's fastest setting on a 2-core machine (see shared/bench/README.md). OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE, set on some of these machines for old OpenBLAS builds, slow a current numpy: unset both.
const TORCH_ENV = { set: { OPENBLAS_NUM_THREADS: '2', OMP_NUM_THREADS: '1' } };
const NUMPY_ENV = { unset: ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'] };

function best(samples) {
  return samples.reduce((a, b) => (b.chars_per_s > a.chars_per_s ? b : a));
}

// Validation loss after `seconds` of training, default flags, on the whole held-out end of the corpus.
function runCharrnnQuality(outDir) {
  const result = spawnTrain(['--val-size', '0'], join(outDir, 'quality.json'));
  const done = lastJsonLine(result.stdout);
  if (result.status !== 0 || !done) throw new Error(`charrnn quality run failed: ${result.stderr}`);
  return {
    iterations: done.iterations,
    chars_per_s: Math.round(done.chars_per_s),
    train_loss: round4(done.train_loss),
    val_nats: round4(done.val_loss),
    val_bpc: round4(done.val_bpc),
  };
}

const round4 = (x) => Number(x.toFixed(4));

// ref_torch.py has no learning-rate schedule or dropout: it gets the defaults' model, batch, sequence length,
// optimizer, clip and (constant) learning rate.
function qualityComparison(outDir, defaults) {
  const line = {
    mode: 'quality',
    seconds,
    corpus: flags.corpus,
    load_before: round4(loadavg()[0]),
    defaults: {
      model: defaults.cell,
      layers: defaults.layers,
      hidden: defaults.hidden,
      batch: defaults.batch,
      seq: defaults.seqLength,
      lr: defaults.learningRate,
      schedule: defaults.lrSchedule,
      warmup: defaults.warmup,
      dropout: defaults.dropout,
    },
  };
  line.charrnn = runCharrnnQuality(outDir);
  if (python() && existsSync(join(flags['shared-bench'], 'ref_torch.py'))) {
    const config = {
      model: defaults.cell,
      layers: defaults.layers,
      hidden: defaults.hidden,
      batch: defaults.batch,
      seq: defaults.seqLength,
      optim: defaults.optimizer,
      lr: defaults.learningRate,
      clip: defaults.clip,
      threads: 1,
    };
    const args = Object.entries(config).flatMap(([name, value]) => [`--${name}`, String(value)]);
    const torch = runReference('ref_torch.py', args, TORCH_ENV);
    line.pytorch = {
      iterations: torch.iters,
      chars_per_s: Math.round(torch.chars_per_s),
      train_loss: torch.train_loss,
      val_nats: torch.val_nats,
      val_bpc: torch.val_bpc,
      schedule: 'constant',
      dropout: 0,
    };
    line.nats_below_pytorch = round4(torch.val_nats - line.charrnn.val_nats);
  } else {
    console.error('bench: PyTorch needs /usr/bin/python3 with torch, and ref_torch.py; measuring charrnn alone');
  }
  line.load_after = round4(loadavg()[0]);
  console.log(JSON.stringify(line));
}

const selected = flags.only ? CONFIGS.filter((config) => flags.only.split(',').includes(config.name)) : CONFIGS;
const outDir = mkdtempSync(join(tmpdir(), 'charrnn-bench-'));
const canCompare = flags.compare && python() !== null && existsSync(join(flags['shared-bench'], 'ref_torch.py'));
if (flags.compare && !canCompare)
  console.error(
    'bench: --compare needs /usr/bin/python3 with torch and numpy and the reference trainers; skipping the references',
  );
try {
  if (flags.quality) {
    const { DEFAULT_TRAIN_OPTIONS } = await import(join(root, 'dist', 'index.js'));
    qualityComparison(outDir, DEFAULT_TRAIN_OPTIONS);
  }
  for (const config of flags.quality ? [] : selected) {
    const ours = [];
    const torch = [];
    const numpy = [];
    for (let run = 0; run < runs; run++) {
      // Interleave the sides so drift in machine load hits both alike.
      ours.push(runCharrnn(config, outDir));
      if (canCompare) torch.push(runReference('ref_torch.py', [...config.torch, '--threads', '1'], TORCH_ENV));
      if (canCompare && config.numpy) numpy.push(runReference('ref_minchar.py', [], NUMPY_ENV));
    }
    const mine = best(ours);
    const line = {
      config: config.name,
      impl: 'charrnn',
      chars_per_s: Math.round(mine.chars_per_s),
      train_loss: mine.train_loss,
      kernel: mine.kernel,
      threads: mine.threads,
      seconds,
      runs,
      all: ours.map((r) => Math.round(r.chars_per_s)),
    };
    if (canCompare) {
      const torchBest = best(torch);
      line.pytorch_chars_per_s = Math.round(torchBest.chars_per_s);
      line.ratio_vs_pytorch = Number((mine.chars_per_s / torchBest.chars_per_s).toFixed(3));
      if (numpy.length) {
        const numpyBest = best(numpy);
        line.numpy_chars_per_s = Math.round(numpyBest.chars_per_s);
        line.ratio_vs_numpy = Number((mine.chars_per_s / numpyBest.chars_per_s).toFixed(3));
      }
    }
    console.log(JSON.stringify(line));
    if (config.name === 'lstm-2x128') {
      const samples = Array.from({ length: runs }, () => runSampling(join(outDir, `${config.name}.json`)));
      console.log(
        JSON.stringify({
          config: 'sample-lstm-2x128',
          impl: 'charrnn',
          chars_per_s: Math.round(best(samples).chars_per_s),
          chars: SAMPLE_CHARS,
          runs,
          all: samples.map((r) => Math.round(r.chars_per_s)),
        }),
      );
    }
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
