/**
 * Bad input, run through the built binary: one clear line on stderr naming what and where, the right
 * exit code, no stack trace, and nothing overwritten. docs/errors.md lists the same cases.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeFloat32 } from '../src/checkpoint/tensor-codec.js';
import { CharrnnError } from '../src/errors.js';
import { parseCommandLine, type Flag } from '../src/cli/flags.js';
import { PROGRAM } from '../src/cli/program.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'the quick brown fox jumps over the lazy dog. '.repeat(60);
const TINY = ['--hidden', '8', '--layers', '1', '--seq', '8', '--batch', '4', '--iters', '3', '--eval-every', '0'];

let dir: string;

function run(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
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

// biome-ignore lint/suspicious/noExplicitAny: an edit may reach any field of the parsed JSON
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
  writeFileSync(
    join(dir, 'newer.json'),
    checkpointWith((j) => (j.version = 2)),
  );
  writeFileSync(
    join(dir, 'shape.json'),
    checkpointWith((j) => (j.tensors.weight_hh_l0.shape = [8, 32])),
  );
  writeFileSync(
    join(dir, 'vocab.json'),
    checkpointWith((j) => j.vocab.pop()),
  );
  writeFileSync(
    join(dir, 'nan.json'),
    checkpointWith((j) => (j.tensors['decoder.bias'].data = encodeFloat32(new Float32Array(j.model.vocab).fill(NaN)))),
  );
  writeFileSync(
    join(dir, 'sampling-only.json'),
    checkpointWith((j) => delete j.training),
  );
});

describe('bad corpora', () => {
  it.each([
    ['a missing path', ['train', 'missing.txt'], 1, /missing\.txt: no such file; check the path/],
    ['a directory', ['train', 'folder'], 1, /folder is a directory; give a text file/],
    ['an empty file', ['train', 'empty.txt'], 1, /empty\.txt is empty/],
    [
      'a corpus shorter than one batch',
      ['train', 'short.txt'],
      2,
      /too short for --batch 25 × --seq 50: it needs at least 1251; lower --batch or --seq/,
    ],
    ['a binary file', ['train', 'binary.dat'], 1, /binary\.dat looks like a binary file \(a NUL byte at offset 4\)/],
    [
      'invalid UTF-8',
      ['train', 'latin1.txt', ...TINY],
      1,
      /latin1\.txt: invalid UTF-8 at byte offset 3 \(0xe9\); .*--encoding latin1/,
    ],
  ])('%s', (_, args, status, message) => {
    expectOneLineError(run(args as string[]), status as number, message as RegExp);
  });

  it('reads Latin-1 when asked', () => {
    expect(run(['train', 'latin1.txt', ...TINY, '--encoding', 'latin1', '-o', 'latin1.json', '-q']).status).toBe(0);
    const checkpoint = JSON.parse(readFileSync(join(dir, 'latin1.json'), 'utf8'));
    expect(checkpoint.vocab).toContain('é');
    // --corpus is read as the run read its corpus, unless --encoding says otherwise.
    expect(run(['resume', 'latin1.json', '--corpus', 'latin1.txt', '--iters', '4', '-q']).status).toBe(0);
    expectOneLineError(
      run(['resume', 'latin1.json', '--corpus', 'latin1.txt', '--encoding', 'utf8', '--iters', '5']),
      1,
      /latin1\.txt: invalid UTF-8 at byte offset 3/,
    );
  });
});

describe('bad checkpoints', () => {
  it.each([
    ['truncated', 'truncated.json', /truncated\.json is not a charrnn checkpoint \(truncated or not JSON\)/],
    ['not JSON', 'notjson.json', /notjson\.json is not a charrnn checkpoint/],
    ['JSON of another kind', 'package.json', /package\.json is JSON but not a charrnn checkpoint/],
    ['a newer version', 'newer.json', /newer\.json was written by a newer charrnn \(format version 2/],
    [
      'wrong tensor shapes',
      'shape.json',
      /shape\.json: tensor weight_hh_l0 has shape \[8,32\]; the model needs \[32,8\]/,
    ],
    [
      'a wrong vocabulary length',
      'vocab.json',
      /vocab\.json: the vocabulary has \d+ entries but model\.vocab says \d+/,
    ],
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
    [
      '--top-p 0',
      ['sample', '-c', 'good.json', '--top-p', '0'],
      /--top-p 0 is invalid: expected a probability in \(0, 1\]/,
    ],
    ['--top-p above 1', ['sample', '-c', 'good.json', '--top-p', '1.5'], /--top-p 1\.5 is invalid/],
    ['--top-k 0', ['sample', '-c', 'good.json', '--top-k', '0'], /--top-k 0 is invalid/],
    [
      'a prime outside the vocabulary',
      ['sample', '-c', 'good.json', '--prime', 'the ZEBRA'],
      /--prime has characters the model never saw: "Z", "E", "B", "R", "A"/,
    ],
    [
      '--hidden 0',
      ['train', 'fox.txt', '--hidden', '0'],
      /--hidden 0 is invalid: expected a whole number from 1 to 8192/,
    ],
    ['--hidden 1e9', ['train', 'fox.txt', '--hidden', '1e9'], /--hidden 1e9 is invalid/],
    ['--batch beyond the corpus', ['train', 'fox.txt', '--batch', '500'], /too short for --batch 500 × --seq 50/],
    ['--dropout 1', ['train', 'fox.txt', '--dropout', '1'], /--dropout 1 is invalid/],
    [
      'a misspelled flag',
      ['train', 'fox.txt', '--hiden', '5'],
      /unknown flag --hiden \(did you mean --hidden\?\); see charrnn train --help/,
    ],
    ['a misspelled short flag', ['sample', '-x', '5'], /unknown flag -x; see charrnn sample --help/],
    [
      'the former --shards',
      ['train', 'fox.txt', '--shards', '4'],
      /unknown flag --shards \(no longer needed: every core works, and the weights are the same for any --threads\)/,
    ],
    // yargs' own words (recommendCommands and strict mode) where the hand parser had its own.
    ['an unknown command', ['trian', 'fox.txt'], /^charrnn: Did you mean train\?; see charrnn --help\n$/],
    ['no command', [], /name a command: train, sample, resume, eval, info, export or completion/],
    ['a missing argument', ['train'], /^charrnn: .*; see charrnn train --help\n$/],
    ['an extra argument', ['train', 'fox.txt', 'more.txt'], /^charrnn: .*more\.txt; see charrnn train --help\n$/],
    [
      'a training option given to resume',
      ['resume', 'good.json', '--hidden', '5'],
      /unknown flag --hidden \(it is fixed for the run/,
    ],
    [
      'a flag with no value before another flag',
      ['train', 'fox.txt', '-o', '--json'],
      /-o needs a value \(a file path\)/,
    ],
    [
      'a model too large to allocate',
      ['train', 'fox.txt', '--hidden', '8192', '--layers', '16'],
      /parameters is too large .*lower --hidden or --layers/,
    ],
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
    expectOneLineError(
      run(['eval', 'odd.txt', '-c', 'good.json']),
      1,
      /odd\.txt: character "🦊" \(U\+1F98A\) at position 12 is not in the model's vocabulary/,
    );
  });

  it('says how to train when there is no checkpoint to sample', () => {
    const empty = mkdtempSync(join(tmpdir(), 'charrnn-none-'));
    const result = spawnSync(process.execPath, [BIN, 'sample'], { cwd: empty, encoding: 'utf8' });
    expectOneLineError(
      result,
      1,
      /no checkpoint found in checkpoints\/; train one first \(charrnn train corpus\.txt\)/,
    );
  });
});

describe('faults during training', () => {
  it('refuses an unwritable output before training starts', () => {
    writeFileSync(join(dir, 'afile'), 'x');
    expectOneLineError(
      run(['train', 'fox.txt', ...TINY, '-o', 'afile/model.json']),
      1,
      /cannot save afile\/model\.json/,
    );
  });

  it('stops on divergence with a clear message and keeps the last good checkpoint', () => {
    expect(run(['train', 'fox.txt', ...TINY, '-o', 'diverge.json', '-q']).status).toBe(0);
    const good = readFileSync(join(dir, 'diverge.json'), 'utf8');
    const result = run([
      'train',
      'fox.txt',
      ...TINY,
      '--iters',
      '50',
      '--optim',
      'sgd',
      '--momentum',
      '0',
      '--lr',
      '1e38',
      '--clip',
      '0',
      '--save-every',
      '1',
      '-o',
      'diverge.json',
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /charrnn: training diverged at iteration \d+: the (loss|gradient norm) is (NaN|Infinity); nothing from this step/,
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
    const after = readFileSync(join(dir, 'diverge.json'), 'utf8');
    // Either untouched, or saved from a step before the divergence: it must still load with finite weights.
    if (after !== good) expect(run(['sample', '-c', 'diverge.json', '--length', '5', '--seed', '1']).status).toBe(0);
  });
});

/** Every flag of every command, from the tables the parser reads, with a command line that reaches it. */
const everyFlag: { command: string; flag: Flag; args: string[] }[] = PROGRAM.commands.flatMap((command) => {
  const [name, ...positionals] = command.command.split(' ');
  return command.flags.map((flag) => ({ command: name!, flag, args: [name!, ...positionals.map(() => 'fox.txt')] }));
});
const numericFlags = everyFlag.filter(({ flag }) => flag.kind.type === 'integer' || flag.kind.type === 'number');

/** Values no numeric flag takes: not numbers, below every minimum, beyond every maximum, and fractions where whole. */
function badNumbers(flag: Flag): string[] {
  const bad = ['NaN', 'abc', '', '-1', '1e999'];
  if (flag.kind.type === 'integer') bad.push('1.5');
  if (Number.isFinite(flag.kind.max)) bad.push(String(flag.kind.max! * 2 + 1));
  return bad;
}

const runAsync = promisify(execFile);

/** Runs command lines four at a time (each fails before reading anything), resolving to their results in order. */
async function runAll(commandLines: string[][]) {
  const results: { status: number; stdout: string; stderr: string }[] = [];
  const runOne = (args: string[]) =>
    runAsync(process.execPath, [BIN, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    }).then(
      ({ stdout, stderr }) => ({ status: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        status: error.code,
        stdout: error.stdout,
        stderr: error.stderr,
      }),
    );
  for (let i = 0; i < commandLines.length; i += 4)
    results.push(...(await Promise.all(commandLines.slice(i, i + 4).map(runOne))));
  return results;
}

/** Each bad value with the message it must get: `--flag VALUE is invalid: expected ...` or `-o needs a value`. */
function badValueCases({ flag, args }: (typeof everyFlag)[number]): { words: string[]; message: RegExp }[] {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const shown = (value: string) => (value === '' ? '""' : literal(value));
  if (flag.kind.type === 'path') {
    const spelling = flag.alias ? `-${flag.alias}` : `--${flag.name}`;
    return [
      {
        words: [...args, spelling, ''],
        message: new RegExp(`^charrnn: ${spelling} "" is invalid: expected a file path$`, 'm'),
      },
      {
        words: [...args, spelling],
        message: new RegExp(`^charrnn: ${spelling} needs a value \\(a file path\\); see charrnn `),
      },
    ];
  }
  return badNumbers(flag).map((value) => ({
    words: [...args, `--${flag.name}`, value],
    message: new RegExp(
      `^charrnn: --${flag.name} ${shown(value)} is invalid: expected ${literal(flag.kind.expected)}$`,
      'm',
    ),
  }));
}

const checkedFlags = everyFlag.filter(({ flag }) => ['integer', 'number', 'path'].includes(flag.kind.type));

describe('bad input by category', () => {
  it('covers the numeric flags of every command that has them', () => {
    expect(new Set(numericFlags.map(({ command }) => command))).toEqual(new Set(['train', 'resume', 'sample', 'info']));
  });

  // Every flag × every bad value through the parser the binary runs; the binary itself is checked below.
  it.each(
    checkedFlags.map(
      (entry) =>
        [`${entry.command} ${entry.flag.alias ? `-${entry.flag.alias}` : `--${entry.flag.name}`}`, entry] as const,
    ),
  )('%s refuses every bad value with one usage error', async (_, entry) => {
    for (const { words, message } of badValueCases(entry)) {
      let error: unknown;
      try {
        // The parser converts; the library, called by the command, checks (its check comes before any file is read).
        const parsed = await parseCommandLine(words, PROGRAM);
        if (parsed.action === 'run') await parsed.run();
      } catch (caught) {
        error = caught;
      }
      expect(error, words.join(' ')).toBeInstanceOf(CharrnnError);
      expect((error as CharrnnError).exitCode).toBe(2);
      expect(`charrnn: ${(error as CharrnnError).message}`).toMatch(message);
    }
  });

  it('the binary gives each bad value one line on stderr and exit 2', async () => {
    // One bad value per flag, the kinds of bad value taken in turn, so every flag and every kind is run.
    const cases = checkedFlags.map((entry, i) => {
      const all = badValueCases(entry);
      return all[i % all.length]!;
    });
    const results = await runAll(cases.map(({ words }) => words));
    results.forEach((result, i) => {
      expectOneLineError(result as ReturnType<typeof run>, 2, cases[i]!.message);
    });
  }, 60_000);

  it('takes arguments after --, and - as an argument', () => {
    expect(run(['train', ...TINY, '-o', 'dashes.json', '-q', '--', 'fox.txt']).status).toBe(0);
    const fromStdin = spawnSync(process.execPath, [BIN, 'train', '-', ...TINY, '-o', 'stdin.json', '-q'], {
      cwd: dir,
      input: TEXT,
    });
    expect(fromStdin.status).toBe(0);
  });

  it('takes an empty prime as no prime, and text values that start with a dash', () => {
    const plain = run(['sample', '-c', 'good.json', '-l', '20', '--seed', '3']);
    const empty = run(['sample', '-c', 'good.json', '-l', '20', '--seed', '3', '-p', '']);
    expect(empty.status).toBe(0);
    expect(empty.stdout).toBe(plain.stdout);
    const dashes = run(['sample', '-c', 'good.json', '-l', '5', '-n', '2', '--seed', '3', '--delimiter', '-q']);
    expect(dashes.status).toBe(0);
    expect(dashes.stdout.split('-q')).toHaveLength(3);
  });

  it('keeps the last value of a repeated flag', () => {
    const result = run(['sample', '-c', 'good.json', '--length', '50', '-l', '7', '--seed', '3', '--delimiter', '']);
    expect(result.status).toBe(0);
    expect([...result.stdout]).toHaveLength(7);
  });

  it('leaves the checkpoint alone when --time is bad', () => {
    const before = readFileSync(join(dir, 'good.json'), 'utf8');
    expectOneLineError(
      run(['resume', 'good.json', '--time', '-1']),
      2,
      /--time -1 is invalid: expected a number of seconds > 0/,
    );
    expect(readFileSync(join(dir, 'good.json'), 'utf8')).toBe(before);
  });
});

describe('help and version', () => {
  it.each(PROGRAM.commands.map((command) => [command.command.split(' ')[0]!, command] as const))(
    'charrnn %s --help lists every flag of its table',
    (name, command) => {
      const result = run([name, '--help']);
      expect(result.status).toBe(0);
      for (const flag of command.flags) expect(result.stdout).toContain(`--${flag.name}`);
      for (const flag of command.flags.filter((entry) => entry.alias))
        expect(result.stdout).toContain(`-${flag.alias}, --${flag.name}`);
    },
  );

  it('prints the version and the list of commands', () => {
    const version = run(['--version']);
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(
      JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'package.json'), 'utf8')).version,
    );
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const command of PROGRAM.commands) expect(help.stdout).toContain(command.command);
  });
});
