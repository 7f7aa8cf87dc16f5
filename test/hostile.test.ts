/**
 * What a hostile (or unlucky) user meets, through the built binary: text from files that would drive the
 * terminal, paths that need quoting, weights so large their outputs overflow, a stale best checkpoint, a
 * hidden corpus, and flags that used to be ignored or advised where they did not apply.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeFloat32 } from '../src/checkpoint/tensor-codec.js';
import { escapeControls, shellQuote } from '../src/cli/terminal.js';
import { CharrnnError, LoadedModel } from '../src/index.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'the quick brown fox jumps over the lazy dog. '.repeat(60);
const TINY = ['--hidden', '8', '--layers', '1', '--seq', '8', '--batch', '4', '--iters', '3', '--eval-every', '0'];
const ENV = { ...process.env, CI: 'true' };
// Several runs of the binary per test: seconds alone, far more on a loaded machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });
/** What a terminal would act on: C0 and C1 controls (ESC, BEL, CSI) but the line end, DEL, line and paragraph separators. */
const TERMINAL_CONTROL = /(?!\n)[\p{Cc}\u2028\u2029]/u;
/** Escape sequences that clear the screen, set the window title, and start a fake line. */
const HOSTILE = '\x1b[2J\x1b]0;pwned\x07\ncharrnn: fake line\r';

let dir: string;

function run(args: string[], options: { cwd?: string; stdout?: number } = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? dir,
    encoding: 'utf8',
    env: ENV,
    stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
    timeout: 60_000,
  });
}

/** A new directory holding `files` (paths relative to it), and a runner of the binary in it. */
function workIn(name: string, files: Record<string, string | Buffer>) {
  const work = join(dir, name);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(work, file)), { recursive: true });
    writeFileSync(join(work, file), content);
  }
  return { work, run: (args: string[]) => run(args, { cwd: work }) };
}

function expectOneLineError(result: ReturnType<typeof run>, status: number, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.status).toBe(status);
  expect(result.stdout ?? '').toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^charrnn: /);
  expect(result.stderr).not.toMatch(TERMINAL_CONTROL);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

/** good.json with its JSON edited, written as `name`. */
// biome-ignore lint/suspicious/noExplicitAny: an edit may reach any field of the parsed JSON
function writeEdited(name: string, edit: (json: any) => void): void {
  const json = JSON.parse(readFileSync(join(dir, 'good.json'), 'utf8'));
  edit(json);
  writeFileSync(join(dir, name), JSON.stringify(json));
}

/** A checkpoint whose every weight is finite but near the float32 maximum, so every product overflows. */
function writeHugeWeights(name: string): void {
  writeEdited(name, (json) => {
    for (const tensor of Object.values<{ shape: number[]; data: string }>(json.tensors)) {
      const size = tensor.shape.reduce((a, b) => a * b, 1);
      tensor.data = encodeFloat32(new Float32Array(size).fill(3.4e38));
    }
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-hostile-'));
  writeFileSync(join(dir, 'fox.txt'), TEXT);
  expect(run(['train', 'fox.txt', ...TINY, '-o', 'good.json']).status).toBe(0);
});

describe('text from files and paths is escaped on the terminal', () => {
  it('escapeControls escapes every control character and separator, and leaves the rest', () => {
    const all = Array.from({ length: 0xa0 }, (_, code) => String.fromCharCode(code)).join('');
    expect(escapeControls(`${all}\u2028\u2029\u00a0\u202e`)).not.toMatch(TERMINAL_CONTROL);
    expect(escapeControls(HOSTILE)).toBe('\\x1b[2J\\x1b]0;pwned\\x07\\ncharrnn: fake line\\r');
    expect(escapeControls('my run/naïve 🦊.json')).toBe('my run/naïve 🦊.json');
    expect(escapeControls('a\u2028b\u00a0c\u202ed')).toBe('a\\u2028b\\xa0c\\u202ed');
  });

  it('info shows a recorded corpus path and origin with their control characters escaped', () => {
    writeEdited('hostile-info.json', (json) => {
      json.training.corpus.path = `/data/${HOSTILE}corpus.txt`;
      json.training.origin = { checkpoint: `/base${HOSTILE}.json`, iteration: 7, corpus: `/old${HOSTILE}.txt` };
    });
    const plain = run(['info', 'good.json', '--no-color']);
    const result = run(['info', 'hostile-info.json', '--no-color']);
    expect(result.status).toBe(0);
    expect(result.stdout).not.toMatch(TERMINAL_CONTROL);
    expect(result.stdout).toContain('/data/\\x1b[2J\\x1b]0;pwned\\x07\\ncharrnn: fake line\\rcorpus.txt');
    expect(result.stdout).toContain('/base\\x1b[2J');
    expect(result.stdout).toContain('/old\\x1b[2J');
    // One more line than good.json's: the `from` line, and no line made by a newline in a path.
    expect(result.stdout.split('\n')).toHaveLength(plain.stdout.split('\n').length + 1);
  });

  it("a fine-tuning run's first line shows the source checkpoint's path escaped", () => {
    const source = `base${HOSTILE.replace('\n', '')}.json`;
    copyFileSync(join(dir, 'good.json'), join(dir, source));
    const result = run(['train', 'fox.txt', ...TINY, '--init-from', source, '-o', 'tuned-hostile.json']);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('starting from the weights of');
    expect(result.stderr).toContain('base\\x1b[2J');
    expect(result.stderr).not.toMatch(TERMINAL_CONTROL);
  });

  it("resume's error naming a recorded corpus path with escape sequences is one escaped line", () => {
    writeEdited('hostile-resume.json', (json) => {
      json.training.corpus.path = join(dir, `gone${HOSTILE}.txt`);
    });
    expectOneLineError(run(['resume', 'hostile-resume.json']), 1, /gone\\x1b\[2J\\x1b\]0;pwned\\x07\\ncharrnn: fake/);
  });

  it('an error about a path with a newline stays one line, the newline shown as \\n', () => {
    expectOneLineError(run(['sample', '-c', 'no\nsuch.json']), 1, /^charrnn: no\\nsuch\.json: no such checkpoint/);
  });

  it('info --log naming a path with escape sequences: one escaped line', () => {
    expectOneLineError(run(['info', 'good.json', '--log', `x${HOSTILE}`]), 1, /--log x\\x1b\[2J/);
  });
});

describe('command lines suggested to the user quote their paths for a POSIX shell', () => {
  const paths = ['plain/run-1.json', 'my run.json', "it's.json", 'two\nlines.json', `e${HOSTILE}`, 'naïve\u2028.json'];

  it.each(paths)('shellQuote(%j) reads back as the path in a shell', (path) => {
    const quoted = shellQuote(path);
    expect(quoted).not.toMatch(TERMINAL_CONTROL);
    const echoed = spawnSync('bash', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' });
    expect(echoed.stdout).toBe(path);
  });

  /** A run that stops at its first step: --json to a full disk stops it, and it saves. */
  function stoppedRun(output: string) {
    const full = openSync('/dev/full', 'w');
    try {
      return run(['train', 'fox.txt', ...TINY, '--iters', '100000', '--json', '-q', '-o', output], { stdout: full });
    } finally {
      closeSync(full);
    }
  }

  it('"continue with: charrnn resume" quotes a path with a space', () => {
    const result = stoppedRun('my run.json');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/saved my run\.json \(continue with: charrnn resume 'my run\.json'\)\n$/);
  });

  it('a path with a newline: the stopped line stays one line and its suggestion works in a shell', () => {
    const result = stoppedRun('two\nlines.json');
    expect(result.status).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(
      /^stopped at iteration \d+; saved two\\nlines\.json \(continue with: charrnn resume \$'two\\012lines\.json'\)$/,
    );
    expect(existsSync(join(dir, 'two\nlines.json'))).toBe(true);
  });
});

describe('a model whose finite weights overflow', () => {
  beforeAll(() => writeHugeWeights('huge.json'));
  const OVERFLOW = /^charrnn: the model's outputs overflow 32-bit floats \(its largest weight is 3\.4e\+38\)/;

  it('eval: one line, exit 1, not NaN', () => {
    expectOneLineError(run(['eval', 'fox.txt', '-c', 'huge.json']), 1, OVERFLOW);
    expectOneLineError(run(['eval', 'fox.txt', '-c', 'huge.json', '--json']), 1, OVERFLOW);
  });

  it('the library: evaluate throws a CharrnnError instead of returning NaN', async () => {
    const model = await LoadedModel.load(join(dir, 'huge.json'));
    expect(() => model.evaluate(TEXT)).toThrow(CharrnnError);
    expect(() => model.evaluate(TEXT)).toThrow(/overflow/);
  });

  it('sample: one line, exit 1, rather than endless "zzzz" (sampled or argmax)', () => {
    expectOneLineError(run(['sample', '-c', 'huge.json', '--length', '0', '--seed', '1']), 1, OVERFLOW);
    expectOneLineError(run(['sample', '-c', 'huge.json', '--argmax']), 1, OVERFLOW);
  });
});

describe('choosing the checkpoint when none is named', () => {
  it('a run without validation removes the best copy an earlier run left at its path', () => {
    const { work, run: inWork } = workIn('best', { 'fox.txt': TEXT });
    const validated = [...TINY.slice(0, -4), '--iters', '3'];
    expect(inWork(['train', 'fox.txt', ...validated, '--seed', '1']).status).toBe(0);
    expect(existsSync(join(work, 'checkpoints', 'fox.best.json'))).toBe(true);
    // A new run to the same path that cannot validate: its own checkpoint is the one to use.
    expect(inWork(['train', 'fox.txt', ...validated, '--seed', '2', '--val-frac', '0']).status).toBe(0);
    expect(existsSync(join(work, 'checkpoints', 'fox.best.json'))).toBe(false);
    const chosen = inWork(['eval', 'fox.txt', '--json']);
    const named = inWork(['eval', 'fox.txt', '--json', '-c', 'checkpoints/fox.json']);
    expect(chosen.status).toBe(0);
    expect(chosen.stdout).toBe(named.stdout);
  });

  it('a resume in place keeps its own best copy', () => {
    const { work, run: inWork } = workIn('own-best', { 'fox.txt': TEXT });
    const flags = [...TINY.slice(0, -4), '--iters', '3', '--lr', '1e-30'];
    expect(inWork(['train', 'fox.txt', ...flags, '-o', 'run.json']).status).toBe(0);
    const best = readFileSync(join(work, 'run.best.json'), 'utf8');
    // At so low a rate the weights do not change, so no later validation is better: the best copy stays as it was.
    expect(inWork(['resume', 'run.json', '--iters', '6', '--eval-every', '0']).status).toBe(0);
    expect(readFileSync(join(work, 'run.best.json'), 'utf8')).toBe(best);
  });

  it('train .notes.txt saves checkpoints/notes.json, which sample finds', () => {
    const { work, run: inWork } = workIn('hidden', { '.notes.txt': TEXT });
    expect(inWork(['train', '.notes.txt', ...TINY, '-q']).status).toBe(0);
    expect(existsSync(join(work, 'checkpoints', 'notes.json'))).toBe(true);
    const sampled = inWork(['sample', '--length', '20', '--seed', '1']);
    expect(sampled.stderr).toBe('');
    expect(sampled.status).toBe(0);
  });

  it('a hidden checkpoint given with -o is found too', () => {
    const checkpoint = readFileSync(join(dir, 'good.json'));
    const sampled = workIn('hidden-output', { 'checkpoints/.secret.json': checkpoint }).run(['sample', '-l', '20']);
    expect(sampled.stderr).toBe('');
    expect(sampled.status).toBe(0);
  });
});

describe('--encoding where it does not apply, and advice that fits the command', () => {
  it('resume --encoding without --corpus is refused: one line, exit 2', () => {
    expectOneLineError(
      run(['resume', 'good.json', '--encoding', 'latin1', '--iters', '6']),
      2,
      /^charrnn: --encoding latin1 applies only to --corpus: .*--corpus FILE$/m,
    );
  });

  it('sample --prime-file with invalid UTF-8 advises --encoding latin1, and sample then takes it', () => {
    writeFileSync(join(dir, 'cafe.txt'), Buffer.from('caf\xe9 au lait, '.repeat(100), 'latin1'));
    const trained = run(['train', 'cafe.txt', ...TINY, '--encoding', 'latin1', '-q', '-o', 'cafe.json']);
    expect(trained.status).toBe(0);
    writeFileSync(join(dir, 'prime.txt'), Buffer.from('caf\xe9', 'latin1'));
    const advice = run(['sample', '-c', 'cafe.json', '--prime-file', 'prime.txt', '-l', '5']);
    expectOneLineError(advice, 1, /invalid UTF-8 .* pass --encoding latin1/);
    const args = ['sample', '-c', 'cafe.json', '--prime-file', 'prime.txt', '--encoding', 'latin1', '-l', '5'];
    const followed = run([...args, '--seed', '1']);
    expect(followed.stderr).toBe('');
    expect(followed.status).toBe(0);
    expect(followed.stdout.startsWith('café')).toBe(true);
  });

  it('sample --encoding without --prime-file is refused: one line, exit 2', () => {
    expectOneLineError(
      run(['sample', '-c', 'good.json', '--encoding', 'latin1']),
      2,
      /^charrnn: --encoding latin1 applies only to --prime-file/,
    );
  });
});
