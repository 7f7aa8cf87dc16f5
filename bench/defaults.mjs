#!/usr/bin/env node
// Choosing the defaults by measurement: the validation loss each candidate recipe reaches in a given time
// (`charrnn train CORPUS --time SECONDS --val-size 0`, the whole held-out tenth), on each corpus, one run
// at a time so that each has the whole machine. One JSON line per run; then, per corpus, the candidates
// best first. Run it on a quiet machine: the loss a recipe reaches depends on how many steps it gets.
// Longer budgets can be emulated from a timed pass (`--like`): each candidate then trains for the
// iterations its timed run reached, scaled to --seconds (cosine spans --iters as it spans what --time
// allows), and since the weights do not depend on the thread count or the load, such runs may share the
// machine (`--threads 1`, one corpus per process).
//
//   node bench/defaults.mjs [--seconds 120] [--corpus a.txt,b.txt] [--only default,2x256-b50,...]
//                           [--like timed-pass.jsonl] [--threads N]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corpora = ['moby-dick.txt', 'state-of-the-union.txt'].map((name) => join(root, 'corpora', name));
const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    corpus: { type: 'string', default: corpora.join(',') },
    only: { type: 'string' },
    like: { type: 'string' },
    threads: { type: 'string' },
  },
});
const seconds = Number(flags.seconds);

/** The recipes tried: today's defaults, and wider, deeper or larger-batch models the native kernels can afford. */
const CANDIDATES = {
  default: [],
  '2x256-b25': ['--hidden', '256'],
  '2x256-b50': ['--hidden', '256', '--batch', '50'],
  '2x256-b50-lr5e-3': ['--hidden', '256', '--batch', '50', '--lr', '5e-3'],
  '3x256-b50': ['--hidden', '256', '--layers', '3', '--batch', '50'],
  '2x384-b50-lr4e-3': ['--hidden', '384', '--batch', '50', '--lr', '4e-3'],
  '2x512-b50-lr3e-3': ['--hidden', '512', '--batch', '50', '--lr', '3e-3'],
};

/** The timed pass's lines, by corpus and candidate: what an emulated run scales its iterations from. */
const timed = new Map(
  (flags.like ? readFileSync(flags.like, 'utf8').split('\n') : [])
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .map((line) => [`${line.corpus} ${line.candidate}`, line]),
);

/** How the run is stopped: by the clock, or by the iterations the timed pass reached, scaled. */
function budget(corpus, name) {
  if (!flags.like) return { words: ['--time', String(seconds)], emulated: false };
  const line = timed.get(`${basename(corpus)} ${name}`);
  if (!line) throw new Error(`${flags.like} has no timed run of ${name} on ${basename(corpus)}`);
  return { words: ['--iters', String(Math.round((line.iterations * seconds) / line.seconds))], emulated: true };
}

const selected = Object.entries(CANDIDATES).filter(([name]) => !flags.only || flags.only.split(',').includes(name));
const outDir = mkdtempSync(join(tmpdir(), 'charrnn-defaults-'));
const results = [];
try {
  for (const corpus of flags.corpus.split(',')) {
    for (const [name, args] of selected) {
      const output = join(outDir, `${name}.json`);
      const { words: stop, emulated } = budget(corpus, name);
      const threads = flags.threads ? ['--threads', flags.threads] : [];
      const words = ['train', corpus, ...stop, ...threads, '--val-size', '0', '--json', '-q', '-o', output];
      const load = loadavg()[0];
      // --json prints a line per iteration: tens of MB over a long run, past spawnSync's 1 MB default.
      const command = [join(root, 'bin', 'charrnn'), ...words, ...args];
      const run = spawnSync(process.execPath, command, { encoding: 'utf8', maxBuffer: 1 << 30 });
      const done = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? 'null');
      if (run.status !== 0 || done?.event !== 'done') throw new Error(`${name} on ${corpus} failed: ${run.stderr}`);
      const line = {
        corpus: basename(corpus),
        candidate: name,
        flags: args.join(' '),
        seconds,
        emulated,
        iterations: done.iterations,
        chars_per_s: Math.round(done.chars_per_s),
        val_nats: Number(done.val_loss.toFixed(4)),
        load_before: Number(load.toFixed(2)),
      };
      results.push(line);
      console.log(JSON.stringify(line));
    }
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
for (const corpus of new Set(results.map((line) => line.corpus))) {
  const ranked = results.filter((line) => line.corpus === corpus).sort((a, b) => a.val_nats - b.val_nats);
  console.log(`${corpus}: ${ranked.map((line) => `${line.candidate} ${line.val_nats}`).join(', ')}`);
}
