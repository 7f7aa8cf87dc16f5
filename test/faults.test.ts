/**
 * Faults during training, through the built binary: SIGTERM and a second Ctrl-C, a disk that fills up
 * or turns read-only mid-run. The saved checkpoint always loads, and resuming after an interruption
 * ends bit-identical to a run that was never interrupted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/train/checkpoint.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT =
  'Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul. '.repeat(
    40,
  );
const ENV = { ...process.env, CI: 'true' };

let dir: string;

function run(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: ENV });
}

function weightsAndState(path: string) {
  const { tensors, training } = JSON.parse(readFileSync(path, 'utf8'));
  return {
    tensors,
    iteration: training.iteration,
    optimizer: training.optimizer,
    rng: training.rng,
    carried: training.carried,
    chunk: training.chunk,
    epoch: training.epoch,
  };
}

/** Resolves once the child has printed a progress line for at least `iteration`. */
function progressReached(child: ChildProcess, iteration: number): Promise<void> {
  return new Promise((done) => {
    let buffered = '';
    child.stdout!.on('data', (data: Buffer) => {
      buffered += data.toString();
      const reached = buffered
        .split('\n')
        .some((line) => line.startsWith('{"event":"progress"') && JSON.parse(line).iteration >= iteration);
      if (reached) done();
    });
  });
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((done) => child.on('exit', (code) => done(code)));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-faults-'));
  writeFileSync(join(dir, 'text.txt'), TEXT);
});

describe('signals', () => {
  // Dropout draws from the RNG every step, so an exact resume needs the RNG state as well as the weights.
  const FLAGS = [
    '--hidden',
    '24',
    '--layers',
    '2',
    '--seq',
    '16',
    '--batch',
    '6',
    '--dropout',
    '0.25',
    '--eval-every',
    '40',
    '--save-every',
    '1000',
    '--iters',
    '600',
  ];

  it('SIGTERM saves and exits 143; resuming ends bit-identical to an uninterrupted run', async () => {
    expect(run(['train', 'text.txt', ...FLAGS, '-q', '-o', 'whole.json']).status).toBe(0);
    const child = spawn(
      process.execPath,
      [BIN, 'train', 'text.txt', ...FLAGS, '--json', '--print-every', '1', '-o', 'split.json'],
      { cwd: dir, env: ENV },
    );
    let stderr = '';
    child.stderr!.on('data', (data) => (stderr += data));
    await progressReached(child, 25);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(143);
    expect(stderr).toMatch(/stopped at iteration \d+; saved split\.json \(continue with: charrnn resume split\.json\)/);
    const stoppedAt = weightsAndState(join(dir, 'split.json')).iteration;
    expect(stoppedAt).toBeGreaterThanOrEqual(25);
    expect(stoppedAt).toBeLessThan(600);
    expect(run(['resume', 'split.json', '-q']).status).toBe(0);
    expect(weightsAndState(join(dir, 'split.json'))).toEqual(weightsAndState(join(dir, 'whole.json')));
    // Three runs of 600 iterations: seconds alone, far more on a loaded machine.
  }, 60_000);

  it('a second Ctrl-C quits without waiting to save, and the last checkpoint still loads', async () => {
    // Big enough that a step takes a while, saving every step so a save is often under way.
    const args = [
      'train',
      'text.txt',
      '--hidden',
      '256',
      '--layers',
      '2',
      '--seq',
      '32',
      '--batch',
      '16',
      '--save-every',
      '1',
      '--eval-every',
      '0',
      '--iters',
      '100000',
      '--json',
      '--print-every',
      '1',
      '-o',
      'twice.json',
    ];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: ENV });
    let stderr = '';
    child.stderr!.on('data', (data) => (stderr += data));
    await progressReached(child, 2);
    child.kill('SIGINT');
    child.kill('SIGINT');
    expect(await exitOf(child)).toBe(130);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(loadCheckpoint(join(dir, 'twice.json')).training!.iteration).toBeGreaterThanOrEqual(1);
  });
});

/** A 512 KiB tmpfs: needs root and mount(8), as CI and the developer machines have; skipped elsewhere. */
const mountPoint = join(tmpdir(), `charrnn-small-disk-${process.pid}`);
mkdirSync(mountPoint, { recursive: true });
const mounted =
  process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mountPoint]).status === 0;
if (!mounted) console.warn('disk-full and read-only tests skipped: cannot mount a small tmpfs here (needs root)');

afterAll(() => {
  if (mounted) spawnSync('umount', [mountPoint]);
});

describe.skipIf(!mounted)('a full or read-only disk', () => {
  const TINY = [
    '--hidden',
    '8',
    '--layers',
    '1',
    '--seq',
    '8',
    '--batch',
    '4',
    '--eval-every',
    '0',
    '--iters',
    '5',
    '-q',
  ];
  const target = join(mountPoint, 'model.json');

  it('reports a full disk in one line and leaves the previous checkpoint untouched', () => {
    expect(run(['train', 'text.txt', ...TINY, '-o', target]).status).toBe(0);
    const before = readFileSync(target);
    // About a megabyte of weights does not fit in what is left of 512 KiB.
    const result = run([
      'train',
      'text.txt',
      '--hidden',
      '128',
      '--layers',
      '2',
      '--seq',
      '8',
      '--batch',
      '4',
      '--iters',
      '2',
      '-q',
      '-o',
      target,
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^charrnn: cannot save .*model\.json: the disk is full; free some space \(the previous checkpoint is untouched\)\n$/,
    );
    expect(readFileSync(target).equals(before)).toBe(true);
    expect(readdirSync(mountPoint).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a read-only output before training, leaving the checkpoint untouched', () => {
    const before = readFileSync(target);
    expect(spawnSync('mount', ['-o', 'remount,ro', mountPoint]).status).toBe(0);
    try {
      const result = run(['train', 'text.txt', ...TINY, '-o', target]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(
        /^charrnn: cannot save .*model\.json: .* is not writable; choose another place with -o/,
      );
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(readFileSync(target).equals(before)).toBe(true);
    } finally {
      spawnSync('mount', ['-o', 'remount,rw', mountPoint]);
    }
  });

  it('a --log that fills the disk stops the run after saving the checkpoint elsewhere: two lines, exit 1', () => {
    rmSync(target, { force: true });
    writeFileSync(join(mountPoint, 'filler'), Buffer.alloc(400 * 1024));
    try {
      const log = join(mountPoint, 'run.log');
      const model = [
        '--hidden',
        '8',
        '--layers',
        '1',
        '--seq',
        '8',
        '--batch',
        '4',
        '--eval-every',
        '0',
        '--print-every',
        '1',
      ];
      const result = run([
        'train',
        'text.txt',
        ...model,
        '--iters',
        '1000000',
        '--log',
        log,
        '-q',
        '-o',
        'beside-full-log.json',
      ]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `^charrnn: cannot write the log to ${log}: the disk is full \\(ENOSPC\\); ` +
            'stopping after this step to save the checkpoint\n' +
            'stopped at iteration (\\d+); saved beside-full-log\\.json ' +
            '\\(continue with: charrnn resume beside-full-log\\.json\\)\n$',
        ),
      );
      const stoppedAt = Number(/stopped at iteration (\d+)/.exec(result.stderr)![1]);
      expect(loadCheckpoint(join(dir, 'beside-full-log.json')).training!.iteration).toBe(stoppedAt);
      // The log holds whole lines up to the one that did not fit.
      const lines = readFileSync(log, 'utf8').split('\n');
      for (const line of lines.slice(0, -2)) expect(() => JSON.parse(line)).not.toThrow();
    } finally {
      rmSync(join(mountPoint, 'filler'), { force: true });
    }
  });
});

describe('worker threads', () => {
  it('stay in step over many tiny steps (a lost wake-up once hung training within seconds)', () => {
    const result = spawnSync(
      process.execPath,
      [
        BIN,
        'train',
        'text.txt',
        '--hidden',
        '8',
        '--layers',
        '1',
        '--seq',
        '4',
        '--batch',
        '2',
        '--iters',
        '20000',
        '--eval-every',
        '0',
        '--save-every',
        '0',
        '--threads',
        '2',
        '-q',
        '-o',
        'steps.json',
      ],
      { cwd: dir, encoding: 'utf8', env: ENV, timeout: 60_000, killSignal: 'SIGKILL' },
    );
    expect(result.signal).toBeNull();
    expect(result.status).toBe(0);
    expect(loadCheckpoint(join(dir, 'steps.json')).training!.iteration).toBe(20000);
  }, 70_000);
});
