/**
 * End-to-end: spawn the built binary (npm test builds it first) on small corpora and check stdout, stderr,
 * exit codes, files.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const ENGLISH =
  `It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness,
it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of Darkness.
`.repeat(12);
const CJK = '春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。🌸🐦\n'.repeat(40);
/** Small and quick: every CLI test trains this model. */
/** A rate that does not depend on the run's length, for runs extended by resume. */
const CONSTANT_RATE = ['--lr-schedule', 'constant'];
const TINY = [
  '--model',
  'lstm',
  '--hidden',
  '16',
  '--layers',
  '2',
  '--seq',
  '16',
  '--batch',
  '4',
  '--eval-every',
  '10',
  '--save-every',
  '10',
];

let dir: string;
let corpus: string;

function run(args: string[], options: { input?: string; cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? dir,
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
}

function tensorsOf(path: string): Record<string, unknown> {
  const checkpoint = JSON.parse(readFileSync(path, 'utf8'));
  return {
    tensors: checkpoint.tensors,
    optimizer: checkpoint.training?.optimizer,
    rng: checkpoint.training?.rng,
    carried: checkpoint.training?.carried,
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-cli-'));
  corpus = join(dir, 'tale.txt');
  writeFileSync(corpus, ENGLISH);
  writeFileSync(join(dir, 'poem.txt'), CJK);
});

describe('charrnn CLI', () => {
  it('trains, samples, resumes and evaluates', () => {
    const trained = run(['train', 'tale.txt', ...TINY, '--iters', '20']);
    expect(trained.stderr).toContain('done:');
    expect(trained.status).toBe(0);
    expect(trained.stdout).toBe('');
    const checkpointPath = join(dir, 'checkpoints', 'tale.json');
    expect(existsSync(checkpointPath)).toBe(true);
    expect(existsSync(join(dir, 'checkpoints', 'tale.best.json'))).toBe(true);
    const checkpoint = JSON.parse(readFileSync(checkpointPath, 'utf8'));
    expect(checkpoint.format).toBe('charrnn-checkpoint');
    expect(checkpoint.version).toBe(1);
    const { vocab } = checkpoint;
    expect(checkpoint.model).toEqual({ cell: 'lstm', layers: 2, hidden: 16, vocab: vocab.length, dropout: 0 });
    expect(checkpoint.tensors.weight_ih_l0.shape).toEqual([64, checkpoint.vocab.length]);
    expect(checkpoint.training.iteration).toBe(20);

    const sampled = run(['sample', '--length', '300', '--seed', '3', '--temp', '0.8']);
    expect(sampled.status).toBe(0);
    expect(sampled.stderr).toBe('');
    expect([...sampled.stdout.trimEnd()].length).toBe(300);
    for (const char of sampled.stdout.trimEnd()) expect(checkpoint.vocab).toContain(char);

    const resumed = run(['resume', checkpointPath, '--iters', '30']);
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toContain('resuming');
    expect(JSON.parse(readFileSync(checkpointPath, 'utf8')).training.iteration).toBe(30);

    const evaluated = run(['eval', 'tale.txt', '--checkpoint', checkpointPath, '--json']);
    expect(evaluated.status).toBe(0);
    const result = JSON.parse(evaluated.stdout);
    expect(result.chars).toBe([...ENGLISH].length - 1);
    expect(result.bpc).toBeCloseTo(result.loss / Math.LN2, 10);
    expect(result.loss).toBeGreaterThan(0);
    expect(result.loss).toBeLessThan(Math.log(checkpoint.vocab.length));
  });

  it('is deterministic for a seed: same checkpoint tensors, same samples', () => {
    run(['train', 'tale.txt', ...TINY, '--iters', '8', '--seed', '42', '--dropout', '0.2', '-o', 'a.json']);
    run(['train', 'tale.txt', ...TINY, '--iters', '8', '--seed', '42', '--dropout', '0.2', '-o', 'b.json']);
    const other = run([
      'train',
      'tale.txt',
      ...TINY,
      '--iters',
      '8',
      '--seed',
      '43',
      '--dropout',
      '0.2',
      '-o',
      'c.json',
    ]);
    expect(other.status).toBe(0);
    expect(tensorsOf(join(dir, 'a.json'))).toEqual(tensorsOf(join(dir, 'b.json')));
    expect(tensorsOf(join(dir, 'a.json')).tensors).not.toEqual(tensorsOf(join(dir, 'c.json')).tensors);
    const first = run(['sample', '-c', 'a.json', '--seed', '7', '--length', '200']);
    const second = run(['sample', '-c', 'b.json', '--seed', '7', '--length', '200']);
    expect(first.stdout).toBe(second.stdout);
    expect(first.stdout.length).toBeGreaterThan(0);
  });

  it.each(['lstm', 'gru', 'rnn'])(
    'resume is bit-identical to an uninterrupted run (%s, dropout, evals between)',
    (cell) => {
      // Extending --iters re-plans a cosine schedule over the new length, so extending equals an uninterrupted
      // run only for a rate that does not depend on the length; interruptions keep cosine exact (faults.test.ts).
      const flags = [
        ...TINY,
        ...CONSTANT_RATE,
        '--model',
        cell,
        '--dropout',
        '0.25',
        '--seed',
        '5',
        '--eval-every',
        '7',
      ];
      flags.push('--save-every', '7');
      expect(run(['train', 'tale.txt', ...flags, '--iters', '40', '-o', `whole-${cell}.json`]).status).toBe(0);
      expect(run(['train', 'tale.txt', ...flags, '--iters', '17', '-o', `split-${cell}.json`]).status).toBe(0);
      const resumed = run(['resume', `split-${cell}.json`, '--iters', '40']);
      expect(resumed.status).toBe(0);
      expect(tensorsOf(join(dir, `split-${cell}.json`))).toEqual(tensorsOf(join(dir, `whole-${cell}.json`)));
    },
  );

  it('gives bit-identical weights with 1 and 2 threads', () => {
    const flags = [...TINY, '--batch', '6', '--dropout', '0.1', '--iters', '12', '--json'];
    const one = run(['train', 'tale.txt', ...flags, '--threads', '1', '-o', 'threads1.json']);
    const two = run(['train', 'tale.txt', ...flags, '--threads', '2', '-o', 'threads2.json']);
    expect(one.status).toBe(0);
    expect(two.status).toBe(0);
    const threadsOf = (stdout: string) => JSON.parse(stdout.split('\n')[0]!).threads;
    expect(threadsOf(one.stdout)).toBe(1);
    expect(threadsOf(two.stdout)).toBe(2);
    expect(tensorsOf(join(dir, 'threads2.json'))).toEqual(tensorsOf(join(dir, 'threads1.json')));
  });

  it('crosses epochs the same way resumed or not (hidden state reset at the epoch end)', () => {
    // 4 streams of ~40 chars with seq 16 → 2 chunks per epoch: 9 iterations cross several epoch ends.
    writeFileSync(join(dir, 'short.txt'), ENGLISH.slice(0, 200));
    const flags = [
      '--hidden',
      '8',
      '--layers',
      '1',
      '--seq',
      '16',
      '--batch',
      '4',
      '--val-frac',
      '0.1',
      ...CONSTANT_RATE,
    ];
    run(['train', 'short.txt', ...flags, '--iters', '9', '-o', 'e-whole.json']);
    run(['train', 'short.txt', ...flags, '--iters', '3', '-o', 'e-split.json']);
    expect(run(['resume', 'e-split.json', '--iters', '9']).status).toBe(0);
    expect(tensorsOf(join(dir, 'e-split.json'))).toEqual(tensorsOf(join(dir, 'e-whole.json')));
    expect(JSON.parse(readFileSync(join(dir, 'e-whole.json'), 'utf8')).training.epoch).toBeGreaterThanOrEqual(3);
  });

  it('trains on stdin with -', () => {
    const trained = run(['train', '-', ...TINY, '--iters', '5', '-o', 'checkpoints/notes.json'], { input: ENGLISH });
    expect(trained.status).toBe(0);
    const checkpoint = JSON.parse(readFileSync(join(dir, 'checkpoints', 'notes.json'), 'utf8'));
    expect(checkpoint.training.corpus.path).toBeNull();
    const resumed = run(['resume', 'checkpoints/notes.json', '--iters', '8']);
    expect(resumed.status).toBe(2);
    expect(resumed.stderr).toMatch(/trained on stdin.*--corpus/);
    expect(run(['resume', 'checkpoints/notes.json', '--iters', '8', '--corpus', '-'], { input: ENGLISH }).status).toBe(
      0,
    );
  });

  it('handles CJK and emoji as single symbols', () => {
    const trained = run(['train', 'poem.txt', ...TINY, '--iters', '10', '--batch', '2', '-o', 'poem.json']);
    expect(trained.status).toBe(0);
    const checkpoint = JSON.parse(readFileSync(join(dir, 'poem.json'), 'utf8'));
    expect(checkpoint.vocab).toContain('🌸');
    expect(checkpoint.vocab).toContain('春');
    expect(checkpoint.vocab.every((symbol: string) => [...symbol].length === 1)).toBe(true);
    expect(checkpoint.vocab.length).toBe(new Set([...CJK]).size);
    const sampled = run(['sample', '-c', 'poem.json', '--length', '50', '--seed', '1', '--prime', '春眠']);
    expect(sampled.status).toBe(0);
    expect(sampled.stdout.startsWith('春眠')).toBe(true);
    expect([...sampled.stdout.trimEnd()].length).toBe(52);
  });

  it('prints JSON lines with --json and nothing else on stdout', () => {
    const trained = run([
      'train',
      'tale.txt',
      ...TINY,
      '--iters',
      '20',
      '--json',
      '--print-every',
      '5',
      '-o',
      'json.json',
    ]);
    expect(trained.status).toBe(0);
    const lines = trained.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.filter((line) => line.event === 'progress').map((line) => line.iteration)).toEqual([5, 10, 15, 20]);
    expect(lines.some((line) => line.event === 'eval')).toBe(true);
    const done = lines[lines.length - 1];
    expect(done.event).toBe('done');
    for (const key of [
      'iterations',
      'chars',
      'seconds',
      'chars_per_s',
      'train_loss',
      'val_loss',
      'val_bpc',
      'checkpoint',
    ])
      expect(done).toHaveProperty(key);
    expect(done.iterations).toBe(20);
    expect(done.chars).toBe(20 * 16 * 4);
  });

  it('ends quietly with status 0 when the pipe closes (sample | head -c 10)', () => {
    run(['train', 'tale.txt', ...TINY, '--iters', '3', '-o', 'pipe.json']);
    const piped = spawnSync(
      'bash',
      ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" sample -c pipe.json --length 0 | head -c 10`],
      { cwd: dir, encoding: 'utf8', timeout: 20_000 },
    );
    expect(piped.stdout.length).toBeGreaterThan(0);
    expect(piped.stderr).toBe('');
    expect(piped.status).toBe(0);
  });

  it('saves and exits 130 on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'train', 'tale.txt', ...TINY, '--iters', '100000', '--json', '--print-every', '1', '-o', 'sigint.json'],
      { cwd: dir, env: { ...process.env, CI: 'true' } },
    );
    let stderr = '';
    child.stderr.on('data', (data) => (stderr += data));
    await new Promise<void>((resolveProgress) =>
      child.stdout.on('data', (data: Buffer) => {
        if (data.toString().includes('"progress"')) resolveProgress();
      }),
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolveExit) => child.on('exit', resolveExit));
    expect(code).toBe(130);
    expect(stderr).toContain('saved sigint.json');
    const checkpoint = JSON.parse(readFileSync(join(dir, 'sigint.json'), 'utf8'));
    expect(checkpoint.training.iteration).toBeGreaterThan(0);
  });

  it('reports bad input in one line with a non-zero exit and no stack trace', () => {
    const missing = run(['train', 'nope.txt']);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('nope.txt');
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const unknownFlag = run(['train', 'tale.txt', '--hiden', '5']);
    expect(unknownFlag.status).toBe(2);
    expect(unknownFlag.stderr).toMatch(/hiden/);
    const badTemp = run(['sample', '-c', 'a.json', '--temp', '-1']);
    expect(badTemp.status).toBe(2);
    expect(badTemp.stderr).toMatch(/--temp/);
    const noCheckpoint = run(['sample'], { cwd: mkdtempSync(join(tmpdir(), 'charrnn-empty-')) });
    expect(noCheckpoint.status).toBe(1);
    expect(noCheckpoint.stderr).toMatch(/charrnn train/);
  });
});
