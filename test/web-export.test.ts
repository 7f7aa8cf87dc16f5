/**
 * `charrnn export --web` through the built binary: what it writes (the model file's bytes, the browser
 * files and their size budget), what it reports (sizes, --half's cost), and what it refuses, leaving the
 * directory as it was. The pages themselves are driven in a real browser by web-browser.test.ts.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeWebModel } from '../src/checkpoint/web-format.js';
import { parameterCount } from '../src/core/config.js';
import { LoadedModel } from '../src/index.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'It was the best of times, it was the worst of times, it was the age of wisdom.\n'.repeat(40);
const TINY = ['--hidden', '16', '--layers', '2', '--seq', '16', '--batch', '4', '--iters', '10', '-q'];
/** The issue's budget for the browser code export writes (every .js, .mjs and .wasm), gzipped. */
const BROWSER_BUDGET_BYTES = 60 * 1024;

let dir: string;

function run(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
}

function refused(args: string[], status: number): string {
  const result = run(args);
  expect(result.stdout).toBe('');
  expect(result.status).toBe(status);
  expect(result.stderr.split('\n')).toHaveLength(2);
  return result.stderr;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-export-'));
  writeFileSync(join(dir, 'tale.txt'), TEXT);
  expect(run(['train', 'tale.txt', ...TINY, '-o', 'tale.json']).status).toBe(0);
});

describe('charrnn export --web', () => {
  it('writes the model, the browser module and the page, and says so', async () => {
    const result = run(['export', '--web', 'tale.json', 'site']);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^exported tale\.json \(lstm 2×16, \d+ characters\) to site:\n {2}model\.bin {3}[\d,]+ bytes {2}\(float32\)\n {2}charrnn\.js [ \d,]+ bytes {2}\([\d,]+ bytes gzipped\)\n {2}index\.html [ \d,]+ bytes {2}\([\d,]+ bytes gzipped\)\nserve it with any static server and open its address, e\.g\.: python3 -m http\.server -d site 8000\n$/,
    );
    expect(readdirSync(join(dir, 'site')).sort()).toEqual(['charrnn.js', 'index.html', 'model.bin']);
    const file = decodeWebModel(readFileSync(join(dir, 'site', 'model.bin')), 'model.bin');
    const model = await LoadedModel.load(join(dir, 'tale.json'), 'js');
    expect(file.model).toEqual(model.checkpoint.model);
    expect(file.vocab).toEqual(model.checkpoint.vocab);
    for (const [name, tensor] of Object.entries(model.checkpoint.tensors))
      expect(file.tensors[name]).toEqual(tensor.data);
    expect(readFileSync(join(dir, 'site', 'charrnn.js'))).toEqual(
      readFileSync(join(BIN, '..', '..', 'dist', 'web', 'charrnn.js')),
    );
  });

  it('keeps the browser code within its budget, and a 2×128 LSTM within about a megabyte (half that with --half)', () => {
    const browser = readdirSync(join(dir, 'site')).filter((name) => /\.(m?js|wasm)$/.test(name));
    const gzipped = browser.reduce((sum, name) => sum + gzipSync(readFileSync(join(dir, 'site', name))).length, 0);
    expect(gzipped).toBeLessThanOrEqual(BROWSER_BUDGET_BYTES);
    const trained = run([
      'train',
      'tale.txt',
      '--hidden',
      '128',
      '--layers',
      '2',
      '--iters',
      '1',
      '-q',
      '-o',
      'big.json',
    ]);
    expect(trained.status).toBe(0);
    const json = (args: string[]) => JSON.parse(run(['export', '--web', '--json', ...args, 'big.json', 'big']).stdout);
    const model = { cell: 'lstm', layers: 2, hidden: 128, vocab: expect.any(Number), dropout: 0 } as const;
    const float32 = json([]);
    const floats = parameterCount({ ...float32.model });
    expect(float32.model).toEqual(model);
    const modelBytes = statSync(join(dir, 'big', 'model.bin')).size;
    // The header (model, vocabulary, tensor names and shapes) is under 1.5 KB; the rest is the weights.
    expect(modelBytes - 4 * floats).toBeGreaterThan(0);
    expect(modelBytes - 4 * floats).toBeLessThan(1500);
    expect(modelBytes / 1e6).toBeCloseTo(0.9, 0);
    expect(float32).toMatchObject({ dir: 'big', dtype: 'float32', float32Bytes: modelBytes, halfCost: null });
    const half = json(['--half']);
    expect(half.float32Bytes).toBe(modelBytes);
    expect(half.files[0]).toEqual({ name: 'model.bin', bytes: modelBytes - 2 * floats, gzipBytes: expect.any(Number) });
    expect(half.halfCost).toEqual({
      source: `the validation text of ${join(dir, 'tale.txt')}`,
      chars: expect.any(Number),
      float32Loss: expect.any(Number),
      float16Loss: expect.any(Number),
    });
    expect(Math.abs(half.halfCost.float16Loss - half.halfCost.float32Loss)).toBeLessThan(1e-3);
  });

  it("measures --half's cost on the run's validation text, on a text given, or says why it cannot", () => {
    const measured = run(['export', '--web', '--half', 'tale.json', 'half']);
    expect(measured.status).toBe(0);
    expect(measured.stderr).toContain('(float16; float32 would be ');
    expect(measured.stderr).toMatch(
      /\n--half costs [+-][\d.e-]+ nats\/char of validation loss \(\d\.\d{4} → \d\.\d{4}, [+-][\d.e-]+%\), over \d+ characters of the validation text of .*tale\.txt\n/,
    );
    writeFileSync(join(dir, 'held-out.txt'), 'it was the age of wisdom, it was the worst of times.\n');
    expect(run(['export', '--web', '--half', '--corpus', 'held-out.txt', 'tale.json', 'half']).stderr).toMatch(
      /, over 52 characters of held-out\.txt\n/,
    );
    renameSync(join(dir, 'tale.txt'), join(dir, 'moved.txt'));
    try {
      const unmeasured = run(['export', '--web', '--half', 'tale.json', 'half']);
      expect(unmeasured.status).toBe(0);
      expect(unmeasured.stderr).toContain(
        `\n--half's cost in validation loss was not measured: its corpus ${join(dir, 'tale.txt')} is gone; ` +
          'give a text to measure it on with --corpus FILE\n',
      );
    } finally {
      renameSync(join(dir, 'moved.txt'), join(dir, 'tale.txt'));
    }
    expect(refused(['export', '--web', '--half', '--corpus', 'tale.json', 'tale.json', 'half'], 1)).toMatch(
      /^charrnn: tale\.json: character .* is not in the model's vocabulary\n$/,
    );
  });

  it('replaces an earlier export and leaves the other files there, with no temporary file behind', () => {
    writeFileSync(join(dir, 'site', 'notes.txt'), 'mine');
    const again = run(['export', '--web', '-q', '--half', 'tale.json', 'site']);
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(readdirSync(join(dir, 'site')).sort()).toEqual(['charrnn.js', 'index.html', 'model.bin', 'notes.txt']);
    expect(decodeWebModel(readFileSync(join(dir, 'site', 'model.bin')), 'model.bin').dtype).toBe('float16');
  });

  it('refuses a directory holding a file of its names that it did not write, and changes nothing there', () => {
    mkdirSync(join(dir, 'blog'));
    writeFileSync(join(dir, 'blog', 'index.html'), '<h1>my blog</h1>');
    expect(refused(['export', '--web', 'tale.json', 'blog'], 1)).toBe(
      'charrnn: cannot export to blog: its index.html was not written by charrnn export; ' +
        'choose another directory, or move it away\n',
    );
    expect(readdirSync(join(dir, 'blog'))).toEqual(['index.html']);
    mkdirSync(join(dir, 'odd', 'model.bin'), { recursive: true });
    expect(refused(['export', '--web', 'tale.json', 'odd'], 1)).toBe(
      'charrnn: cannot export to odd: its model.bin is not a file; choose another directory, or move it away\n',
    );
    expect(refused(['export', '--web', 'tale.json', 'tale.txt'], 1)).toBe(
      'charrnn: cannot export to tale.txt: it is not a directory; ' +
        'give a directory: a new one, an empty one, or an earlier export\n',
    );
    expect(refused(['export', '--web', 'tale.json', 'tale.txt/site'], 1)).toBe(
      'charrnn: cannot export to tale.txt/site: part of its path is a file, not a directory; ' +
        'give a directory: a new one, an empty one, or an earlier export\n',
    );
    expect(existsSync(join(dir, 'nothing'))).toBe(false);
  });

  it.each([
    [
      ['export', 'tale.json', 'out'],
      2,
      'charrnn: export needs --web, the form to write (the only one so far: a web page)\n',
    ],
    [
      ['export', '--web', '--corpus', 'tale.txt', 'tale.json', 'out'],
      2,
      'charrnn: --corpus applies only to --half: it measures its cost\n',
    ],
    [
      ['export', '--web', 'missing.json', 'out'],
      1,
      'charrnn: missing.json: no such checkpoint; train one with charrnn train CORPUS, or check the path\n',
    ],
    [
      ['export', '--web', 'tale.json'],
      2,
      /^charrnn: Not enough non-option arguments: got 1, need at least 2; see charrnn export --help\n$/,
    ],
  ])('refuses %j in one line', (args, status, message) => {
    const stderr = refused(args, status);
    if (typeof message === 'string') expect(stderr).toBe(message);
    else expect(stderr).toMatch(message);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });
});
