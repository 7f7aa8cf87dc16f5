/**
 * The PyTorch engine across processes and "machines" (several launches on 127.0.0.1), through the built
 * binary: SGD in 2 processes with an uneven split of the streams trains the weights of 1 process; Ctrl-C
 * stops every rank at the same step, on one machine or from either of two, and rank 0 saves; a machine
 * that dies ends the other with one line within seconds. test/torch-engine.test.ts has the rest (Adam in 2
 * processes and on 2 machines, a dead local rank). Skipped, with one warning, where no Python imports torch.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { ISHMAEL, onTorch, relativeDifference, TINY, torchPython } from './helpers/torch-runs.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const QUIET = ['--lr-schedule', 'constant', '--eval-every', '0', '--sample-every', '0', '--threads', '1'];

const python = torchPython();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-torch-ddp-'));
  writeFileSync(join(dir, 'ishmael.txt'), ISHMAEL);
});

const torch = () => onTorch(python as string);

/** Runs charrnn to the end and expects it to succeed. */
function succeed(args: string[]): void {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.status, result.stderr).toBe(0);
}

/** A TCP port free on 127.0.0.1 just now (for --master-port). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as { port: number };
  await new Promise<void>((closed) => server.close(() => closed()));
  return port;
}

/** A charrnn run in a process group of its own (as from a terminal), its stderr and exit kept. */
interface Launch {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
  /** Resolves at the first progress event on stdout (with --json). */
  progress: Promise<void>;
}

/** Every launch's process group, killed after the tests in case one was left running. */
const launched: ChildProcess[] = [];

function launch(args: string[]): Launch {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, detached: true });
  launched.push(child);
  let stderr = '';
  child.stderr!.on('data', (data) => (stderr += data));
  const exit = new Promise<number | null>((exited) => child.on('exit', (code) => exited(code)));
  let stdout = '';
  const progress = new Promise<void>((seen, failed) => {
    child.stdout!.on('data', (data: Buffer) => {
      stdout += data.toString();
      if (stdout.includes('"progress"')) seen();
    });
    void exit.then((code) => failed(new Error(`exit ${code} before any progress: ${stderr}`)));
  });
  progress.catch(() => {}); // awaited only where the launch reports progress
  return { child, stderr: () => stderr, exit, progress };
}

afterAll(() => {
  for (const child of launched) {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
});

/** Two launches, machines 0 and 1 of 2 on 127.0.0.1; machine 0 reports in JSON. */
async function twoMachines(output: string): Promise<[Launch, Launch]> {
  const args = ['train', 'ishmael.txt', ...TINY, ...QUIET, '--iters', '100000', ...torch(), '-o', output];
  const machines = ['--nnodes', '2', '--master-addr', '127.0.0.1', '--master-port', String(await freePort())];
  const first = launch([...args, ...machines, '--node-rank', '0', '--json']);
  const second = launch([...args, ...machines, '--node-rank', '1']);
  await first.progress;
  return [first, second];
}

const lastLine = (text: string): string => text.trim().split('\n').at(-1)!;

if (python instanceof Error) {
  describe('--engine torch across processes', () => {
    it.skip(`not tested: ${python.message}`);
  });
  console.warn(`warning: the PyTorch engine is not tested across processes: ${python.message}`);
} else {
  describe('--engine torch across processes', () => {
    it('trains the weights of 1 process in 2 with SGD, the 5 streams split 3 + 2', () => {
      const args = ['train', 'ishmael.txt', ...TINY, ...QUIET, '--optim', 'sgd', '--momentum', '0.9', '--iters', '6'];
      succeed([...args, ...torch(), '-o', 'sgd-one.json']);
      succeed([...args, ...torch(), '--nproc', '2', '-o', 'sgd-two.json']);
      expect(relativeDifference(dir, 'sgd-one.json', 'sgd-two.json')).toBeLessThan(1e-5);
    });

    it('stops every rank at the same step on Ctrl-C; rank 0 saves; exit 130', async () => {
      const args = ['train', 'ishmael.txt', ...TINY, ...QUIET, '--iters', '100000', ...torch(), '--nproc', '2'];
      const run = launch([...args, '-o', 'interrupted.json', '--json']);
      await run.progress;
      process.kill(-run.child.pid!, 'SIGINT'); // a terminal's Ctrl-C: Node and its ranks
      expect(await run.exit, run.stderr()).toBe(130);
      expect(run.stderr()).toContain('saved interrupted.json');
      expect(loadCheckpoint(join(dir, 'interrupted.json')).training).toMatchObject({ engine: 'torch' });
    });

    it('stops both machines at the same iteration on Ctrl-C on machine 1; machine 0 saves', async () => {
      const [first, second] = await twoMachines('nodes-interrupted.json');
      process.kill(-second.child.pid!, 'SIGINT');
      expect(await second.exit, second.stderr()).toBe(130);
      expect(await first.exit, first.stderr()).toBe(130);
      const saved = loadCheckpoint(join(dir, 'nodes-interrupted.json')).training!;
      // Its own lines only, none of them empty (a pipe has no ^C echo to step below).
      expect(second.stderr().trim().split('\n')).toEqual([
        expect.stringMatching(/^node 1 of 2: joined the run at /),
        'interrupted: finishing this step and saving (press Ctrl-C again to quit at once)',
        `node 1 of 2: finished at iteration ${saved.iteration} (interrupted); node 0 wrote the checkpoint and the reports`,
      ]);
      expect(first.stderr()).toContain(`stopped at iteration ${saved.iteration}; saved nodes-interrupted.json`);
    });

    it('ends machine 0 with one line within seconds when machine 1 dies', async () => {
      const [first, second] = await twoMachines('nodes-died.json');
      process.kill(-second.child.pid!, 'SIGKILL');
      const killedAt = Date.now();
      expect(await first.exit, first.stderr()).toBe(1);
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      expect(lastLine(first.stderr())).toMatch(/^charrnn: the PyTorch engine stopped \(rank 0\): lost contact with/);
      expect(first.stderr()).not.toMatch(/\n\s+at /);
    });
  });
}
