/**
 * No file is lost through a path, through the built binary: every file a run writes is checked against
 * every file it reads and every other it writes by device and inode (symlinks, hard links, other names);
 * one run per checkpoint at a time (a lock naming its process, taken over when stale); long file names;
 * a deleted working directory; SIGHUP; the directory a symlinked output's message blames. Every file a
 * refused run must not touch is compared byte for byte before and after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryPath } from '../src/checkpoint/io.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { CharrnnError, corpusFromText, trainModel } from '../src/index.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.\n'.repeat(30);
const MODEL = ['--hidden', '8', '--layers', '1', '--seq', '8', '--batch', '4', '--eval-every', '0'];
const TINY = [...MODEL, '--iters', '5', '-q'];
/** Long enough that only a signal ends it; each step reported, so a test can wait for one. */
const ENDLESS = [...MODEL, '--iters', '1000000', '--epochs', '0', '--json', '--print-every', '1'];
const ENV = { ...process.env, CI: 'true' };
let dir: string;

function run(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: ENV, timeout: 60_000 });
}

function expectOneLine(result: { status: number | null; stderr: string }, status: number, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.status).toBe(status);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
}

/** The bytes of files, to compare after a refused run: it must have left each exactly as it was. */
const bytesOf = (...names: string[]) => names.map((name) => readFileSync(join(dir, name)));

/**
 * Starts a run that only a signal ends, resolving once its stdout shows `until`: by default its first
 * reported step (it holds its lock by then).
 */
async function startEndless(
  args: string[],
  until = '{"event":"progress"',
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args, ...ENDLESS], { cwd: dir, env: ENV });
  let stderr = '';
  child.stderr!.on('data', (data) => (stderr += data));
  await new Promise<void>((done, fail) => {
    let stdout = '';
    child.stdout!.on('data', (data: Buffer) => {
      stdout += data.toString();
      if (stdout.includes(until)) done();
    });
    child.on('exit', (code) => fail(new Error(`the run ended early (${code}): ${stderr}`)));
  });
  return { child, stderr: () => stderr };
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((done) => child.on('exit', (code) => done(code)));

/** The iteration of the `stopped at iteration N` line. */
const stoppedAt = (stderr: string) => Number(/stopped at iteration (\d+)/.exec(stderr)?.[1]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-run-files-'));
  writeFileSync(join(dir, 'c.txt'), TEXT);
  expect(run(['train', 'c.txt', ...TINY, '--eval-every', '5', '-o', 'base.json']).status).toBe(0);
  expect(existsSync(join(dir, 'base.best.json'))).toBe(true);
});

describe('what a run writes never lands on what it reads, or on another of its writes, by any name', () => {
  const refused: Array<[string, string[], string[], RegExp]> = [
    [
      '--log on the --init-from source',
      ['train', 'c.txt', ...TINY, '--init-from', 'base.json', '-o', 'tuned.json', '--log', 'base.json'],
      ['base.json'],
      /^charrnn: cannot write the log to base\.json: it is the checkpoint the run starts from; choose another path\n$/,
    ],
    [
      "--log on the --init-from source's best copy",
      ['train', 'c.txt', ...TINY, '--init-from', 'base.json', '-o', 'tuned.json', '--log', 'base.best.json'],
      ['base.best.json'],
      /^charrnn: cannot write the log to base\.best\.json: it is the best checkpoint of the run it starts from;/,
    ],
    [
      "--log on resume's corpus",
      ['resume', 'run.json', '--iters', '8', '-o', 'new.json', '--log', 'c.txt'],
      ['c.txt', 'run.json'],
      /^charrnn: cannot write the log to c\.txt: it is the corpus \(.*c\.txt\), which it would destroy;/,
    ],
    [
      "--log on resume's source, saving elsewhere",
      ['resume', 'run.json', '--iters', '8', '-o', 'new.json', '--log', 'run.json'],
      ['run.json'],
      /^charrnn: cannot write the log to run\.json: it is the checkpoint the run resumes from; choose another path\n$/,
    ],
    [
      "--log on resume's source's best copy, saving elsewhere",
      ['resume', 'run.json', '--iters', '8', '-o', 'new.json', '--log', 'run.best.json'],
      ['run.best.json'],
      /^charrnn: cannot write the log to run\.best\.json: it is the best checkpoint of the run it resumes;/,
    ],
    [
      '-o through a symlink to the --init-from source',
      ['train', 'c.txt', ...TINY, '--init-from', 'base.json', '-o', 'to-base.json'],
      ['base.json', 'base.best.json'],
      /^charrnn: cannot save to-base\.json: it is the checkpoint the run starts from \(base\.json\); choose another/,
    ],
    [
      'a <name>.best.json symlinked to the --init-from source',
      ['train', 'c.txt', ...TINY, '--init-from', 'base.json', '-o', 'aimed.json'],
      ['base.json'],
      /^charrnn: cannot save the best checkpoint to aimed\.best\.json: it is the checkpoint the run starts from \(base/,
    ],
    [
      'a <name>.best.json symlinked to the checkpoint itself',
      ['train', 'c.txt', ...TINY, '-o', 'self.json'],
      ['self.json'],
      /^charrnn: cannot save the best checkpoint to self\.best\.json: it is where the run saves its checkpoint \(self/,
    ],
    [
      "resume's -o through a symlink to its corpus",
      ['resume', 'run.json', '--iters', '8', '-o', 'to-corpus.txt'],
      ['c.txt', 'run.json'],
      /^charrnn: cannot save to-corpus\.txt: it is the corpus \(.*c\.txt\), which it would destroy;/,
    ],
  ];

  beforeAll(() => {
    copyFileSync(join(dir, 'base.json'), join(dir, 'run.json'));
    copyFileSync(join(dir, 'base.best.json'), join(dir, 'run.best.json'));
    symlinkSync('base.json', join(dir, 'to-base.json'));
    symlinkSync('base.json', join(dir, 'aimed.best.json'));
    writeFileSync(join(dir, 'self.json'), readFileSync(join(dir, 'base.json')));
    symlinkSync('self.json', join(dir, 'self.best.json'));
    symlinkSync('c.txt', join(dir, 'to-corpus.txt'));
  });

  for (const [what, args, untouched, message] of refused) {
    it(`refuses ${what}, exit 2, before anything is written`, () => {
      const before = bytesOf(...untouched);
      expectOneLine(run(args), 2, message);
      expect(bytesOf(...untouched)).toEqual(before);
      expect(existsSync(join(dir, 'tuned.json')) || existsSync(join(dir, 'new.json'))).toBe(false);
    });
  }

  it('still lets resume save back over its own checkpoint and best copy', () => {
    copyFileSync(join(dir, 'base.json'), join(dir, 'again.json'));
    expect(run(['resume', 'again.json', '--iters', '8', '--eval-every', '4', '-q']).status).toBe(0);
    expect(loadCheckpoint(join(dir, 'again.json')).training!.iteration).toBe(8);
  });

  it('refuses the same in the library, where the caller names its log', async () => {
    const corpus = corpusFromText(TEXT, join(dir, 'c.txt'));
    const before = bytesOf('base.json');
    const options = { initFrom: join(dir, 'base.json') };
    const attempt = trainModel(corpus, options, { output: join(dir, 'lib.json'), log: join(dir, 'base.json') });
    await expect(attempt).rejects.toThrow(CharrnnError);
    await expect(attempt).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(
        /^cannot write the log to .*base\.json: it is the checkpoint the run starts from;/,
      ),
    });
    expect(bytesOf('base.json')).toEqual(before);
  });
});

describe('one run per checkpoint at a time', () => {
  it('refuses a second train or resume saving to a checkpoint a run is saving to, naming its process', async () => {
    // Resuming needs the checkpoint written: wait for the first save.
    const first = await startEndless(
      ['train', 'c.txt', '--save-every', '20', '-o', 'busy.json'],
      '{"event":"checkpoint"',
    );
    const corpus = bytesOf('c.txt');
    try {
      const held = new RegExp(`^charrnn: cannot save busy\\.json: another run \\(process ${first.child.pid}\\)`);
      expectOneLine(run(['train', 'c.txt', ...TINY, '-o', 'busy.json']), 1, held);
      expectOneLine(run(['resume', 'busy.json', '--iters', '2000000', '-q']), 1, held);
      symlinkSync('busy.json', join(dir, 'busy-link.json'));
      const linked = run(['train', 'c.txt', ...TINY, '-o', 'busy-link.json']);
      expectOneLine(
        linked,
        1,
        new RegExp(`^charrnn: cannot save busy-link\\.json: another run \\(process ${first.child.pid}\\)`),
      );
    } finally {
      first.child.kill('SIGTERM');
    }
    expect(await exitOf(first.child)).toBe(143);
    // The checkpoint holds the first run, where it stopped; nothing is left of the lock.
    expect(loadCheckpoint(join(dir, 'busy.json')).training!.iteration).toBe(stoppedAt(first.stderr()));
    expect(bytesOf('c.txt')).toEqual(corpus);
    expect(readdirSync(dir).filter((name) => name.startsWith('busy') && name.endsWith('.lock'))).toEqual([]);
  }, 60_000);

  it('takes over a lock whose process is gone, and removes it when done', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(dir, 'stale.json.lock'), `${gone}\n`);
    expect(run(['train', 'c.txt', ...TINY, '-o', 'stale.json']).status).toBe(0);
    expect(loadCheckpoint(join(dir, 'stale.json')).training!.iteration).toBe(5);
    expect(existsSync(join(dir, 'stale.json.lock'))).toBe(false);
  });
});

describe('paths and the process around a run', () => {
  it('saves to a legal 235-character file name, and clears stray temporary files of that name', () => {
    const name = `${'n'.repeat(230)}.json`;
    const stray = temporaryPath(join(dir, name), 'deadbeef', spawnSync(process.execPath, ['-e', '0']).pid!);
    writeFileSync(stray, 'left by a run killed mid-save');
    const result = run(['train', 'c.txt', ...TINY, '--eval-every', '5', '-o', name]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(loadCheckpoint(join(dir, name)).training!.iteration).toBe(5);
    expect(loadCheckpoint(join(dir, `${'n'.repeat(230)}.best.json`)).training!.iteration).toBe(5);
    expect(readdirSync(dir).filter((file) => file.endsWith('.tmp'))).toEqual([]);
  });

  it('trains by absolute paths in a deleted working directory, and says so for a relative one', () => {
    const gone = join(dir, 'gone');
    const line = (output: string) =>
      `mkdir "${gone}" && cd "${gone}" && rmdir "${gone}" && ` +
      `"${process.execPath}" "${BIN}" train "${join(dir, 'c.txt')}" ` +
      `${TINY.join(' ')} --threads 2 ${output}`;
    const absolute = spawnSync('sh', ['-c', line(`-o "${join(dir, 'nowhere.json')}"`)], { encoding: 'utf8', env: ENV });
    expect(absolute.stderr).toBe('');
    expect(absolute.status).toBe(0);
    expect(loadCheckpoint(join(dir, 'nowhere.json')).training!.iteration).toBe(5);
    const relative = spawnSync('sh', ['-c', line('')], { encoding: 'utf8', env: ENV });
    expectOneLine(
      relative,
      1,
      /^charrnn: cannot save checkpoints\/c\.json: the working directory was deleted; give an absolute path, or cd/,
    );
  }, 60_000);

  it('SIGHUP (the terminal closed) finishes the step, saves and exits 129', async () => {
    const hung = await startEndless(['train', 'c.txt', '-o', 'hup.json']);
    hung.child.kill('SIGHUP');
    expect(await exitOf(hung.child)).toBe(129);
    expect(hung.stderr()).toMatch(
      /stopped at iteration \d+; saved hup\.json \(continue with: charrnn resume hup\.json\)/,
    );
    expect(loadCheckpoint(join(dir, 'hup.json')).training!.iteration).toBe(stoppedAt(hung.stderr()));
  }, 60_000);
});

/** A directory nothing can be written to: read-only by mode, or for root (whom modes do not stop) a read-only tmpfs. */
const readOnly = join(tmpdir(), `charrnn-read-only-${process.pid}`);
mkdirSync(readOnly, { recursive: true });
const root = process.getuid?.() === 0;
const canMount = root && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', readOnly]).status === 0;
if (root && !canMount) console.warn('read-only symlink target test skipped: cannot mount a tmpfs here');

afterAll(() => {
  if (canMount) spawnSync('umount', [readOnly]);
  else chmodSync(readOnly, 0o755);
  rmSync(readOnly, { recursive: true, force: true });
});

describe.skipIf(root && !canMount)('a symlinked output whose target sits in a read-only directory', () => {
  it("names the target's directory as the one not writable, and leaves the target as it was", () => {
    writeFileSync(join(readOnly, 'kept.json'), readFileSync(join(dir, 'base.json')));
    if (canMount) expect(spawnSync('mount', ['-o', 'remount,ro', readOnly]).status).toBe(0);
    else chmodSync(readOnly, 0o555);
    symlinkSync(join(readOnly, 'kept.json'), join(dir, 'ro-link.json'));
    const before = readFileSync(join(readOnly, 'kept.json'));
    const result = run(['train', 'c.txt', ...TINY, '-o', 'ro-link.json']);
    const literal = readOnly.replace(/[./]/g, '\\$&');
    expectOneLine(result, 1, new RegExp(`^charrnn: cannot save ro-link\\.json: ${literal} is not writable;`));
    expect(readFileSync(join(readOnly, 'kept.json'))).toEqual(before);
  });
});
