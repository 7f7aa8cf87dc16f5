/**
 * The command line as yargs reads it, through the built binary: help of every command, exit codes,
 * completion values, the words users rely on (dash values, '-', '--', repeated flags), and output to a
 * stdout that is closed, full or read-only.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROGRAM } from '../src/cli/program.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TINY = [
  '--hidden',
  '8',
  '--layers',
  '1',
  '--seq',
  '8',
  '--batch',
  '4',
  '--iters',
  '2',
  '--eval-every',
  '0',
  '-q',
];

let dir: string;

function run(args: string[], options: SpawnSyncOptions = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
    ...options,
  }) as ReturnType<typeof spawnSync> & { stdout: string; stderr: string };
}

/** Runs charrnn from bash, for redirections spawn cannot express (`>&-`, `| head`); a pipe exits with charrnn's code. */
function runInShell(args: string[], redirection: string) {
  return spawnSync('bash', ['-c', `set -o pipefail; "$0" "$@" ${redirection}`, process.execPath, BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
}

/** Runs charrnn with stdout (1) or stderr (2) opened on `path` with `flags`. */
function runWithDescriptor(args: string[], fd: 1 | 2, path: string, flags: string) {
  const handle = openSync(path, flags);
  try {
    const stdio: ('pipe' | number)[] = ['pipe', 'pipe', 'pipe'];
    stdio[fd] = handle;
    return run(args, { stdio });
  } finally {
    closeSync(handle);
  }
}

const completions = (...typed: string[]) =>
  run(['--get-yargs-completions', 'charrnn', ...typed])
    .stdout.split('\n')
    .filter(Boolean);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-yargs-'));
  writeFileSync(join(dir, 'fox.txt'), 'the quick brown fox jumps over the lazy dog. '.repeat(40));
  expect(run(['train', 'fox.txt', ...TINY, '-o', 'fox.json']).status).toBe(0);
});

describe('help', () => {
  it.each(PROGRAM.commands.map((command) => [command.command.split(' ')[0]!, command] as const))(
    'charrnn %s --help lists every flag with its default and choices, and the examples',
    (name, command) => {
      const result = run([name, '--help']);
      expect(result.status).toBe(0);
      expect(result.stderr).toBe('');
      const help = result.stdout.replace(/\s+/g, ' ');
      for (const flag of command.flags) {
        expect(help).toContain(flag.alias ? `-${flag.alias}, --${flag.name}` : `--${flag.name}`);
        const shown = flag.defaultText ?? (flag.kind.type === 'boolean' ? undefined : flag.default);
        if (shown !== undefined) expect(help).toContain(`[default: ${String(shown).replace(/\s+/g, ' ')}]`);
        if (flag.kind.choices) expect(help).toContain(flag.kind.choices.map((value) => `"${value}"`).join(', '));
      }
      for (const [example] of command.examples ?? []) expect(help).toContain(example);
      for (const global of ['-q, --quiet', '--color', '-h, --help', '-V, --version']) expect(help).toContain(global);
    },
  );

  it('charrnn --help lists the commands, completion among them, and the exit codes', () => {
    const result = run(['--help']);
    expect(result.status).toBe(0);
    for (const command of [...PROGRAM.commands.map((entry) => entry.command), 'completion'])
      expect(result.stdout).toContain(`charrnn ${command}`);
    expect(result.stdout).toContain('Exit codes: 0 ok, 1 runtime error, 2 usage error');
  });

  it('fits help into 80 columns off a terminal', () => {
    const lines = run(['train', '--help']).stdout.split('\n');
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(80);
  });
});

describe('exit codes', () => {
  it.each([
    ['-V', 0],
    ['--version', 0],
    ['-h', 0],
    ['sample -c fox.json -l 3', 0],
    ['trian', 2],
    ['', 2],
    ['train', 2],
    ['train fox.txt more.txt', 2],
    ['train fox.txt --lr abc', 2],
    ['sample --tmep 1', 2],
    ['sample -c missing.json', 1],
  ])('charrnn %s exits %i', (line, status) => {
    const result = run(line === '' ? [] : line.split(' '));
    expect(result.status).toBe(status);
    if (status !== 0) expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('completion', () => {
  it('prints the script, which calls --get-yargs-completions', () => {
    const result = run(['completion']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('--get-yargs-completions');
    expect(result.stdout).toContain('complete -o bashdefault -o default -F _charrnn_yargs_completions charrnn');
  });

  it('completes commands, the flags of the command typed, and the values of a choice flag', () => {
    expect(completions('')).toEqual(
      expect.arrayContaining(['train', 'sample', 'resume', 'eval', 'info', 'completion']),
    );
    const sampleFlags = completions('sample', '--');
    expect(sampleFlags).toEqual(expect.arrayContaining(['--temp', '--prime-file', '--checkpoint', '--quiet']));
    expect(sampleFlags).not.toContain('--hidden');
    expect(completions('train', '--')).toEqual(expect.arrayContaining(['--hidden', '--lr-schedule', '--preset']));
    expect(completions('train', 'fox.txt', '--model', '')).toEqual(['rnn', 'lstm', 'gru']);
    expect(completions('sample', '--kernel', '')).toEqual(['auto', 'js', 'wasm', 'native']);
  });
});

describe('words users rely on', () => {
  it('reads - as a value: --prime-file - and -c - read stdin', () => {
    const primed = run(['sample', '-c', 'fox.json', '--prime-file', '-', '-l', '3', '--seed', '1'], { input: 'the' });
    expect(primed.status).toBe(0);
    expect(primed.stdout.startsWith('the')).toBe(true);
    const fromFile = run(['sample', '-c', 'fox.json', '-l', '5', '--seed', '1']);
    const fromStdin = run(['sample', '-c', '-', '-l', '5', '--seed', '1'], {
      input: readFileSync(join(dir, 'fox.json')),
    });
    expect(fromStdin.status).toBe(0);
    expect(fromStdin.stdout).toBe(fromFile.stdout);
  });

  it('takes values that start with dashes: --delimiter ---', () => {
    const result = run(['sample', '-c', 'fox.json', '-l', '2', '-n', '3', '--seed', '1', '--delimiter', '---']);
    expect(result.status).toBe(0);
    expect(result.stdout.split('---')).toHaveLength(4);
  });

  it('takes the corpus after --, and - for stdin', () => {
    expect(run(['train', ...TINY, '-o', 'after.json', '--', 'fox.txt']).status).toBe(0);
    expect(existsSync(join(dir, 'after.json'))).toBe(true);
    const text = readFileSync(join(dir, 'fox.txt'));
    expect(run(['train', '-', ...TINY, '-o', 'stdin.json'], { input: text }).status).toBe(0);
  });

  it('keeps the last of a repeated flag', () => {
    const result = run(['sample', '-c', 'fox.json', '--length', '40', '-l', '6', '--seed', '2', '--delimiter', '']);
    expect(result.status).toBe(0);
    expect([...result.stdout]).toHaveLength(6);
  });

  it('reads a negative number as the value, refused with the table message', () => {
    const result = run(['sample', '-c', 'fox.json', '--temp', '-1']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      'charrnn: --temp -1 is invalid: expected a number ≥ 0 (0 means always the most likely character)\n',
    );
  });

  it("suggests the closest flag of the command typed, never another command's", () => {
    expect(run(['sample', '--tmep', '1']).stderr).toBe(
      'charrnn: unknown flag --tmep (did you mean --temp?); see charrnn sample --help\n',
    );
    expect(run(['eval', 'fox.txt', '--hiden', '4']).stderr).toBe(
      'charrnn: unknown flag --hiden; see charrnn eval --help\n',
    );
  });

  it('gives a bad choice the table message, not a list from yargs', () => {
    expect(run(['train', 'fox.txt', '--model', 'tree']).stderr).toBe(
      'charrnn: --model tree is invalid: expected one of rnn, lstm, gru\n',
    );
  });
});

describe('a stdout that cannot be written', () => {
  const CLOSED = 'charrnn: cannot write to stdout: it is closed or not open for writing (EBADF)\n';
  const FULL = 'charrnn: cannot write to stdout: the disk is full (ENOSPC)\n';
  const writers = [
    ['sample', ['sample', '-c', 'fox.json', '-l', '20']],
    ['eval', ['eval', 'fox.txt', '-c', 'fox.json']],
    ['info', ['info', 'fox.json']],
    ['--help', ['--help']],
    ['--version', ['--version']],
    ['completion', ['completion']],
  ] as const;

  it.each(writers)('%s with stdout closed says so and exits 1, as seq 3 >&- does', (_, args) => {
    const result = runInShell([...args], '>&-');
    expect(result.stderr).toBe(CLOSED);
    expect(result.status).toBe(1);
  });

  it.runIf(existsSync('/dev/full')).each(writers)('%s into a full disk says so and exits 1', (_, args) => {
    const result = runWithDescriptor([...args], 1, '/dev/full', 'w');
    expect(result.stderr).toBe(FULL);
    expect(result.status).toBe(1);
  });

  it('completion into a stdout opened read-only says so and exits 1', () => {
    const result = runWithDescriptor(['completion'], 1, join(dir, 'fox.txt'), 'r');
    expect(result.stderr).toBe(CLOSED);
    expect(result.status).toBe(1);
  });

  it('stays quiet when the reader goes away (| head)', () => {
    const result = runInShell(['sample', '-c', 'fox.json', '-l', '0'], '| head -c 10 >/dev/null');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('writes to /dev/null as to any file', () => {
    expect(runWithDescriptor(['sample', '-c', 'fox.json', '-l', '5'], 1, '/dev/null', 'w').status).toBe(0);
  });

  it.runIf(existsSync('/dev/full'))('keeps a usage error exit 2 when stderr cannot take the message', () => {
    expect(runWithDescriptor(['trian'], 2, '/dev/full', 'w').status).toBe(2);
    expect(runWithDescriptor(['train', '--hiden', '3'], 2, '/dev/full', 'w').status).toBe(2);
  });
});
