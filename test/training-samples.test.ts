/** Samples printed during training come from the weights as they are at that iteration. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'It was the best of times, it was the worst of times, it was the age of wisdom.\n'.repeat(20);
const SMALL = ['--hidden', '16', '--layers', '2', '--seq', '12', '--batch', '4', '--iters', '20', '--seed', '4'];

/** The sample text printed at `iteration` by a run with samples every `every` iterations. */
function sampleAt(dir: string, cell: string, every: number, iteration: number): string {
  const args = ['train', 'text.txt', ...SMALL, '--model', cell, '--sample-every', String(every), '--json', '-q'];
  const result = spawnSync(process.execPath, [BIN, ...args, '-o', `${cell}-${every}.json`], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  type Event = { event: string; iteration: number; text: string };
  const events = result.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Event);
  const sample = events.find((event) => event.event === 'sample' && event.iteration === iteration);
  expect(sample, `a sample at iteration ${iteration}`).toBeDefined();
  return sample!.text;
}

it.each(['lstm', 'gru', 'rnn'])(
  '%s: the iteration-20 sample is the same with or without one at 10',
  (cell) => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-samples-'));
    writeFileSync(join(dir, 'text.txt'), TEXT);
    // Same seed, same weights at iteration 20: the sample there must be the same.
    expect(sampleAt(dir, cell, 10, 20)).toBe(sampleAt(dir, cell, 20, 20));
  },
  60_000,
);
