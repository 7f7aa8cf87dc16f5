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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayText } from '../src/cli/progress.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'It was the best of times, it was the worst of times;\nit was the age of wisdom, it was the age of foolishness.\n\n'.repeat(60);
const SOCKET = `charrnn-test-${process.pid}`;
const tmuxWorks = spawnSync('tmux', ['-V']).status === 0;
if (!tmuxWorks) console.warn('terminal tests skipped: tmux is not installed (apt-get install -y tmux)');

let dir: string;

/** The environment of a person at a terminal: no CI, no colour overrides. */
function terminalEnv(): NodeJS.ProcessEnv {
  const { CI: _ci, NO_COLOR: _no, FORCE_COLOR: _force, ...env } = process.env;
  return env;
}

function tmux(...args: string[]) {
  return spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', env: terminalEnv() });
}

async function until(done: () => boolean, seconds: number): Promise<void> {
  for (const end = Date.now() + seconds * 1000; !done() && Date.now() < end; ) await new Promise((wake) => setTimeout(wake, 200));
}

interface Screen {
  /** The window's whole history, wrapped lines joined, blank lines dropped. */
  lines: string[];
  /** Every byte the program wrote to the terminal. */
  raw: string;
}

/** Runs `train` in a detached tmux window `columns` wide, recording what it wrote and what was left on screen. */
async function trainOnScreen(columns: number): Promise<Screen> {
  const marker = join(dir, `finished-${columns}`);
  const raw = join(dir, `raw-${columns}`);
  // The pane waits for its output to be recorded before it starts.
  const command = `tmux wait-for go-${columns} && cd ${dir} && ${process.execPath} ${BIN} train story.txt --hidden 48 --layers 1 --seq 32 --batch 8 ` +
    `--iters 240 --eval-every 40 --sample-every 60 --log run-${columns}.log -o story-${columns}.json; ` +
    `echo "EXIT=$?"; touch ${marker}; exec sleep 120`;
  expect(tmux('new-session', '-d', '-x', String(columns), '-y', '40', command).status).toBe(0);
  try {
    expect(tmux('pipe-pane', '-o', `cat >> ${raw}`).status).toBe(0);
    expect(tmux('wait-for', '-S', `go-${columns}`).status).toBe(0);
    await until(() => existsSync(marker), 90);
    expect(existsSync(marker)).toBe(true);
    const screen = tmux('capture-pane', '-p', '-J', '-S', '-', '-E', '-');
    const lines = screen.stdout.split('\n').map((line) => line.trimEnd()).filter((line) => line !== '');
    return { lines, raw: readFileSync(raw, 'utf8') };
  } finally {
    tmux('kill-session');
  }
}

/** The report lines the run should have shown, built from what its --log file recorded, in its order. */
function expectedReports(logPath: string): string[] {
  const lines: string[] = [];
  for (const text of readFileSync(logPath, 'utf8').trim().split('\n')) {
    const event = JSON.parse(text);
    if (event.event === 'eval') {
      lines.push(`iteration ${event.iteration}: validation loss ${event.valLoss.toFixed(4)} (${event.valBpc.toFixed(3)} bpc)${event.best ? ' best' : ''}`);
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

afterAll(() => {
  if (tmuxWorks) tmux('kill-server');
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
