/**
 * The training loop as a user sees it: the events in order with their fields (through the built
 * binary), and validation on a fixed slice at the start of the held-out text (through the library).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpusFromText, DEFAULT_TRAIN_OPTIONS, LoadedModel, trainModel, type TrainEvent } from '../src/index.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = `The sea was calm that morning, and the gulls wheeled low over the harbour wall while the boats went out.
Old nets lay drying on the stones, and a boy counted the masts aloud, losing his place and starting again.
`.repeat(14);
const TINY = ['--hidden', '12', '--layers', '1', '--seq', '10', '--batch', '3', '--seed', '3'];

let dir: string;

function charrnn(args: string[]) {
  const env = { ...process.env, CI: 'true' };
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env });
}

function eventsOf(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** Event names with their iteration, `checkpoint` marked `best` or not: the order a listener sees. */
function sequence(events: Array<Record<string, unknown>>): string[] {
  return events.map(({ event, iteration, best }) => {
    if (event === 'checkpoint') return `checkpoint ${iteration}${best ? ' best' : ''}`;
    return event === 'start' || event === 'done' ? String(event) : `${event} ${iteration}`;
  });
}

/**
 * The order the loop promises: progress for each iteration; then, unless it is the last, eval (with the
 * checkpoints it triggers) or a save when due; then a sample when due. After the loop: eval, checkpoint(s), done.
 */
function expectedSequence(
  events: Array<Record<string, unknown>>,
  first: number,
  last: number,
  every: { eval: number; save: number; sample: number },
): string[] {
  const evals = events.filter((e) => e.event === 'eval');
  const bestAt = new Map(evals.map((e) => [e.iteration as number, e.best as boolean]));
  const due = (iteration: number, n: number) => n > 0 && iteration % n === 0;
  const expected = ['start'];
  const evaluation = (iteration: number, forceSave: boolean) => {
    expected.push(`eval ${iteration}`);
    if (forceSave || bestAt.get(iteration)) expected.push(`checkpoint ${iteration}`);
    if (bestAt.get(iteration)) expected.push(`checkpoint ${iteration} best`);
  };
  for (let iteration = first + 1; iteration <= last; iteration++) {
    expected.push(`progress ${iteration}`);
    if (iteration < last && due(iteration, every.eval)) evaluation(iteration, due(iteration, every.save));
    else if (iteration < last && due(iteration, every.save)) expected.push(`checkpoint ${iteration}`);
    if (due(iteration, every.sample)) expected.push(`sample ${iteration}`);
  }
  evaluation(last, true);
  expected.push('done');
  return expected;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-loop-'));
  writeFileSync(join(dir, 'harbour.txt'), TEXT);
});

describe('the training loop', () => {
  it('reports start, progress, eval, checkpoint, sample and done in the order they happen', () => {
    const every = ['--eval-every', '4', '--save-every', '6', '--sample-every', '2'];
    const json = ['--json', '--print-every', '1', '-q'];
    const trained = charrnn(['train', 'harbour.txt', ...TINY, ...every, ...json, '--iters', '13', '-o', 'order.json']);
    expect(trained.status).toBe(0);
    const events = eventsOf(trained.stdout);
    expect(sequence(events)).toEqual(expectedSequence(events, 0, 13, { eval: 4, save: 6, sample: 2 }));

    // Resumed at a multiple of --eval-every: nothing is due before the first new iteration.
    const resumed = charrnn(['resume', 'order.json', '--iters', '20', ...every, ...json]);
    expect(resumed.status).toBe(0);
    const more = eventsOf(resumed.stdout);
    expect(sequence(more)).toEqual(expectedSequence(more, 13, 20, { eval: 4, save: 6, sample: 2 }));
  });

  it('gives the display what it needs for chars/s and ETA, and leaves the arithmetic to it', () => {
    const json = ['--json', '--print-every', '1', '-q'];
    const trained = charrnn(['train', 'harbour.txt', ...TINY, '--iters', '3', '--time', '600', ...json]);
    expect(trained.status).toBe(0);
    const [start, progress] = eventsOf(trained.stdout);
    expect(start).toMatchObject({ event: 'start', iteration: 0, targetIterations: 3, resumed: false });
    expect(start).toMatchObject({ charsPerIteration: 3 * 10, timeLimitSeconds: 600 });
    const heldOut = Math.floor(TEXT.length * 0.1);
    expect(start).toMatchObject({ valChars: heldOut, heldOutChars: heldOut });
    // The loop's fields, then what the display computed from them and the start event.
    const fields = ['event', 'iteration', 'targetIterations', 'epoch', 'trainLoss', 'learningRate', 'elapsedSeconds'];
    expect(Object.keys(progress!)).toEqual([...fields, 'charsPerSecond', 'etaSeconds']);
    const { learningRate } = DEFAULT_TRAIN_OPTIONS;
    expect(progress).toMatchObject({ iteration: 1, targetIterations: 3, learningRate });
    const untimed = charrnn(['train', 'harbour.txt', ...TINY, '--iters', '1', '--json', '-q', '-o', 'untimed.json']);
    expect(eventsOf(untimed.stdout)[0]).toMatchObject({ timeLimitSeconds: null });
  });

  it('resumes a checkpoint saved before valChars existed validating all held-out text, as it did', () => {
    expect(charrnn(['train', 'harbour.txt', ...TINY, '--iters', '4', '-q', '-o', 'old.json']).status).toBe(0);
    const checkpoint = JSON.parse(readFileSync(join(dir, 'old.json'), 'utf8'));
    expect(checkpoint.training.options.valChars).toBe(100_000);
    delete checkpoint.training.options.valChars;
    writeFileSync(join(dir, 'old.json'), JSON.stringify(checkpoint));
    const resumed = charrnn(['resume', 'old.json', '--iters', '6', '-q']);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'old.json'), 'utf8')).training.options.valChars).toBe(0);
  });
});

describe('validation', () => {
  /** Trains briefly with one stream, so the validation loss can be recomputed by LoadedModel.evaluate. */
  async function validate(valChars: number): Promise<{ start: TrainEvent; evals: number[]; output: string }> {
    const output = join(dir, `val-${valChars}.json`);
    const events: TrainEvent[] = [];
    const model = { hidden: 12, layers: 1, seqLength: 10, batch: 1 };
    const options = { ...model, valFrac: 0.5, valChars, iterations: 9, evalEvery: 3 };
    const onEvent = (event: TrainEvent) => events.push(event);
    await trainModel(corpusFromText(TEXT, 'harbour.txt'), options, { output, threads: 1, onEvent });
    const evals = events.flatMap((event) => (event.event === 'eval' ? [event.valLoss] : []));
    return { start: events[0]!, evals, output };
  }

  it('covers the first valChars of the held-out text, the same slice every time', async () => {
    const heldOutText = TEXT.slice(TEXT.length - Math.floor(TEXT.length * 0.5));
    const { start, evals, output } = await validate(300);
    expect(start).toMatchObject({ valChars: 300, heldOutChars: heldOutText.length });
    expect(evals).toHaveLength(3);
    const model = await LoadedModel.load(output);
    expect(evals[2]).toBeCloseTo(model.evaluate(heldOutText.slice(0, 300)).loss, 5);
    expect(Math.abs(evals[2]! - model.evaluate(heldOutText.slice(100, 400)).loss)).toBeGreaterThan(1e-3);

    // The same run with all held-out text validates on more, so its numbers differ; its weights do not.
    const all = await validate(0);
    expect(all.start).toMatchObject({ valChars: heldOutText.length });
    expect(all.evals[2]).toBeCloseTo((await LoadedModel.load(all.output)).evaluate(heldOutText).loss, 5);
    expect(all.evals[2]).not.toBe(evals[2]);
    const tensorsOf = (path: string) => JSON.parse(readFileSync(path, 'utf8')).tensors;
    expect(tensorsOf(all.output)).toEqual(tensorsOf(output));
  });

  it('refuses a negative or fractional size', async () => {
    for (const valChars of [-1, 2.5]) {
      await expect(validate(valChars)).rejects.toThrow(/val-size|valChars/);
    }
  });
});

describe('learning-rate schedules through the binary', () => {
  const rates = (stdout: string) =>
    eventsOf(stdout)
      .filter((event) => event.event === 'progress')
      .map((event) => event.learningRate as number);

  it('cosine warms up, then falls to a tenth of --lr by --iters; the length is saved', () => {
    const args = [...TINY, '--iters', '30', '--lr', '0.01', '--warmup', '4', '--json', '--print-every', '1', '-q'];
    const result = charrnn(['train', 'harbour.txt', ...args, '-o', 'cosine.json']);
    expect(result.status).toBe(0);
    const seen = rates(result.stdout);
    expect(seen).toHaveLength(30);
    expect(seen[0]).toBeCloseTo(0.002, 12);
    expect(seen[4]).toBeCloseTo(0.01, 12);
    for (let i = 5; i < 30; i++) expect(seen[i]!).toBeLessThan(seen[i - 1]!);
    expect(seen[29]).toBeGreaterThan(0.001);
    expect(JSON.parse(readFileSync(join(dir, 'cosine.json'), 'utf8')).training.scheduleLength).toBe(30);
  });

  it('under --time alone the length is fixed from the measured speed, and a resume keeps it', () => {
    const args = [...TINY, '--epochs', '0', '--time', '3', '-q', '-o', 'timed.json'];
    expect(charrnn(['train', 'harbour.txt', ...args]).status).toBe(0);
    const saved = JSON.parse(readFileSync(join(dir, 'timed.json'), 'utf8')).training;
    expect(saved.scheduleLength).toBeGreaterThan(10);
    const resumed = charrnn(['resume', 'timed.json', '--time', '1', '-q']);
    expect(resumed.status).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'timed.json'), 'utf8')).training.scheduleLength).toBe(
      saved.scheduleLength,
    );
  });

  it('cosine with nothing to size it is a usage error', () => {
    const result = charrnn(['train', 'harbour.txt', ...TINY, '--epochs', '0', '-o', 'endless.json']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      "charrnn: --lr-schedule cosine needs the run's length: give --iters, --epochs or --time\n",
    );
  });
});
