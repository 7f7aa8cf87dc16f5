/**
 * Fine-tuning (`charrnn train NEW --init-from CHECKPOINT`) as a user sees it, through the built binary:
 * the model's shape from the checkpoint, its weights as the start, the errors for a clashing shape and
 * for unknown characters, --extend-vocab keeping old predictions, the origin in info, and exact resume.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCorpus, trainModel } from '../src/index.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const BASE_TEXT = `It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of
foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, Heaven.
`.repeat(10);
/** Related text in the same characters. */
const NEW_TEXT = `It was the spring of hope, it was the winter of despair, we had everything before us, we had
nothing before us, we were all going direct to Heaven, we were all going direct the other way.
`.repeat(8);
/** Related text with characters the base model never saw, é first. */
const ACCENTED_TEXT = `The café in Zürich was the best of places; the señor said it was the age of piñatas,
Ω and all.
`.repeat(16);
const NEW_SYMBOLS = /[;TZéñü]|Ω/u;
const SHAPE = ['--model', 'lstm', '--hidden', '16', '--layers', '2'];
const QUICK = ['--seq', '16', '--batch', '4', '--eval-every', '10', '--save-every', '10', '-q'];

let dir: string;

function charrnn(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
}

function expectOk(result: SpawnSyncReturns<string>): void {
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

function checkpointAt(name: string) {
  return JSON.parse(readFileSync(join(dir, name), 'utf8'));
}

/** The weights as plain numbers, by tensor name. */
function weightsOf(name: string): Record<string, number[]> {
  const tensors = checkpointAt(name).tensors as Record<string, { data: string }>;
  return Object.fromEntries(
    Object.entries(tensors).map(([key, { data }]) => {
      const bytes = Buffer.from(data, 'base64');
      return [key, [...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)]];
    }),
  );
}

function evalLoss(corpus: string, checkpoint: string): number {
  const result = charrnn(['eval', corpus, '-c', checkpoint, '--json']);
  expectOk(result);
  return JSON.parse(result.stdout).loss;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-finetune-'));
  writeFileSync(join(dir, 'base.txt'), BASE_TEXT);
  writeFileSync(join(dir, 'new.txt'), NEW_TEXT);
  writeFileSync(join(dir, 'accented.txt'), ACCENTED_TEXT);
  expectOk(charrnn(['train', 'base.txt', ...SHAPE, ...QUICK, '--iters', '30', '-o', 'base.json']));
  // As if imported from PyTorch: weights and vocabulary, no training record.
  const { training: _training, ...imported } = checkpointAt('base.json');
  writeFileSync(join(dir, 'imported.json'), JSON.stringify(imported));
});

describe('train --init-from', () => {
  it("starts a new run from the checkpoint's weights, in its shape, with the training flags given", () => {
    // A learning rate too small to move anything shows where the weights start.
    const args = ['train', 'new.txt', '--init-from', 'base.json', '--iters', '2', '--lr', '1e-9', '--batch', '3'];
    expectOk(charrnn([...args, '--seq', '12', '--dropout', '0.1', '-q', '-o', 'still.json']));
    const tuned = checkpointAt('still.json');
    const base = checkpointAt('base.json');
    expect(tuned.model).toEqual({ ...base.model, dropout: 0.1 });
    expect(tuned.vocab).toEqual(base.vocab);
    expect(tuned.training.options).toMatchObject({ batch: 3, seqLength: 12, learningRate: 1e-9, hidden: 16 });
    // A new run: its own iterations, corpus and optimizer, none of the source's.
    expect(tuned.training.iteration).toBe(2);
    expect(tuned.training.optimizer.step).toBe(2);
    expect(tuned.training.corpus.path).toBe(join(dir, 'new.txt'));
    const start = weightsOf('base.json');
    for (const [name, values] of Object.entries(weightsOf('still.json'))) {
      const moved = Math.max(...values.map((value, i) => Math.abs(value - start[name]![i]!)));
      expect(moved, name).toBeLessThan(1e-6);
    }
    // A fresh model of that shape starts somewhere else entirely.
    expectOk(
      charrnn(['train', 'new.txt', ...SHAPE, '--iters', '2', '--lr', '1e-9', '--batch', '3', '-q', '-o', 'fresh.json']),
    );
    expect(weightsOf('fresh.json')['decoder.bias']).not.toEqual(start['decoder.bias']);
  });

  it('records where the weights came from, shows it in info, and keeps it through an exact resume', () => {
    // Extending --iters on resume re-plans a cosine schedule; a constant rate makes 10 + 10 comparable to 20.
    const tune = [
      'train',
      'new.txt',
      '--init-from',
      'base.json',
      ...QUICK,
      '--lr',
      '3e-3',
      '--lr-schedule',
      'constant',
    ];
    const reported = charrnn([...tune, '--iters', '20', '-o', 'whole.json', '--json']);
    expectOk(reported);
    expectOk(charrnn([...tune, '--iters', '10', '-o', 'parts.json']));
    expectOk(charrnn(['resume', 'parts.json', '--iters', '20', '-q']));
    const whole = checkpointAt('whole.json').training;
    const parts = checkpointAt('parts.json').training;
    expect(weightsOf('parts.json')).toEqual(weightsOf('whole.json'));
    for (const field of ['optimizer', 'rng', 'carried', 'origin', 'iteration'] as const) {
      expect(parts[field], field).toEqual(whole[field]);
    }
    const origin = { checkpoint: join(dir, 'base.json'), iteration: 30, corpus: join(dir, 'base.txt') };
    expect(whole.origin).toEqual(origin);
    expect(JSON.parse(reported.stdout.split('\n')[0]!)).toMatchObject({ event: 'start', origin });
    const shown = charrnn([
      'train',
      'new.txt',
      '--init-from',
      'base.json',
      '--iters',
      '1',
      '--batch',
      '4',
      '-o',
      'shown.json',
    ]);
    expect(shown.stderr).toContain(`starting from the weights of ${origin.checkpoint}`);

    const info = charrnn(['info', 'parts.json']);
    expectOk(info);
    expect(info.stdout).toContain(`from        ${origin.checkpoint} (iteration 30, ${origin.corpus})`);
    const json = charrnn(['info', 'parts.json', '--json']);
    expect(JSON.parse(json.stdout).training.origin).toEqual(origin);
    // A run from fresh weights has none.
    expect(checkpointAt('base.json').training.origin).toBeUndefined();
    expect(charrnn(['info', 'base.json']).stdout).not.toMatch(/^from /m);
  });

  it('fine-tunes a checkpoint that has no training record, such as one imported from PyTorch', () => {
    expectOk(
      charrnn(['train', 'new.txt', '--init-from', 'imported.json', ...QUICK, '--iters', '10', '-o', 'tuned.json']),
    );
    const tuned = checkpointAt('tuned.json');
    expect(tuned.model).toEqual(checkpointAt('base.json').model);
    expect(tuned.training.origin).toEqual({ checkpoint: join(dir, 'imported.json'), iteration: null, corpus: null });
    expect(charrnn(['info', 'tuned.json']).stdout).toContain(
      `from        ${join(dir, 'imported.json')} (no training recorded)`,
    );
  });

  it('refuses an architecture flag that disagrees with the checkpoint, naming both values', () => {
    const hidden = charrnn(['train', 'new.txt', '--init-from', 'base.json', '--hidden', '32', '-o', 'x.json']);
    expect(hidden.status).toBe(2);
    expect(hidden.stderr).toBe(
      'charrnn: --hidden 32 does not match base.json, a 2-layer lstm with hidden size 16; ' +
        "leave --hidden out to fine-tune with the checkpoint's shape\n",
    );
    const cell = charrnn(['train', 'new.txt', '--init-from', 'base.json', '--model', 'gru', '--layers', '2']);
    expect(cell.status).toBe(2);
    expect(cell.stderr).toContain('--model gru does not match base.json, a 2-layer lstm');
    // Flags that agree are fine.
    expectOk(
      charrnn(['train', 'new.txt', '--init-from', 'base.json', ...SHAPE, ...QUICK, '--iters', '1', '-o', 'y.json']),
    );
  });

  it("takes a preset's training recipe but the checkpoint's shape", () => {
    const args = ['train', 'new.txt', '--init-from', 'base.json', '--preset', 'min-char-rnn', '--iters', '2'];
    expectOk(charrnn([...args, '-o', 'preset.json', '-q']));
    const tuned = checkpointAt('preset.json');
    expect(tuned.model).toMatchObject({ cell: 'lstm', layers: 2, hidden: 16 });
    expect(tuned.training.options).toMatchObject({ optimizer: 'adagrad', seqLength: 25, batch: 1 });
  });

  it('names the characters the model does not know, unless --extend-vocab adds them', () => {
    const refused = charrnn(['train', 'accented.txt', '--init-from', 'base.json', ...QUICK, '-o', 'x.json']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe(
      'charrnn: accented.txt has 7 characters that base.json does not know: ";", "T", "Z", "é", "ñ" and 2 more; ' +
        'add them to its vocabulary with --extend-vocab, or leave them out of the text\n',
    );
    const alone = charrnn(['train', 'accented.txt', '--extend-vocab', ...QUICK]);
    expect(alone.status).toBe(2);
    expect(alone.stderr).toBe('charrnn: --extend-vocab only applies with --init-from\n');
    const overwrite = charrnn(['train', 'new.txt', '--init-from', 'base.json', '-o', 'base.json']);
    expect(overwrite.status).toBe(2);
    expect(overwrite.stderr).toBe(
      'charrnn: cannot save base.json: it is the checkpoint the run starts from; choose another path\n',
    );
  });

  it('--extend-vocab appends characters, keeps old predictions, and the grown model resumes exactly', async () => {
    // Stopped before the first step: the saved checkpoint holds the grown weights as they start.
    const summary = await trainModel(
      readCorpus(join(dir, 'accented.txt')),
      { initFrom: join(dir, 'base.json'), extendVocab: true, seqLength: 16, batch: 4 },
      { output: join(dir, 'grown.json'), signal: AbortSignal.abort(), threads: 1 },
    );
    expect(summary.iterations).toBe(0);
    const base = checkpointAt('base.json');
    const grown = checkpointAt('grown.json');
    // Appended in code-point order; old ids keep their meaning.
    expect(grown.vocab).toEqual([...base.vocab, ';', 'T', 'Z', 'é', 'ñ', 'ü', 'Ω']);
    expect(grown.model.vocab).toBe(base.vocab.length + 7);
    expect(Math.abs(evalLoss('base.txt', 'grown.json') - evalLoss('base.txt', 'base.json'))).toBeLessThan(1e-5);
    // New characters start unlikely: a long sample from the grown model has none.
    const sample = charrnn(['sample', '-c', 'grown.json', '--length', '2000', '--seed', '5']);
    expectOk(sample);
    expect(sample.stdout).not.toMatch(NEW_SYMBOLS);

    // The vocabulary, no longer sorted, works for training, eval and an exact resume.
    const tune = [
      'train',
      'accented.txt',
      '--init-from',
      'base.json',
      '--extend-vocab',
      ...QUICK,
      '--lr-schedule',
      'constant',
    ];
    expectOk(charrnn([...tune, '--iters', '20', '-o', 'grown-whole.json']));
    expectOk(charrnn([...tune, '--iters', '10', '-o', 'grown-parts.json']));
    expectOk(charrnn(['resume', 'grown-parts.json', '--iters', '20', '-q']));
    expect(weightsOf('grown-parts.json')).toEqual(weightsOf('grown-whole.json'));
    expect(checkpointAt('grown-parts.json').vocab).toEqual(grown.vocab);
    expect(evalLoss('accented.txt', 'grown-parts.json')).toBeLessThan(evalLoss('accented.txt', 'grown.json'));
  });

  it('names options by their library names in the library', async () => {
    const corpus = readCorpus(join(dir, 'new.txt'));
    await expect(trainModel(corpus, { initFrom: join(dir, 'base.json'), layers: 3 })).rejects.toThrow(
      /^options\.layers 3 does not match .*base\.json, a 2-layer lstm with hidden size 16; leave options\.layers out/,
    );
    await expect(
      trainModel(readCorpus(join(dir, 'accented.txt')), { initFrom: join(dir, 'base.json') }),
    ).rejects.toThrow(/add them to its vocabulary with options\.extendVocab/);
  });

  it('checks the origin like the rest of the training section', () => {
    expectOk(charrnn(['train', 'new.txt', '--init-from', 'base.json', ...QUICK, '--iters', '1', '-o', 'once.json']));
    const damaged = checkpointAt('once.json');
    damaged.training.origin.iteration = -1;
    writeFileSync(join(dir, 'damaged.json'), JSON.stringify(damaged));
    const resumed = charrnn(['resume', 'damaged.json', '--iters', '30']);
    expect(resumed.status).toBe(1);
    expect(resumed.stderr).toContain(
      'damaged.json: training.origin.iteration is -1; expected a whole number ≥ 0, or null',
    );
    expectOk(charrnn(['sample', '-c', 'damaged.json', '--length', '20', '--seed', '1']));
  });
});
