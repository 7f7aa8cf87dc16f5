/**
 * Models of 40M and 250M parameters (the limit) save, load, sample and resume through the built binary,
 * with peak resident memory near what training itself holds: the checkpoint never passes through one
 * string. Slow, and 4 GB of disk for the larger, so opt-in:
 * CHARRNN_BIG_TESTS=1 npx vitest run test/checkpoint-big.test.ts
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const ONE_STEP = ['--seq', '4', '--batch', '1', '--eval-every', '0', '--val-frac', '0', '-q'];
/** One iteration of a 2-layer LSTM with Adam. */
const trainArgs = (hidden: number, output: string, kernel: string[]): string[] => [
  'train',
  'c.txt',
  '--hidden',
  String(hidden),
  '--layers',
  '2',
  '--iters',
  '1',
  ...ONE_STEP,
  ...kernel,
  '-o',
  output,
];
/** Node, the kernels and the buffers a save and a load use, beside the model's own floats. */
const OVERHEAD_BYTES = 400 * 2 ** 20;

let dir: string;

/** Runs the binary under /usr/bin/time; its peak resident memory in bytes. */
function measured(args: string[], input?: string): { status: number | null; stderr: string; peakBytes: number } {
  const result = spawnSync('/usr/bin/time', ['-f', 'peak-kb %M', process.execPath, BIN, ...args], {
    cwd: dir,
    input,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
    timeout: 1_200_000,
    maxBuffer: 1 << 26,
  });
  const peak = /peak-kb (\d+)/.exec(result.stderr);
  const stderr = result.stderr.replace(/peak-kb \d+\n?/, '');
  if (process.env.CHARRNN_BIG_TESTS_REPORT) console.log(args.join(' '), `peak ${peak?.[1]} KB`);
  return { status: result.status, stderr, peakBytes: peak ? Number(peak[1]) * 1024 : Number.NaN };
}

describe.runIf(process.env.CHARRNN_BIG_TESTS === '1' && existsSync('/usr/bin/time'))(
  'checkpoints of big models',
  () => {
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'charrnn-big-checkpoint-'));
      writeFileSync(join(dir, 'c.txt'), 'the cat sat on the mat; the dog sat on the log.\n'.repeat(20));
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each<[string, number, number, string[]]>([
      // 4H(V+H) + 8H + 4H(2H) + 8H + VH + V parameters, V = 16: 39.0M and 243.4M.
      ['40M', 1800, 39_000_000, []],
      // The WebAssembly kernels' 2 GiB heap cannot hold this model's training buffers.
      ['250M', 4500, 243_400_000, ['--kernel', 'js', '--threads', '1']],
    ])(
      'a %s-parameter model saves, loads, samples and resumes',
      (name, hidden, parameters, kernel) => {
        const output = `m${name}.json`;
        const trained = measured(trainArgs(hidden, output, kernel));
        expect(trained.stderr).toBe('');
        expect(trained.status).toBe(0);
        // Weights, gradients and Adam's two buffers: four floats a parameter. Building the file as one
        // string took 32 bytes more a parameter (the string and its bytes), and failed past 33.5M.
        expect(trained.peakBytes).toBeLessThan(parameters * 4 * 4 * 1.25 + OVERHEAD_BYTES);
        // Base64 of the weights and both buffers: 16 bytes a parameter.
        expect(statSync(join(dir, output)).size).toBeGreaterThan(parameters * 16);

        const sampled = measured(['sample', '-c', output, '-l', '20', '--seed', '1']);
        expect(sampled.stderr).toBe('');
        expect(sampled.status).toBe(0);
        // The weights and both optimizer buffers are read, and the weights copied into the model.
        expect(sampled.peakBytes).toBeLessThan(parameters * 4 * 4 * 1.25 + OVERHEAD_BYTES);

        const resumed = measured(['resume', output, '--iters', '2', ...kernel, '-o', `r${name}.json`, '-q']);
        expect(resumed.stderr).toBe('');
        expect(resumed.status).toBe(0);
        const info = measured(['info', `r${name}.json`]);
        expect(info.status).toBe(0);
      },
      1_800_000,
    );

    it('refuses a model over the limit before training', () => {
      const refused = measured(trainArgs(4600, 'over.json', []));
      expect(refused.stderr).toMatch(/^charrnn: a model of 254,[\d,]+ parameters is too large \(limit 250,000,000\)/);
      expect(refused.status).toBe(2);
      expect(existsSync(join(dir, 'over.json'))).toBe(false);
      expect(refused.peakBytes).toBeLessThan(OVERHEAD_BYTES);
    });

    it('bounds a checkpoint on stdin that never ends', () => {
      const spaces = spawnSync('bash', ['-c', `tr '\\0' ' ' </dev/zero | "${process.execPath}" "${BIN}" info -`], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 600_000,
      });
      expect(spaces.stderr).toBe(
        'charrnn: stdin holds more than 8 GiB, more than any checkpoint; is it the right file?\n',
      );
      expect(spaces.status).toBe(1);
    }, 600_000);
  },
);
