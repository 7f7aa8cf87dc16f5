/**
 * Where output may go and what happens when it cannot, through the built binary, by category:
 * every kind of path for -o, its .best.json sibling and --log (device, FIFO, directory, symlink, the
 * corpus by any name, a missing or file parent), and every stdout (closed, read-only, full, broken pipe)
 * for sample, eval, info and train --json. Nothing is replaced, nothing hangs, no stack traces.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { colorAllowed } from '../src/cli/terminal.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'The sea was calm; the sky was grey, and the gulls cried over the harbour wall.\n'.repeat(30);
const MODEL = ['--hidden', '8', '--layers', '1', '--seq', '8', '--batch', '4', '--eval-every', '0'];
const TINY = [...MODEL, '--iters', '5', '-q'];
/** Long enough that only a lost output ends it. */
const ENDLESS = [...MODEL, '--iters', '100000', '--json'];
const ENV = { ...process.env, CI: 'true' };
let dir: string;

function run(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const env = options.env ?? ENV;
  const input = options.input;
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env, input, timeout: 30_000 });
}

/** Runs a shell line in the test directory, with `charrnn` standing for the built binary. */
function shell(line: string) {
  const command = line.replaceAll('charrnn', `"${process.execPath}" "${BIN}"`);
  return spawnSync('sh', ['-c', command], { cwd: dir, encoding: 'utf8', env: ENV, timeout: 30_000 });
}

function expectOneLine(result: { status: number | null; stderr: string }, status: number, message: RegExp): void {
  expect(result.status).toBe(status);
  expect(result.stderr).toMatch(message);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-outputs-'));
  writeFileSync(join(dir, 'sea.txt'), TEXT);
  mkdirSync(join(dir, 'folder'));
  spawnSync('mkfifo', [join(dir, 'fifo')]);
  symlinkSync('sea.txt', join(dir, 'sea-link.txt'));
  linkSync(join(dir, 'sea.txt'), join(dir, 'sea-hard.txt'));
  symlinkSync('nowhere.json', join(dir, 'dangling.json'));
  writeFileSync(join(dir, 'afile'), 'not a directory');
  expect(run(['train', 'sea.txt', ...TINY, '-o', 'model.json']).status).toBe(0);
});

/** A path as it appears, literally, inside a regular expression. */
const literal = (path: string) => path.replace(/[./]/g, '\\$&');

describe('-o, .best.json and --log refuse anything but a regular file or a new path, before training', () => {
  // A path of the wrong kind is a runtime error (1); the run's own input by any name a usage error (2).
  const refused: Array<[string, string, RegExp, number]> = [
    ['a character device', '/dev/full', /it is a device/, 1],
    ['a FIFO', 'fifo', /it is a named pipe/, 1],
    ['a directory', 'folder', /it is a directory/, 1],
    ['a dangling symlink', 'dangling.json', /it is a symlink to a missing file \(nowhere\.json\)/, 1],
    ['a path under a file', 'afile/model.json', /afile is a file, not a directory/, 1],
    ['the corpus by its name', 'sea.txt', /it is the corpus/, 2],
    ['the corpus by another path', './sea.txt', /it is the corpus/, 2],
    ['the corpus through a symlink', 'sea-link.txt', /it is the corpus/, 2],
    ['the corpus through a hard link', 'sea-hard.txt', /it is the corpus/, 2],
  ];
  for (const [what, path, message, status] of refused) {
    it(`-o refuses ${what}`, () => {
      const result = run(['train', 'sea.txt', ...TINY, '-o', path]);
      expectOneLine(result, status, new RegExp(`^charrnn: cannot save ${literal(path)}: ${message.source}`));
    });
    it(`--log refuses ${what}`, () => {
      const result = run(['train', 'sea.txt', ...TINY, '-o', 'log-model.json', '--log', path]);
      const line = new RegExp(`^charrnn: cannot write the log to ${literal(path)}: ${message.source}`);
      expectOneLine(result, status, line);
      expect(existsSync(join(dir, 'log-model.json'))).toBe(false);
    });
  }

  it('leaves what it refused as it was: the device, the FIFO and the corpus', () => {
    expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
    expect(statSync(join(dir, 'fifo')).isFIFO()).toBe(true);
    expect(readFileSync(join(dir, 'sea.txt'), 'utf8')).toBe(TEXT);
  });

  it('refuses a .best.json sibling that is a FIFO or a directory before training starts', () => {
    spawnSync('mkfifo', [join(dir, 'piped.best.json')]);
    const piped = run(['train', 'sea.txt', ...TINY, '-o', 'piped.json']);
    expectOneLine(piped, 1, /^charrnn: cannot save piped\.best\.json: it is a named pipe/);
    mkdirSync(join(dir, 'dir.best.json'));
    const beside = run(['train', 'sea.txt', ...TINY, '-o', 'dir.json']);
    expectOneLine(beside, 1, /^charrnn: cannot save dir\.best\.json: it is a directory/);
    expect(existsSync(join(dir, 'piped.json'))).toBe(false);
  });

  it('refuses an empty path and - as usage errors, showing - as typed', () => {
    const empty = run(['train', 'sea.txt', ...TINY, '-o', '']);
    expectOneLine(empty, 2, /^charrnn: -o "" is invalid: expected a file path/);
    const dash = run(['train', 'sea.txt', ...TINY, '-o', '-']);
    expectOneLine(dash, 2, /^charrnn: cannot save - \(stdout\); give a file name\n$/);
    const log = run(['train', 'sea.txt', ...TINY, '-o', 'x.json', '--log', '-']);
    expectOneLine(log, 2, /^charrnn: cannot write the log to - \(stdout\)/);
  });

  it('refuses --log where the run saves its checkpoint or its best copy, by any name, on train and resume', () => {
    const same = run(['train', 'sea.txt', ...TINY, '-o', 'same.json', '--log', './same.json']);
    expectOneLine(
      same,
      2,
      /^charrnn: cannot write the log to \.\/same\.json: it is where the run saves its checkpoint \(same\.json\);/,
    );
    const best = run(['train', 'sea.txt', ...TINY, '-o', 'same.json', '--log', 'same.best.json']);
    expectOneLine(best, 2, /^charrnn: cannot write the log to same\.best\.json: it is where the run saves its best/);
    expect(existsSync(join(dir, 'same.json'))).toBe(false);
    writeFileSync(join(dir, 'resumed.json'), readFileSync(join(dir, 'model.json')));
    symlinkSync('resumed.json', join(dir, 'resumed-link.json'));
    const resumed = run(['resume', 'resumed.json', '--iters', '8', '--log', 'resumed-link.json']);
    expectOneLine(
      resumed,
      2,
      /^charrnn: cannot write the log to resumed-link\.json: it is where the run saves its checkpoint/,
    );
    expect(loadCheckpoint(join(dir, 'resumed.json')).training!.iteration).toBe(5);
  });

  it('creates a missing parent directory for -o and --log', () => {
    const result = run(['train', 'sea.txt', ...TINY, '-o', 'new/deeper/m.json', '--log', 'logs/deeper/run.log']);
    expect(result.status).toBe(0);
    expect(loadCheckpoint(join(dir, 'new/deeper/m.json')).training!.iteration).toBe(5);
    expect(readFileSync(join(dir, 'logs/deeper/run.log'), 'utf8')).toMatch(/"event":"done"/);
  });

  it('writes through a symlink to a regular file, atomically, and keeps the link a link', () => {
    mkdirSync(join(dir, 'store'));
    writeFileSync(join(dir, 'store', 'real.json'), '');
    symlinkSync('store/real.json', join(dir, 'linked.json'));
    expect(run(['train', 'sea.txt', ...TINY, '-o', 'linked.json']).status).toBe(0);
    expect(lstatSync(join(dir, 'linked.json')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'linked.json'))).toBe('store/real.json');
    expect(loadCheckpoint(join(dir, 'store', 'real.json')).training!.iteration).toBe(5);
  });

  it('refuses the corpus on resume too', () => {
    const output = run(['resume', 'model.json', '--iters', '8', '-o', 'sea-link.txt']);
    expectOneLine(output, 2, /^charrnn: cannot save sea-link\.txt: it is the corpus/);
    const log = run(['resume', 'model.json', '--iters', '8', '--corpus', 'sea.txt', '--log', 'sea-hard.txt']);
    expectOneLine(log, 2, /^charrnn: cannot write the log to sea-hard\.txt: it is the corpus/);
  });
});

/** Spawns a command whose stdout pipe is closed by the reader before the command writes. */
function withReaderGone(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: ENV });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (data) => (stderr += data));
    child.on('close', (status) => done({ status, stderr }));
  });
}

describe('stdout: closed, read-only, full, or a reader that leaves', () => {
  const commands: Array<[string, string[]]> = [
    ['sample', ['sample', '-c', 'model.json', '-l', '3000', '--seed', '1']],
    ['eval', ['eval', 'sea.txt', '-c', 'model.json']],
    ['info', ['info', 'model.json']],
  ];
  for (const [name, args] of commands) {
    it(`${name}: a full disk is one line and exit 1`, () => {
      const result = shell(`charrnn ${args.join(' ')} > /dev/full`);
      expectOneLine(result, 1, /^charrnn: cannot write to stdout: the disk is full \(ENOSPC\)\n$/);
    });
    it(`${name}: stdout open only for reading is one line and exit 1`, () => {
      const result = shell(`charrnn ${args.join(' ')} 1< /dev/null`);
      expectOneLine(result, 1, /^charrnn: cannot write to stdout: it is closed or not open for writing \(EBADF\)\n$/);
    });
    it(`${name}: a closed stdout is one line and exit 1, as seq 3 >&- says`, () => {
      const result = shell(`charrnn ${args.join(' ')} >&-`);
      expectOneLine(result, 1, /^charrnn: cannot write to stdout: it is closed or not open for writing \(EBADF\)\n$/);
    });
    it(`${name}: a reader that leaves ends it quietly with status 0`, async () => {
      const result = await withReaderGone(args);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    });
  }

  it('train --json: a full stdout stops the run after saving, with one line and exit 1', () => {
    const result = shell(`charrnn train sea.txt ${ENDLESS.join(' ')} -q -o full.json > /dev/full`);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        '^charrnn: cannot write to stdout: the disk is full \\(ENOSPC\\); ' +
          'stopping after this step to save the checkpoint\n' +
          'stopped at iteration \\d+; saved full\\.json \\(continue with: charrnn resume full\\.json\\)\n$',
      ),
    );
    expect(loadCheckpoint(join(dir, 'full.json')).training!.iteration).toBeGreaterThanOrEqual(1);
  });

  it('train --json: a reader that leaves stops the run quietly after saving, exit 0', async () => {
    const result = await withReaderGone(['train', 'sea.txt', ...ENDLESS, '-q', '-o', 'gone.json']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(loadCheckpoint(join(dir, 'gone.json')).training!.iteration).toBeGreaterThanOrEqual(1);
  });
});

describe('stderr during training: a reader that leaves or a full disk', () => {
  const flags = [...MODEL, '--iters', '100000', '--eval-every', '50'];

  it('2>&1 | head: the reader leaving stops the run after saving, exit 0', async () => {
    const result = await new Promise<number | null>((done) => {
      const args = [BIN, 'train', 'sea.txt', ...flags, '-o', 'stderr-gone.json'];
      const child = spawn(process.execPath, args, { cwd: dir, env: ENV });
      child.stderr.destroy();
      child.on('close', done);
    });
    expect(result).toBe(0);
    expect(loadCheckpoint(join(dir, 'stderr-gone.json')).training!.iteration).toBeGreaterThanOrEqual(1);
  });

  it('2> /dev/full: stops the run after saving, exit 1', () => {
    const result = shell(`charrnn train sea.txt ${flags.join(' ')} -o stderr-full.json 2> /dev/full`);
    expect(result.status).toBe(1);
    expect(loadCheckpoint(join(dir, 'stderr-full.json')).training!.iteration).toBeGreaterThanOrEqual(1);
  });
});

describe('inputs named -', () => {
  it('-c - reads the checkpoint from stdin, and its messages say stdin, never a placeholder', () => {
    const input = readFileSync(join(dir, 'model.json'), 'utf8');
    const sampled = run(['sample', '-c', '-', '-l', '20', '--seed', '3'], { input });
    expect(sampled.status).toBe(0);
    expect(sampled.stdout).toBe(run(['sample', '-c', 'model.json', '-l', '20', '--seed', '3']).stdout);
    const bad = run(['sample', '-c', '-'], { input: 'not json' });
    expectOneLine(bad, 1, /^charrnn: stdin is not a charrnn checkpoint/);
    expect(bad.stderr).not.toContain('\u0000');
  });

  it('stdin feeds one input only: eval - -c - and sample --prime-file - -c - are usage errors', () => {
    const evaluated = run(['eval', '-', '-c', '-'], { input: 'x' });
    expectOneLine(evaluated, 2, /^charrnn: CORPUS and --checkpoint both read stdin \(-\)/);
    const sample = run(['sample', '--prime-file', '-', '-c', '-'], { input: 'x' });
    expectOneLine(sample, 2, /^charrnn: --prime-file and --checkpoint both read stdin \(-\)/);
  });
});

describe('eval and sample refuse what they cannot do', () => {
  it('eval of a 1-character or BOM-only text is one clear line and exit 1, not NaN', () => {
    writeFileSync(join(dir, 'one.txt'), 'T');
    writeFileSync(join(dir, 'bom.txt'), '\ufeff');
    const messages = {
      'one.txt': /^charrnn: one\.txt is too short to evaluate: it has 1 character, .* so it needs at least 2\n$/,
      'bom.txt': /^charrnn: bom\.txt holds only a byte-order mark; give a text file with something in it\n$/,
    };
    for (const [name, message] of Object.entries(messages)) {
      const result = run(['eval', name, '-c', 'model.json']);
      expectOneLine(result, 1, message);
      expect(result.stdout).toBe('');
    }
  });

  it('sample --stop with characters the model never saw is a usage error naming them, even endless with --json', () => {
    const result = run(['sample', '-c', 'model.json', '--stop', 'QZ!', '--length', '0', '--json']);
    expectOneLine(result, 2, /^charrnn: --stop has characters the model never saw: "Q", "Z", "!"/);
  });
});

describe('colour: one rule, colorAllowed()', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;

  it('follows the stream when nothing says otherwise', () => {
    expect(colorAllowed(tty, true, {})).toBe(true);
    expect(colorAllowed(pipe, true, {})).toBe(false);
  });

  it('counts NO_COLOR only when it is non-empty (no-color.org)', () => {
    expect(colorAllowed(tty, true, { NO_COLOR: '1' })).toBe(false);
    expect(colorAllowed(tty, true, { NO_COLOR: '' })).toBe(true);
  });

  it('turns colour off for CI, TERM=dumb and --no-color', () => {
    expect(colorAllowed(tty, true, { CI: 'true' })).toBe(false);
    expect(colorAllowed(tty, true, { TERM: 'dumb' })).toBe(false);
    expect(colorAllowed(tty, false, {})).toBe(false);
    expect(colorAllowed(tty, false, { FORCE_COLOR: '1' })).toBe(false);
  });

  it('FORCE_COLOR: 0 is off even on a terminal; 1, 2, 3 or empty is on even off one, over NO_COLOR, CI, TERM', () => {
    expect(colorAllowed(tty, true, { FORCE_COLOR: '0' })).toBe(false);
    for (const value of ['1', '2', '3', '']) {
      expect(colorAllowed(pipe, true, { FORCE_COLOR: value, NO_COLOR: '1', CI: 'true', TERM: 'dumb' })).toBe(true);
    }
  });

  it('reaches the output: FORCE_COLOR colours piped training messages and info chart; no bar off a terminal', () => {
    const env = { ...process.env, CI: undefined, NO_COLOR: undefined, FORCE_COLOR: '1' };
    const flags = [...MODEL, '--iters', '30', '--eval-every', '10'];
    const trained = run(['train', 'sea.txt', ...flags, '-o', 'colour.json'], { env });
    expect(trained.stderr).toMatch(/\x1b\[32m best/);
    expect(trained.stderr).not.toMatch(/[█░]/);
    expect(run(['info', 'colour.json'], { env }).stdout).toMatch(/\x1b\[3\dm/);
    expect(run(['info', 'colour.json'], { env: { ...env, FORCE_COLOR: '0' } }).stdout).not.toMatch(/\x1b\[/);
  });
});
