/**
 * Bad input, run through the built binary: one clear line on stderr naming what and where, the right
 * exit code, no stack trace, and nothing overwritten. docs/errors.md lists the same cases.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeFloat32 } from '../src/checkpoint/tensor-codec.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'the quick brown fox jumps over the lazy dog. '.repeat(60);
const TINY = ['--hidden', '8', '--layers', '1', '--seq', '8', '--batch', '4', '--iters', '3', '--eval-every', '0'];

let dir: string;

function run(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
}

function expectOneLineError(result: ReturnType<typeof run>, status: number, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.status).toBe(status);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^charrnn: /);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

const checkpointWith = (edit: (json: any) => void): string => {
  const json = JSON.parse(readFileSync(join(dir, 'good.json'), 'utf8'));
  edit(json);
  return JSON.stringify(json);
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-errors-'));
  writeFileSync(join(dir, 'fox.txt'), TEXT);
  mkdirSync(join(dir, 'folder'));
  writeFileSync(join(dir, 'empty.txt'), '');
  writeFileSync(join(dir, 'short.txt'), 'just a few words');
  writeFileSync(join(dir, 'binary.dat'), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x08]));
  writeFileSync(join(dir, 'latin1.txt'), Buffer.from(`${'caf\xe9 au lait, '.repeat(100)}`, 'latin1'));
  const trained = run(['train', 'fox.txt', ...TINY, '-o', 'good.json']);
  expect(trained.status).toBe(0);
  writeFileSync(join(dir, 'truncated.json'), readFileSync(join(dir, 'good.json'), 'utf8').slice(0, 500));
  writeFileSync(join(dir, 'notjson.json'), 'hello, world');
  writeFileSync(join(dir, 'package.json'), '{"name": "something-else", "version": "1.0.0"}');
  writeFileSync(join(dir, 'newer.json'), checkpointWith((j) => (j.version = 2)));
  writeFileSync(join(dir, 'shape.json'), checkpointWith((j) => (j.tensors.weight_hh_l0.shape = [8, 32])));
  writeFileSync(join(dir, 'vocab.json'), checkpointWith((j) => j.vocab.pop()));
  writeFileSync(join(dir, 'nan.json'), checkpointWith((j) => (j.tensors['decoder.bias'].data = encodeFloat32(new Float32Array(j.model.vocab).fill(NaN)))));
  writeFileSync(join(dir, 'sampling-only.json'), checkpointWith((j) => delete j.training));
});

describe('bad corpora', () => {
  it.each([
    ['a missing path', ['train', 'missing.txt'], 1, /missing\.txt: no such file; check the path/],
    ['a directory', ['train', 'folder'], 1, /folder is a directory; give a text file/],
    ['an empty file', ['train', 'empty.txt'], 1, /empty\.txt is empty/],
    ['a corpus shorter than one batch', ['train', 'short.txt'], 2, /too short for --batch 50 × --seq 50: it needs at least 2501; lower --batch or --seq/],
    ['a binary file', ['train', 'binary.dat'], 1, /binary\.dat looks like a binary file \(a NUL byte at offset 4\)/],
    ['invalid UTF-8', ['train', 'latin1.txt', ...TINY], 1, /latin1\.txt: invalid UTF-8 at byte offset 3 \(0xe9\); .*--encoding latin1/],
  ])('%s', (_, args, status, message) => {
    expectOneLineError(run(args as string[]), status as number, message as RegExp);
  });

  it('reads Latin-1 when asked', () => {
    expect(run(['train', 'latin1.txt', ...TINY, '--encoding', 'latin1', '-o', 'latin1.json', '-q']).status).toBe(0);
    const checkpoint = JSON.parse(readFileSync(join(dir, 'latin1.json'), 'utf8'));
    expect(checkpoint.vocab).toContain('é');
  });
});

describe('bad checkpoints', () => {
  it.each([
    ['truncated', 'truncated.json', /truncated\.json is not a charrnn checkpoint \(truncated or not JSON\)/],
    ['not JSON', 'notjson.json', /notjson\.json is not a charrnn checkpoint/],
    ['JSON of another kind', 'package.json', /package\.json is JSON but not a charrnn checkpoint/],
    ['a newer version', 'newer.json', /newer\.json was written by a newer charrnn \(format version 2/],
    ['wrong tensor shapes', 'shape.json', /shape\.json: tensor weight_hh_l0 has shape \[8,32\]; the model needs \[32,8\]/],
    ['a wrong vocabulary length', 'vocab.json', /vocab\.json: the vocabulary has \d+ entries but model\.vocab says \d+/],
    ['NaN weights', 'nan.json', /nan\.json: tensor decoder\.bias contains NaN .*diverged/],
    ['a missing file', 'nowhere.json', /nowhere\.json: no such checkpoint/],
  ])('%s', (_, file, message) => {
    expectOneLineError(run(['sample', '-c', file, '--length', '5']), 1, message);
    expectOneLineError(run(['resume', file]), 1, message);
  });

  it('samples from a checkpoint without training state, and refuses to resume it', () => {
    expect(run(['sample', '-c', 'sampling-only.json', '--length', '20', '--seed', '1']).status).toBe(0);
    expectOneLineError(run(['resume', 'sampling-only.json']), 1, /has no training state/);
  });
});

describe('bad options', () => {
  it.each([
    ['--temp below 0', ['sample', '-c', 'good.json', '--temp', '-1'], /--temp -1 is invalid: expected a number ≥ 0/],
    ['--temp NaN', ['sample', '-c', 'good.json', '--temp', 'NaN'], /--temp NaN is invalid/],
    ['--top-p 0', ['sample', '-c', 'good.json', '--top-p', '0'], /--top-p 0 is invalid: expected a probability in \(0, 1\]/],
    ['--top-p above 1', ['sample', '-c', 'good.json', '--top-p', '1.5'], /--top-p 1\.5 is invalid/],
    ['--top-k 0', ['sample', '-c', 'good.json', '--top-k', '0'], /--top-k 0 is invalid/],
    ['a prime outside the vocabulary', ['sample', '-c', 'good.json', '--prime', 'the ZEBRA'], /--prime has characters the model never saw: "Z", "E", "B", "R", "A"/],
    ['--hidden 0', ['train', 'fox.txt', '--hidden', '0'], /--hidden 0 is invalid: expected a whole number from 1 to 8192/],
    ['--hidden 1e9', ['train', 'fox.txt', '--hidden', '1e9'], /--hidden 1000000000 is invalid/],
    ['--batch beyond the corpus', ['train', 'fox.txt', '--batch', '500'], /too short for --batch 500 × --seq 50/],
    ['--dropout 1', ['train', 'fox.txt', '--dropout', '1'], /--dropout 1 is invalid/],
    ['a misspelled flag', ['train', 'fox.txt', '--hiden', '5'], /Unknown argument: hiden \(did you mean --hidden\?\)/],
    ['an unknown command', ['trian', 'fox.txt'], /Unknown command: trian \(did you mean train\?\)/],
    ['no command', [], /name a command: train, sample, resume, eval or info/],
    ['a model too large to allocate', ['train', 'fox.txt', '--hidden', '8192', '--layers', '16'], /parameters is too large .*lower --hidden or --layers/],
  ])('%s', (_, args, message) => {
    expectOneLineError(run(args as string[]), 2, message as RegExp);
  });

  it('treats --temp 0 as argmax', () => {
    const a = run(['sample', '-c', 'good.json', '--temp', '0', '--length', '30', '--seed', '1']);
    const b = run(['sample', '-c', 'good.json', '--argmax', '--length', '30', '--seed', '2']);
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('names an unknown character and its position in eval', () => {
    writeFileSync(join(dir, 'odd.txt'), 'the fox ate 🦊');
    expectOneLineError(run(['eval', 'odd.txt', '-c', 'good.json']), 1, /odd\.txt: character "🦊" \(U\+1F98A\) at position 12 is not in the model's vocabulary/);
  });

  it('says how to train when there is no checkpoint to sample', () => {
    const empty = mkdtempSync(join(tmpdir(), 'charrnn-none-'));
    const result = spawnSync(process.execPath, [BIN, 'sample'], { cwd: empty, encoding: 'utf8' });
    expectOneLineError(result, 1, /no checkpoint found in checkpoints\/; train one first \(charrnn train corpus\.txt\)/);
  });
});

describe('faults during training', () => {
  it('refuses an unwritable output before training starts', () => {
    writeFileSync(join(dir, 'afile'), 'x');
    expectOneLineError(run(['train', 'fox.txt', ...TINY, '-o', 'afile/model.json']), 1, /cannot save afile\/model\.json/);
  });

  it('stops on divergence with a clear message and keeps the last good checkpoint', () => {
    expect(run(['train', 'fox.txt', ...TINY, '-o', 'diverge.json', '-q']).status).toBe(0);
    const good = readFileSync(join(dir, 'diverge.json'), 'utf8');
    const result = run(['train', 'fox.txt', ...TINY, '--iters', '50', '--optim', 'sgd', '--momentum', '0', '--lr', '1e38', '--clip', '0', '--save-every', '1', '-o', 'diverge.json']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/charrnn: training diverged at iteration \d+: the (loss|gradient norm) is (NaN|Infinity); nothing from this step was saved/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    const after = readFileSync(join(dir, 'diverge.json'), 'utf8');
    // Either untouched, or saved from a step before the divergence: it must still load with finite weights.
    if (after !== good) expect(run(['sample', '-c', 'diverge.json', '--length', '5', '--seed', '1']).status).toBe(0);
  });
});
