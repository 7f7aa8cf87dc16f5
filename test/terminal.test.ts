/**
 * What a person sees: training with samples and evaluations on, in a real pseudo-terminal (tmux) at 80
 * and 100 columns. The screen must hold every report in the order the --log file recorded it, whole
 * (samples wider than the screen wrap but are not torn), and nothing of the progress bar, before or
 * after `done:`. Skipped where tmux cannot be had (.ci/run installs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { displayText, ProgressBar, ThroughputMeter } from '../src/cli/progress.js';
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

/** Runs `train` in a detached tmux window `columns` wide, recording what it wrote and what was left on screen. */
async function trainOnScreen(columns: number, { env = '', flags = REPORTING_RUN } = {}): Promise<Screen> {
  const marker = join(dir, `finished-${columns}`);
  const raw = join(dir, `raw-${columns}`);
  const train = `${process.execPath} ${BIN} train story.txt ${flags} --log run-${columns}.log -o story-${columns}.json`;
  // The pane waits for its output to be recorded before it starts.
  const command =
    `tmux wait-for go-${columns} && cd ${dir} && ${env} ${train}; ` + `echo "EXIT=$?"; touch ${marker}; exec sleep 120`;
  const socket = `charrnn-test-${process.pid}-${columns}`;
  expectSuccess(tmux(socket, 'new-session', '-d', '-x', String(columns), '-y', '40', command));
  try {
    expectSuccess(tmux(socket, 'pipe-pane', '-o', `cat >> ${raw}`));
    expectSuccess(tmux(socket, 'wait-for', '-S', `go-${columns}`));
    await until(() => existsSync(marker), 90);
    expect(existsSync(marker)).toBe(true);
    const screen = tmux(socket, 'capture-pane', '-p', '-J', '-S', '-', '-E', '-');
    const lines = screen.stdout
      .split('\n')
      .map((line) => line.trimEnd())
      .filter((line) => line !== '');
    return { lines, raw: readFileSync(raw, 'utf8') };
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

describe.skipIf(!tmuxWorks)('TERM=dumb in a real terminal', () => {
  it('gets neither a bar nor colour', async () => {
    const { lines, raw } = await trainOnScreen(90, { env: 'TERM=dumb' });
    expect(lines.at(-1)).toBe('EXIT=0');
    expect(raw).not.toMatch(/[█░]|\x1b\[/);
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
  const stream = { columns, write: (text: string) => writes.push(text) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

describe('the progress bar', () => {
  it('is always narrower than the terminal, however long its status', () => {
    for (const columns of [20, 80, 100]) {
      const { stream, writes } = fakeTerminal(columns);
      const status = '1234/5000 | epoch 1.23 | loss 1.2345 | val 1.789 bpc | 12.3k chars/s | ETA 1m02s';
      new ProgressBar(stream).update(0.5, status);
      const drawn = writes.join('').replace(/\r|\x1b\[K/g, '');
      expect([...drawn].length).toBeLessThan(columns);
      expect(drawn.length).toBeGreaterThan(0);
    }
  });

  it('clears its line before a report, draws again below it, and never after finish()', () => {
    const { stream, writes } = fakeTerminal(80);
    const bar = new ProgressBar(stream);
    bar.update(0.1, '10/100');
    bar.print('report');
    expect(writes.slice(1, 3)).toEqual(['\r\x1b[2K', 'report\n']);
    expect(writes[3]).toMatch(/^\r.*10\/100\x1b\[K$/);
    bar.finish();
    const count = writes.length;
    expect(writes[count - 1]).toBe('\r\x1b[2K');
    bar.update(0.2, '20/100');
    bar.print('after done');
    expect(writes.slice(count)).toEqual(['after done\n']);
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
});
