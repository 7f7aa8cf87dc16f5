/**
 * `train --engine torch` end to end, through the built binary: the PyTorch engine's weights equal charrnn's
 * after a few iterations from the same seed (rnn, lstm, gru; Adam and SGD; no dropout, as the engines draw
 * different masks), its events have charrnn's shape, Ctrl-C saves and exits 130, a run resumes on the other
 * engine from its saved iteration, several processes and two "machines" train the same weights, a rank that
 * dies is one line, and no torch is one line. Each iteration's loss is its own (the engine reports a step late),
 * a text too big for one message reaches the device whole, and divergence ends the run as on charrnn. Skipped, with one warning, where no Python imports torch.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { ISHMAEL, onTorch, relativeDifference, TINY, torchPython } from './helpers/torch-runs.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const QUIET = ['--lr-schedule', 'constant', '--eval-every', '0', '--threads', '1'];

const python = torchPython();
let dir: string;

function charrnn(args: string[], environment: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: environment,
    timeout: 120_000,
  });
}

/** Runs charrnn and expects it to succeed. */
function succeed(args: string[]): string {
  const result = charrnn(args);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

const torch = () => onTorch(python as string);

/** The training loss of each progress line, in order. */
const trainLosses = (stdout: string): number[] =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { event: string; trainLoss?: number })
    .flatMap((event) => (event.event === 'progress' ? [event.trainLoss!] : []));

/** Each JSON line's event and its sorted keys. */
const eventShapes = (stdout: string): string[] =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .map((event) => `${event.event}: ${Object.keys(event).sort().join(',')}`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-torch-'));
  writeFileSync(join(dir, 'ishmael.txt'), ISHMAEL);
});

describe('--engine torch without torch', () => {
  it('is one line and exit 1, naming what was tried and how to install it', () => {
    const fakePython = join(dir, 'python-without-torch');
    writeFileSync(fakePython, '#!/bin/sh\necho "ModuleNotFoundError: No module named \'torch\'" >&2\nexit 1\n');
    chmodSync(fakePython, 0o755);
    const given = charrnn([
      'train',
      'ishmael.txt',
      ...TINY,
      '--iters',
      '2',
      '--engine',
      'torch',
      '--python',
      '/bin/false',
    ]);
    expect(given.status).toBe(1);
    expect(given.stderr.trim().split('\n')).toHaveLength(1);
    expect(given.stderr).toMatch(/--python \/bin\/false cannot import torch.*apt-get install python3-torch/);
    const environment = { ...process.env, CHARRNN_PYTHON: fakePython };
    const fromEnvironment = charrnn(
      ['train', 'ishmael.txt', ...TINY, '--iters', '2', '--engine', 'torch'],
      environment,
    );
    expect(fromEnvironment.status).toBe(1);
    expect(fromEnvironment.stderr.trim().split('\n')).toHaveLength(1);
    expect(fromEnvironment.stderr).toMatch(/\$CHARRNN_PYTHON cannot import torch .*No module named 'torch'/);
  });

  it('refuses the PyTorch settings on charrnn', () => {
    const result = charrnn(['train', 'ishmael.txt', ...TINY, '--iters', '2', '--nproc', '2']);
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe('charrnn: --nproc applies only to --engine torch');
  });
});

if (python instanceof Error) {
  describe('--engine torch', () => {
    it.skip(`not tested: ${python.message}`);
  });
  console.warn(`warning: the PyTorch engine is not tested: ${python.message}`);
} else {
  describe('--engine torch', () => {
    for (const cell of ['rnn', 'lstm', 'gru']) {
      for (const optimizer of ['adam', 'sgd']) {
        it(`trains ${cell} with ${optimizer} to charrnn's weights`, () => {
          const args = [
            'train',
            'ishmael.txt',
            ...TINY,
            ...QUIET,
            '--model',
            cell,
            '--optim',
            optimizer,
            '--iters',
            '4',
          ];
          const json = ['--json', '--print-every', '1'];
          const own = succeed([...args, ...json, '-o', `${cell}-${optimizer}-charrnn.json`]);
          const torchRun = succeed([...args, ...json, ...torch(), '-o', `${cell}-${optimizer}-torch.json`]);
          expect(
            relativeDifference(dir, `${cell}-${optimizer}-charrnn.json`, `${cell}-${optimizer}-torch.json`),
          ).toBeLessThan(1e-4);
          expect(eventShapes(torchRun)).toEqual(eventShapes(own));
          // Each iteration's loss is its own, though the engine answers a step with the one before's.
          const ownLosses = trainLosses(own);
          expect(ownLosses).toHaveLength(4);
          for (const [i, loss] of trainLosses(torchRun).entries()) expect(loss).toBeCloseTo(ownLosses[i]!, 4);
          const start = JSON.parse(torchRun.split('\n')[0]!);
          expect(start).toMatchObject({ engine: 'torch', device: 'cpu', processes: 1 });
          expect(start.kernel).toMatch(/^torch \S+ cpu$/);
        });
      }
    }

    it('reads a text of more ids than one message carries from its device copy, as charrnn reads it', () => {
      // 17M characters: the last of 100 streams starts beyond the first 2^24 ids sent, in the second piece.
      const letters = 'abcdefghij \n';
      const text = Buffer.alloc(17_000_000);
      let state = 1;
      for (let i = 0; i < text.length; i++) {
        state = (state * 1103515245 + 12345) >>> 0;
        text[i] = letters.charCodeAt((state >>> 16) % letters.length);
      }
      const big = join(tmpdir(), `charrnn-torch-big-${process.pid}.txt`);
      writeFileSync(big, text);
      try {
        const args = ['train', big, ...TINY, ...QUIET, '--batch', '100', '--val-frac', '0.001', '--iters', '2'];
        const json = ['--json', '--print-every', '1'];
        const own = trainLosses(succeed([...args, ...json, '-o', 'big-charrnn.json']));
        const onTorch = trainLosses(succeed([...args, ...json, ...torch(), '-o', 'big-torch.json']));
        expect(onTorch[0]).toBeCloseTo(own[0]!, 5);
        expect(relativeDifference(dir, 'big-charrnn.json', 'big-torch.json')).toBeLessThan(1e-4);
      } finally {
        rmSync(big, { force: true });
      }
    });

    it('refuses more processes than the batch has streams, before starting any', () => {
      const result = charrnn([
        'train',
        'ishmael.txt',
        ...TINY,
        '--batch',
        '2',
        '--iters',
        '2',
        ...torch(),
        '--nproc',
        '3',
      ]);
      expect(result.status).toBe(2);
      expect(result.stderr.trim()).toBe(
        "charrnn: --batch 2 has fewer streams than the run's 3 processes, each of which trains a share of them; " +
          'raise --batch, or lower --nproc or --nnodes',
      );
    });

    it('ends a diverging run with one line, saving nothing from the step', () => {
      const args = ['train', 'ishmael.txt', ...TINY, '--threads', '1', '--iters', '50', ...torch()];
      const divergent = ['--optim', 'sgd', '--momentum', '0', '--lr', '1e38', '--clip', '0', '--save-every', '1'];
      const result = charrnn([...args, ...divergent, '-o', 'diverge.json']);
      expect(result.status).toBe(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.stderr.trim().split('\n').at(-1)).toMatch(
        /^charrnn: training diverged at iteration \d+: the (loss|gradient norm) is .* keeps the last good weights/,
      );
      // Saved (if at all) from a step before the divergence: it must still load with finite weights.
      if (existsSync(join(dir, 'diverge.json'))) succeed(['sample', '-c', 'diverge.json', '--length', '5']);
    });

    it('saves and exits 130 on Ctrl-C (SIGINT to the process group)', async () => {
      const args = ['train', 'ishmael.txt', ...TINY, ...QUIET, '--iters', '100000', ...torch(), '-o', 'sigint.json'];
      const child = spawn(process.execPath, [BIN, ...args, '--json', '--print-every', '1'], {
        cwd: dir,
        detached: true,
      });
      let stderr = '';
      child.stderr.on('data', (data) => (stderr += data));
      await new Promise<void>((resolveProgress) =>
        child.stdout.on('data', (data: Buffer) => {
          if (data.toString().includes('"progress"')) resolveProgress();
        }),
      );
      // As a terminal's Ctrl-C: the whole group, Node and its Python ranks.
      process.kill(-child.pid!, 'SIGINT');
      const code = await new Promise<number | null>((resolveExit) => child.on('exit', resolveExit));
      expect(code, stderr).toBe(130);
      expect(stderr).toContain('saved sigint.json');
      const saved = loadCheckpoint(join(dir, 'sigint.json')).training!;
      expect(saved.iteration).toBeGreaterThan(0);
      expect(saved.engine).toBe('torch');
    });

    it('resumes on the other engine from the saved iteration, both ways, and info shows the engine', () => {
      const args = [...TINY, ...QUIET, '--model', 'lstm', '--optim', 'adam'];
      succeed(['train', 'ishmael.txt', ...args, '--iters', '3', '-o', 'both.json']);
      succeed(['resume', 'both.json', '--iters', '5', ...torch(), '-q']);
      const onTorch = loadCheckpoint(join(dir, 'both.json')).training!;
      expect(onTorch).toMatchObject({ iteration: 5, engine: 'torch', device: 'cpu' });
      expect(succeed(['info', 'both.json'])).toMatch(/^engine {6}torch on cpu$/m);
      // Without --engine it goes on where it was recorded: on torch; where torch is missing, it says how to go on.
      succeed(['resume', 'both.json', '--iters', '6', '--python', python, '--device', 'cpu', '-q']);
      expect(loadCheckpoint(join(dir, 'both.json')).training).toMatchObject({ iteration: 6, engine: 'torch' });
      const missing = charrnn(['resume', 'both.json', '--iters', '8', '--python', '/bin/false']);
      expect(missing.status).toBe(1);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      expect(missing.stderr).toMatch(/pass --engine charrnn to continue this run on charrnn/);
      succeed(['resume', 'both.json', '--iters', '8', '--engine', 'charrnn', '-q']);
      expect(loadCheckpoint(join(dir, 'both.json')).training).toMatchObject({ iteration: 8, engine: 'charrnn' });
      expect(succeed(['info', 'both.json'])).toMatch(/^engine {6}charrnn on \S+$/m);
      succeed(['train', 'ishmael.txt', ...args, '--iters', '8', '-o', 'straight.json']);
      expect(relativeDifference(dir, 'straight.json', 'both.json')).toBeLessThan(1e-4);
    });

    it('trains the same weights in 2 processes, and on two machines, as in one', async () => {
      const args = ['train', 'ishmael.txt', ...TINY, ...QUIET, '--batch', '7', '--iters', '3', ...torch()];
      succeed([...args, '-o', 'one.json']);
      succeed([...args, '--nproc', '2', '-o', 'two.json']);
      expect(relativeDifference(dir, 'one.json', 'two.json')).toBeLessThan(1e-5);
      const machines = ['--nnodes', '2', '--master-addr', '127.0.0.1', '--master-port', '29517', '-o', 'nodes.json'];
      const second = spawn(process.execPath, [BIN, ...args, ...machines, '--node-rank', '1'], { cwd: dir });
      let secondErr = '';
      second.stderr.on('data', (data) => (secondErr += data));
      const secondExit = new Promise<number | null>((resolveExit) => second.on('exit', resolveExit));
      succeed([...args, ...machines, '--node-rank', '0']);
      expect(await secondExit, secondErr).toBe(0);
      expect(secondErr).toMatch(/^node 1 of 2: joined the run at 127\.0\.0\.1:29517/);
      expect(secondErr).toMatch(/node 1 of 2: finished at iteration 3 .*node 0 wrote the checkpoint/);
      expect(relativeDifference(dir, 'one.json', 'nodes.json')).toBeLessThan(1e-5);
    });

    it('stops with one line within seconds when a rank dies', async () => {
      const args = ['train', 'ishmael.txt', ...TINY, ...QUIET, '--iters', '100000', ...torch(), '--nproc', '2'];
      const child = spawn(process.execPath, [BIN, ...args, '-o', 'died.json', '--json'], { cwd: dir });
      let stderr = '';
      child.stderr.on('data', (data) => (stderr += data));
      await new Promise<void>((resolveProgress) =>
        child.stdout.on('data', (data: Buffer) => {
          if (data.toString().includes('"progress"')) resolveProgress();
        }),
      );
      const ranks = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n');
      process.kill(Number(ranks[ranks.length - 1]), 'SIGKILL');
      const killedAt = Date.now();
      const code = await new Promise<number | null>((resolveExit) => child.on('exit', resolveExit));
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      expect(code).toBe(1);
      const lines = stderr.trim().split('\n');
      expect(lines[lines.length - 1]).toMatch(/^charrnn: the PyTorch engine stopped \(rank \d\): ./);
      expect(stderr).not.toMatch(/\n\s+at /);
    });
  });
}
