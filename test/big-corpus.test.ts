/**
 * A 1.2 GB corpus (corpora/moby-dick.txt repeated) trains through the built binary, from a file and from
 * a pipe, with peak resident memory near the corpus size plus the model. Slow and disk-hungry, so opt-in:
 * CHARRNN_BIG_TESTS=1 npx vitest run test/big-corpus.test.ts
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'charrnn');
const REPEATS = 1000;
/** Node, the model, the kernels and the reading buffers, beside the 1-byte ids (or bytes) of the text. */
const OVERHEAD_BYTES = 300 * 2 ** 20;
const SMALL = ['--hidden', '64', '--layers', '1', '--iters', '2', '--eval-every', '0', '--val-frac', '0.001', '-q'];

let dir: string;
let corpus: string;
let corpusBytes: number;

/** Runs a shell script under /usr/bin/time; its peak resident memory in bytes. */
function peakMemory(script: string): { status: number | null; stderr: string; peakBytes: number } {
  const result = spawnSync('/usr/bin/time', ['-f', 'peak-kb %M', 'bash', '-c', script], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NODE: process.execPath, BIN, CORPUS: corpus, CI: 'true' },
    timeout: 600_000,
  });
  const peak = /peak-kb (\d+)/.exec(result.stderr);
  const stderr = result.stderr.replace(/peak-kb \d+\n?/, '');
  return { status: result.status, stderr, peakBytes: peak ? Number(peak[1]) * 1024 : NaN };
}

describe.runIf(process.env.CHARRNN_BIG_TESTS === '1' && existsSync('/usr/bin/time'))('a 1.2 GB corpus', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'charrnn-big-'));
    corpus = join(dir, 'big.txt');
    const text = readFileSync(join(ROOT, 'corpora', 'moby-dick.txt'));
    const fd = openSync(corpus, 'w');
    for (let i = 0; i < REPEATS; i++) writeSync(fd, text);
    closeSync(fd);
    corpusBytes = text.length * REPEATS;
  }, 300_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['a file', `"$NODE" "$BIN" train "$CORPUS" -o file.json ${SMALL.join(' ')}`, 'file.json'],
    ['a pipe', `cat "$CORPUS" | "$NODE" "$BIN" train - -o pipe.json ${SMALL.join(' ')}`, 'pipe.json'],
  ])(
    'trains from %s in memory near its size',
    (_, script, output) => {
      const run = peakMemory(script);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.peakBytes).toBeLessThan(corpusBytes + OVERHEAD_BYTES);
      const checkpoint = JSON.parse(readFileSync(join(dir, output), 'utf8'));
      expect(checkpoint.training.iteration).toBe(2);
      expect(checkpoint.training.corpus.chars).toBeGreaterThan(corpusBytes * 0.98);
    },
    600_000,
  );
});
