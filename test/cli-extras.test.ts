/** The ecosystem features through the built binary: info, --log, sample extras. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'Once upon a time there was a little model.\n\nIt learned letters.\n\n'.repeat(40);
let dir: string;

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    input,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-extras-'));
  writeFileSync(join(dir, 'story.txt'), TEXT);
  const trained = run([
    'train',
    'story.txt',
    '--hidden',
    '24',
    '--layers',
    '1',
    '--seq',
    '16',
    '--batch',
    '4',
    '--iters',
    '60',
    '--eval-every',
    '20',
    '--lr',
    '1e-2',
    '--log',
    'run.log',
    '--print-every',
    '5',
    '-o',
    'story.json',
    '-q',
  ]);
  expect(trained.status).toBe(0);
});

describe('info', () => {
  it('describes the model, vocabulary, progress and draws the loss curve', () => {
    const result = run(['info', 'story.json']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/model\s+lstm, 1 layer × 24 hidden/);
    expect(result.stdout).toMatch(/parameters\s+[\d,]+/);
    expect(result.stdout).toContain('\\n');
    expect(result.stdout).toMatch(/training\s+iteration 60, epoch/);
    expect(result.stdout).toMatch(/validation\s+last \d\.\d{3} bpc, best \d\.\d{3} bpc/);
    expect(result.stdout).toMatch(/┤/);
    expect(result.stdout).toMatch(
      /bits\/char over iterations 10–60: train, and validation where it leaves the train line/,
    );
  });

  it('prints JSON with --json and reads a --log file', () => {
    const json = JSON.parse(run(['info', 'story.json', '--json']).stdout);
    expect(json.parameters).toBeGreaterThan(0);
    expect(json.training.iteration).toBe(60);
    expect(json.history.length).toBe(6);
    expect(json.history.filter((point: { valLoss?: number }) => point.valLoss !== undefined)).toHaveLength(3);
    const log = readFileSync(join(dir, 'run.log'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(log.filter((event) => event.event === 'progress')).toHaveLength(12);
    expect(log[log.length - 1].event).toBe('done');
    const fromLog = JSON.parse(run(['info', 'story.json', '--json', '--log', 'run.log']).stdout);
    expect(fromLog.history.length).toBe(12);
  });
});

describe('sample extras', () => {
  it('stops at a delimiter and makes several samples', () => {
    const result = run([
      'sample',
      '-c',
      'story.json',
      '--stop',
      '\n\n',
      '--length',
      '500',
      '-n',
      '3',
      '--delimiter',
      '---\n',
      '--seed',
      '4',
    ]);
    expect(result.status).toBe(0);
    const samples = result.stdout.split('---\n');
    expect(samples).toHaveLength(4);
    expect(samples[3]).toBe('');
    for (const sample of samples.slice(0, 3)) expect(sample.endsWith('\n\n') || [...sample].length === 500).toBe(true);
    expect(
      run([
        'sample',
        '-c',
        'story.json',
        '--stop',
        '\n\n',
        '--length',
        '500',
        '-n',
        '3',
        '--delimiter',
        '---\n',
        '--seed',
        '4',
      ]).stdout,
    ).toBe(result.stdout);
  });

  it('primes from a file and from stdin', () => {
    writeFileSync(join(dir, 'prime.txt'), 'Once upon');
    const fromFile = run(['sample', '-c', 'story.json', '--prime-file', 'prime.txt', '--length', '20', '--seed', '1']);
    const fromStdin = run(
      ['sample', '-c', 'story.json', '--prime-file', '-', '--length', '20', '--seed', '1'],
      'Once upon',
    );
    const inline = run(['sample', '-c', 'story.json', '--prime', 'Once upon', '--length', '20', '--seed', '1']);
    expect(fromFile.status).toBe(0);
    expect(fromFile.stdout.startsWith('Once upon')).toBe(true);
    expect(fromStdin.stdout).toBe(fromFile.stdout);
    expect(inline.stdout).toBe(fromFile.stdout);
  });

  it('gives per-character probabilities with --json', () => {
    const result = run([
      'sample',
      '-c',
      'story.json',
      '--json',
      '--length',
      '30',
      '-n',
      '2',
      '--seed',
      '9',
      '--top-k',
      '5',
    ]);
    expect(result.status).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.chars).toHaveLength(30);
      expect(line.text).toBe(line.chars.map((entry: { char: string }) => entry.char).join(''));
      for (const entry of line.chars) expect(entry.p > 0 && entry.p <= 1).toBe(true);
    }
    const argmax = JSON.parse(run(['sample', '-c', 'story.json', '--json', '--length', '5', '--argmax']).stdout);
    expect(argmax.chars.every((entry: { p: number }) => entry.p === 1)).toBe(true);
  });
});

describe('shell completion', () => {
  it('prints a bash completion script and completes commands and flags', () => {
    const script = run(['completion']);
    expect(script.status).toBe(0);
    expect(script.stdout).toContain('complete -o bashdefault -o default -F _charrnn_yargs_completions charrnn');
    const commands = run(['--get-yargs-completions', 'charrnn', '']).stdout.split('\n');
    expect(commands).toEqual(expect.arrayContaining(['train', 'sample', 'resume', 'eval', 'info']));
    const flags = run(['--get-yargs-completions', 'charrnn', 'train', '--hid']).stdout.split('\n');
    expect(flags).toContain('--hidden');
  });

  it('takes text flags that start with a dash as values', () => {
    const result = run([
      'sample',
      '-c',
      'story.json',
      '--length',
      '10',
      '-n',
      '2',
      '--delimiter',
      '--\n',
      '--seed',
      '1',
    ]);
    expect(result.status).toBe(0);
    expect(result.stdout.split('--\n')).toHaveLength(3);
  });
});
