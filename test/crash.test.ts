/** kill -9 at random moments while checkpoints are being written: the file on disk always loads, and resume goes on. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/train/checkpoint.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe('kill -9 during saves', () => {
  it('always leaves a loadable checkpoint, and resume continues from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-kill-'));
    writeFileSync(join(dir, 'text.txt'), 'a stitch in time saves nine; '.repeat(400));
    const checkpoint = join(dir, 'model.json');
    // Saving every iteration makes most moments fall inside a write.
    const flags = [
      '--hidden',
      '64',
      '--layers',
      '2',
      '--seq',
      '16',
      '--batch',
      '8',
      '--save-every',
      '1',
      '--eval-every',
      '0',
      '--iters',
      '1000000',
      '-q',
    ];
    let lastIteration = 0;
    for (let round = 0; round < 6; round++) {
      const args = round === 0 ? ['train', 'text.txt', ...flags, '-o', checkpoint] : ['resume', checkpoint, '-q'];
      const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: 'ignore' });
      const started = Date.now();
      while (!existsSync(checkpoint) && Date.now() - started < 20_000) await sleep(20);
      await sleep(150 + Math.random() * 400);
      child.kill('SIGKILL');
      await new Promise((done) => child.on('exit', done));
      const loaded = loadCheckpoint(checkpoint);
      const iteration = loaded.training!.iteration as number;
      expect(iteration).toBeGreaterThanOrEqual(lastIteration);
      lastIteration = iteration;
    }
    expect(lastIteration).toBeGreaterThan(0);
    // A later run clears the temporary files killed runs left behind.
    const resumed = spawn(process.execPath, [BIN, 'resume', checkpoint, '--iters', String(lastIteration + 2), '-q'], {
      cwd: dir,
      stdio: 'ignore',
    });
    expect(await new Promise((done) => resumed.on('exit', done))).toBe(0);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 60_000);
});
