/**
 * What a person sees: training with samples and evaluations on, in a real pseudo-terminal (tmux) at 80
 * and 100 columns, and narrowed to 40 while the bar is drawn. The screen must hold every report in the order
 * the --log file recorded it, whole (samples wider than the screen wrap but are not torn), and nothing of the
 * progress bar, before or after `done:`. No bar where none may be drawn. Skipped where tmux cannot be had
 * (.ci/run installs it).
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BarStatus, ProgressBar, ThroughputMeter } from '../src/cli/progress.js';
import { displayText } from '../src/cli/terminal.js';
import type { TrainEvent } from '../src/train/events.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'It was the best of times, it was the worst of times;\nit was the age of wisdom.\n\n'.repeat(80);
const tmuxWorks = spawnSync('tmux', ['-V']).status === 0;
if (!tmuxWorks) console.warn('terminal tests skipped: tmux is not installed (apt-get install -y tmux)');

let dir: string;

/** The environment of a person at a terminal: no CI, no colour overrides. */
function terminalEnv(): NodeJS.ProcessEnv {
  const { CI: _ci, NO_COLOR: _no, FORCE_COLOR: _force, ...env } = process.env;
  return env;
}

/** A tmux command on the server of one test (its own socket, no user configuration). */
function tmux(socket: string, ...args: string[]) {
  return spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: terminalEnv() });
}

function expectSuccess(result: { status: number | null; stderr: string }): void {
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

async function until(done: () => boolean, seconds: number): Promise<void> {
  for (const end = Date.now() + seconds * 1000; !done() && Date.now() < end; ) {
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

interface Screen {
  /** The window's whole history, wrapped lines joined, blank lines dropped. */
  lines: string[];
  /** Every byte the program wrote to the terminal. */
  raw: string;
}

const REPORTING_RUN = '--hidden 48 --layers 1 --seq 32 --batch 8 --iters 240 --eval-every 40 --sample-every 60';

type Tmux = (...args: string[]) => SpawnSyncReturns<string>;

interface ScreenRun {
  /** Names the run's files (default: the columns). */
  name?: string;
  env?: string;
  flags?: string;
  /** Where stderr goes, if not to the terminal (a shell redirection). */
  redirect?: string;
  /** Acts on the window while the run goes on: a tmux command on its server, and what was written so far. */
  during?: (tmux: Tmux, written: () => string) => Promise<void>;
}

/** Runs `train` in a detached tmux window `columns` wide, recording what it wrote and what was left on screen. */
async function trainOnScreen(
  columns: number,
  { name = String(columns), env = '', flags = REPORTING_RUN, redirect = '', during }: ScreenRun = {},
): Promise<Screen> {
  const marker = join(dir, `finished-${name}`);
  const raw = join(dir, `raw-${name}`);
  const train = `${process.execPath} ${BIN} train story.txt ${flags} --log run-${name}.log -o story-${name}.json`;
  // A retried test starts afresh: the log is appended to, and the marker says the run ended.
  for (const file of [marker, raw, `run-${name}.log`, `story-${name}.json`, `story-${name}.best.json`])
    rmSync(join(dir, basename(file)), { force: true });
  // The pane waits for its output to be recorded before it starts. Its terminal keeps what was written when
  // Ctrl-C is typed (stty noflsh): by default the kernel discards the output the terminal has not read yet at
  // an interrupt (termios ISIG without NOFLSH), and the last report before Ctrl-C went missing at random,
  // though charrnn wrote it; the screen is to show what charrnn wrote.
  const command =
    `tmux wait-for go-${name} && stty noflsh && cd ${dir} && ${env} ${train} ${redirect}; ` +
    `echo "EXIT=$?"; touch ${marker}; exec sleep 120`;
  const socket = `charrnn-test-${process.pid}-${name}`;
  const onServer: Tmux = (...args) => tmux(socket, ...args);
  expectSuccess(tmux(socket, 'new-session', '-d', '-x', String(columns), '-y', '40', command));
  try {
    expectSuccess(tmux(socket, 'pipe-pane', '-o', `cat >> ${raw}`));
    expectSuccess(tmux(socket, 'wait-for', '-S', `go-${name}`));
    await during?.(onServer, () => (existsSync(raw) ? readFileSync(raw, 'utf8') : ''));
    await until(() => existsSync(marker), 90);
    expect(existsSync(marker)).toBe(true);
    const capture = () =>
      tmux(socket, 'capture-pane', '-p', '-J', '-S', '-', '-E', '-')
        .stdout.split('\n')
        .map((line) => line.trimEnd())
        .filter((line) => line !== '');
    // The marker may be there before tmux has read the last lines from the pane.
    await until(() => capture().some((line) => line.startsWith('EXIT=')), 10);
    return { lines: capture(), raw: readFileSync(raw, 'utf8') };
  } finally {
    tmux(socket, 'kill-server');
  }
}

/** The report lines the run should have shown, built from what its --log file recorded, in its order. */
function expectedReports(logPath: string): string[] {
  const lines: string[] = [];
  for (const text of readFileSync(logPath, 'utf8').trim().split('\n')) {
    const event = JSON.parse(text);
    if (event.event === 'eval') {
      const loss = `validation loss ${event.valLoss.toFixed(4)} (${event.valBpc.toFixed(3)} bpc)`;
      lines.push(`iteration ${event.iteration}: ${loss}${event.best ? ' best' : ''}`);
    } else if (event.event === 'sample') {
      lines.push(`--- sample at iteration ${event.iteration} ---`, ...displayText(event.text).split('\n'), '---');
    }
  }
  return lines.map((line) => line.trimEnd()).filter((line) => line !== '');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-terminal-'));
  writeFileSync(join(dir, 'story.txt'), TEXT);
});

describe.skipIf(!tmuxWorks)('progress in a real terminal', () => {
  for (const columns of [80, 100]) {
    it(`shows every report in order, whole, and no bar after done (${columns} columns)`, async () => {
      const { lines: screen, raw } = await trainOnScreen(columns);
      expect(raw).toMatch(/[█░]+ \d+\/240 \| epoch/);
      const start = screen.findIndex((line) => line.startsWith('training '));
      const done = screen.findIndex((line) => line.startsWith('done: '));
      expect(start).toBe(0);
      expect(done).toBeGreaterThan(start);
      expect(screen.slice(done + 1)).toEqual(['EXIT=0']);
      expect(screen.slice(start + 1, done)).toEqual(expectedReports(join(dir, `run-${columns}.log`)));
      expect(screen.join('\n')).not.toMatch(/[█░]|chars\/s \| ETA/);
    }, 120_000);
  }
});

describe.skipIf(!tmuxWorks)('a terminal narrowed while the bar is drawn', () => {
  it('keeps every line whole and in order, and leaves no piece of the bar behind', async () => {
    const endless = '--hidden 48 --layers 1 --seq 32 --batch 8 --iters 1000000 --epochs 0';
    const flags = `${endless} --eval-every 40 --sample-every 100`;
    const screenLines = (tmux: Tmux) => tmux('capture-pane', '-p').stdout.split('\n');
    const { lines: screen } = await trainOnScreen(100, {
      name: 'narrowed',
      flags,
      during: async (tmux, written) => {
        // The bar is drawn (at 100 columns, bar and status), below a report.
        await until(() => /iteration 40: [\s\S]*[█░]+ \d+\/1000000 \| epoch/.test(written()), 60);
        expectSuccess(tmux('resize-window', '-x', '40'));
        // Narrower than its status, the bar drops its cells and is cut to fit.
        await until(() => screenLines(tmux).some((line) => /^\d+\/1000000 \| epoch [^|]+\| loss/.test(line)), 60);
        const reports = written().split('validation loss').length;
        await until(() => written().split('validation loss').length > reports, 60);
        expectSuccess(tmux('send-keys', 'C-c'));
      },
    });
    expect(screen[0]).toMatch(/^training /);
    const interrupted = screen.indexOf(
      'interrupted: finishing this step and saving (press Ctrl-C again to quit at once)',
    );
    expect(interrupted).toBeGreaterThan(0);
    const stopped = screen.length - 2;
    expect(screen[stopped]).toMatch(/^stopped at iteration \d+; saved story-narrowed.json/);
    expect(screen.at(-1)).toBe('EXIT=130');
    const reports = screen.slice(1, stopped).filter((_, index) => index + 1 !== interrupted);
    expect(reports).toEqual(expectedReports(join(dir, 'run-narrowed.log')));
    expect(screen.join('\n')).not.toMatch(/[█░]|\/1000000 \|/);
  }, 180_000);
});

describe.skipIf(!tmuxWorks)('no bar where none may be drawn', () => {
  const short = '--hidden 8 --layers 1 --seq 8 --batch 4 --iters 30 --eval-every 10';

  it('TERM=dumb: neither a bar nor colour', async () => {
    const { lines, raw } = await trainOnScreen(90, { env: 'TERM=dumb' });
    expect(lines.at(-1)).toBe('EXIT=0');
    expect(raw).not.toMatch(/[█░]|\x1b\[/);
  }, 120_000);

  for (const [name, env, flag] of [
    ['no-color-env', 'NO_COLOR=1', ''],
    ['ci', 'CI=true', ''],
    ['no-color-flag', '', '--no-color'],
    ['quiet', '', '--quiet'],
  ]) {
    it(`${env || flag}: no bar, nor anything else drawn`, async () => {
      const { lines, raw } = await trainOnScreen(90, { name, env, flags: `${short} ${flag}` });
      expect(lines.at(-1)).toBe('EXIT=0');
      expect(raw).not.toMatch(/[█░]|\x1b\[/);
      expect(lines.some((line) => line.startsWith('done: '))).toBe(flag !== '--quiet');
    }, 120_000);
  }

  it('stderr to a file, stdout on the terminal: the file holds plain lines', async () => {
    const { lines } = await trainOnScreen(90, { name: 'redirected', flags: short, redirect: '2>stderr.txt' });
    expect(lines).toEqual(['EXIT=0']);
    const written = readFileSync(join(dir, 'stderr.txt'), 'utf8');
    expect(written).toMatch(/^training [\s\S]*\ndone: /);
    expect(written).not.toMatch(/[█░]|\x1b|\r/);
  }, 120_000);
});

describe.skipIf(!tmuxWorks)('an error while the bar is drawn', () => {
  it('replaces the bar: the message starts its own line, and no bar is left', async () => {
    const diverging = '--hidden 8 --layers 1 --seq 8 --batch 4 --iters 50 --optim sgd --momentum 0 --lr 1e38 --clip 0';
    const { lines, raw } = await trainOnScreen(95, { flags: diverging });
    expect(raw).toMatch(/[█░]+ \d+\/50 \| epoch/);
    expect(lines.slice(-2)[0]).toMatch(/^charrnn: training diverged at iteration \d+/);
    expect(lines.at(-1)).toBe('EXIT=1');
    expect(lines.join('\n')).not.toMatch(/[█░]/);
  }, 120_000);
});

/** A stand-in terminal that records what is written to it. */
function fakeTerminal(columns: number) {
  const writes: string[] = [];
  const stream = { columns, isTTY: true, write: (text: string) => writes.push(text) > 0 };
  return { stream: stream as unknown as NodeJS.WriteStream, writes };
}

/** What a line of writes shows: control sequences and carriage returns dropped. */
const visible = (text: string) => text.replace(/\x1b(\[\??[\d;]*[A-Za-z]|[78])|\r/g, '');

const STATUS: BarStatus = {
  target: '5000',
  epoch: '1.23',
  loss: '1.2345',
  val: '1.789 bpc',
  speed: '12.3k',
  timeLeft: '1m02s',
};

describe('the progress bar', () => {
  it('is always narrower than the terminal, however long its status, and drops its cells before the status', () => {
    const shapes: Record<number, RegExp> = {
      130: /^█{6}░{18} 1234\/5000 \| epoch 1.23 \| .* \| ETA 1m02s$/,
      100: /^[█░]{8,23} 1234\/5000 \| epoch 1.23 \| .* \| ETA 1m02s$/,
      80: /^1234\/5000 \| epoch 1.23 \| /,
      20: /^1234\/5000 \| epoch /,
    };
    for (const [columns, shape] of Object.entries(shapes)) {
      const { stream, writes } = fakeTerminal(Number(columns));
      const bar = new ProgressBar(stream);
      bar.update(1234, 5000, STATUS);
      bar.finish();
      const drawn = visible(writes.join(''));
      expect([...drawn].length).toBeLessThan(Number(columns));
      expect(drawn).toMatch(shape);
    }
  });

  it('shows no cells without a target, only the status', () => {
    const { stream, writes } = fakeTerminal(100);
    const bar = new ProgressBar(stream);
    bar.update(7, null, { ...STATUS, target: '∞' });
    bar.finish();
    expect(visible(writes.join(''))).toMatch(/^7\/∞ \| epoch 1.23 \| loss 1.2345 \| val 1.789 bpc \| 12.3k chars\/s/);
  });

  it('prints a report above itself and draws again below it; after finish(), reports are plain lines', () => {
    const { stream, writes } = fakeTerminal(80);
    const bar = new ProgressBar(stream);
    bar.update(10, 100, { ...STATUS, target: '100' });
    const drawn = writes.length;
    bar.print('report');
    const printed = writes.slice(drawn).join('');
    expect(visible(printed)).toMatch(/^report\n10\/100 \| epoch/);
    // The bar's row and what is below it is cleared first, and the bar is drawn with line wrapping off.
    expect(printed.indexOf('\x1b[2K')).toBeLessThan(printed.indexOf('report'));
    expect(printed).toMatch(/report\n[\s\S]*\x1b\[\?7l[\s\S]*10\/100[\s\S]*\x1b\[\?7h\r$/);
    // In one write: a Ctrl-C the terminal echoes between two writes would indent the report.
    expect(writes.length - drawn).toBe(1);
    bar.finish();
    const finished = writes.length;
    bar.update(20, 100, STATUS);
    bar.print('after done');
    expect(writes.slice(finished)).toEqual(['after done\n']);
  });

  it('keeps no timer that holds the process open, drawn or finished', () => {
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    const bar = new ProgressBar(fakeTerminal(80).stream);
    bar.update(1, 100, STATUS);
    bar.print('report');
    bar.update(2, 100, STATUS);
    expect(timers()).toBe(before);
    bar.finish();
    expect(timers()).toBe(before);
  });
});

describe('throughput and time left, measured by the display', () => {
  type Start = Extract<TrainEvent, { event: 'start' }>;
  type Progress = Extract<TrainEvent, { event: 'progress' }>;
  const start = {
    event: 'start',
    iteration: 100,
    targetIterations: 300,
    epoch: 0,
    chunksPerEpoch: 10,
    parameters: 1,
    vocab: 2,
    trainChars: 1,
    valChars: 1,
    resumed: true,
    kernel: 'js',
    threads: 1,
  };
  const progress = {
    event: 'progress',
    iteration: 150,
    targetIterations: 300,
    epoch: 1,
    trainLoss: 1,
    learningRate: 0.1,
    elapsedSeconds: 10,
  } as Progress;

  it("from the start event's chars per iteration: chars/s over this invocation, ETA to the target", () => {
    const meter = new ThroughputMeter();
    meter.start({ ...start, charsPerIteration: 400 } as Start);
    // 50 iterations × 400 chars in 10 s; 150 more iterations at that pace take 30 s.
    expect(meter.measure(progress)).toEqual({ charsPerSecond: 2000, etaSeconds: 30 });
  });

  it('stops at the time limit when that comes first', () => {
    const meter = new ThroughputMeter();
    meter.start({ ...start, charsPerIteration: 400, timeLimitSeconds: 25 } as Start);
    expect(meter.measure(progress).etaSeconds).toBe(15);
  });

  it('keeps the values a progress event already carries', () => {
    const meter = new ThroughputMeter();
    meter.start(start as Start);
    const old = { ...progress, charsPerSecond: 123, etaSeconds: 4 };
    expect(meter.measure(old)).toEqual({ charsPerSecond: 123, etaSeconds: 4 });
  });
});

describe('samples on a terminal', () => {
  it('keep line ends and tabs, drop CR before LF, and escape other control characters', () => {
    expect(displayText('a\r\nb\tc\x1b[31md\x07')).toBe('a\nb\tc\\x1b[31md\\x07');
  });

  it('keep spaces of every width, and escape a lone CR, line separators and bidirectional controls', () => {
    expect(displayText('a\u00a0b\u3000c')).toBe('a\u00a0b\u3000c');
    expect(displayText('a\rb\u2028c\u202ed')).toBe('a\\rb\\u2028c\\u202ed');
  });
});
