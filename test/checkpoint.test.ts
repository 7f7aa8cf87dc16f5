import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  parseCheckpoint as parseCheckpointFile,
  serializeCheckpoint as serializeCheckpointFile,
} from '../src/checkpoint/format.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../src/train/checkpoint.js';
import { newestRunCheckpoint, readCheckpoint, writeCheckpointAtomic } from '../src/checkpoint/io.js';
import { decodeFloat32, encodeFloat32 } from '../src/checkpoint/tensor-codec.js';
import { tensorSpecs, type ModelConfig } from '../src/core/config.js';
import { CharrnnError } from '../src/errors.js';
import { corpusFromText, LoadedModel, resumeTraining } from '../src/index.js';
import { trainingStateFor } from './helpers/training-state.js';

/** A checkpoint as the library reads it: the file parsed, its training section decoded. */
const parseCheckpoint = (text: string, source: string) => decodeCheckpoint(parseCheckpointFile(text, source), source);
/** A checkpoint as the loop saves it: its training section encoded, then the file. */
const serializeCheckpoint = (checkpoint: Checkpoint) => serializeCheckpointFile(encodeCheckpoint(checkpoint));

const config: ModelConfig = { cell: 'gru', layers: 2, hidden: 3, vocab: 4, dropout: 0 };

function sampleCheckpoint(): Checkpoint {
  let seed = 1;
  const tensors = Object.fromEntries(
    tensorSpecs(config).map(({ name, shape }) => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => {
        seed = (seed * 48271) % 2147483647;
        return seed / 2147483647 - 0.5;
      });
      return [name, { shape, data }];
    }),
  );
  return { model: config, vocab: ['\n', ' ', 'a', '😀'], tensors, training: trainingStateFor(config) };
}

// biome-ignore lint/suspicious/noExplicitAny: an edit may reach any field of the parsed JSON
const mutate = (edit: (json: any) => void): string => {
  const json = JSON.parse(serializeCheckpoint(sampleCheckpoint()));
  edit(json);
  return JSON.stringify(json);
};

describe('checkpoint format', () => {
  it('round-trips bit-exactly, special values included', () => {
    const values = Float32Array.from([0, -0, 1.5e-45, 3.4028234663852886e38, -1, Math.PI]);
    const back = decodeFloat32(encodeFloat32(values), values.length, 't');
    expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(values.buffer));
    const original = sampleCheckpoint();
    const parsed = parseCheckpoint(serializeCheckpoint(original), 'c.json');
    expect(parsed.model).toEqual(original.model);
    expect(parsed.vocab).toEqual(original.vocab);
    expect(parsed.training).toEqual(original.training);
    expect(parsed.trainingDamage).toBeUndefined();
    for (const [name, tensor] of Object.entries(original.tensors)) expect(parsed.tensors[name]).toEqual(tensor);
  });

  it('writes the documented layout', () => {
    const json = JSON.parse(serializeCheckpoint(sampleCheckpoint()));
    expect(json.format).toBe('charrnn-checkpoint');
    expect(json.version).toBe(1);
    expect(Object.keys(json.tensors)).toEqual(tensorSpecs(config).map((spec) => spec.name));
    expect(json.tensors.weight_ih_l0.shape).toEqual([9, 4]);
    expect(typeof json.tensors.weight_ih_l0.data).toBe('string');
  });

  it.each([
    ['truncated', serializeCheckpoint(sampleCheckpoint()).slice(0, 200), /truncated or not JSON/],
    ['JSON of another kind', '{"name": "package"}', /not a charrnn checkpoint/],
    ['a newer version', mutate((j) => (j.version = 3)), /newer charrnn \(format version 3/],
    ['an unknown cell', mutate((j) => (j.model.cell = 'transformer')), /model\.cell/],
    ['a zero hidden size', mutate((j) => (j.model.hidden = 0)), /model\.hidden/],
    ['a wrong vocabulary length', mutate((j) => j.vocab.pop()), /3 entries but model\.vocab says 4/],
    ['a multi-character symbol', mutate((j) => (j.vocab[2] = 'ab')), /vocab\[2\]/],
    ['a duplicate symbol', mutate((j) => (j.vocab[2] = ' ')), /appears twice/],
    ['a missing tensor', mutate((j) => delete j.tensors['decoder.bias']), /decoder\.bias is missing/],
    [
      'an extra tensor',
      mutate((j) => (j.tensors.weight_ih_l9 = j.tensors['decoder.bias'])),
      /unexpected tensor weight_ih_l9/,
    ],
    [
      'a wrong shape',
      mutate((j) => (j.tensors.weight_hh_l1.shape = [9, 4])),
      /weight_hh_l1 has shape \[9,4\]; the model needs \[9,3\]/,
    ],
    [
      'data that is not base64',
      mutate((j) => (j.tensors['decoder.bias'].data = `!${j.tensors['decoder.bias'].data.slice(1)}`)),
      /decoder\.bias: the data is not valid base64/,
    ],
    [
      'base64url instead of base64',
      mutate(
        (j) =>
          (j.tensors['decoder.bias'].data = encodeFloat32(Float32Array.from([1.5, 1.5, 1.5, 1.5])).replaceAll(
            '/',
            '_',
          )),
      ),
      /decoder\.bias: the data is not valid base64/,
    ],
    [
      'short data',
      mutate((j) => (j.tensors['decoder.bias'].data = encodeFloat32(new Float32Array(3)))),
      /holds 3 values, its shape says 4/,
    ],
    [
      'NaN weights',
      mutate((j) => (j.tensors['decoder.bias'].data = encodeFloat32(Float32Array.from([0, NaN, 0, 0])))),
      /contains NaN.*diverged/,
    ],
  ])('refuses %s with a clear message', (_, text, message) => {
    expect(() => parseCheckpoint(text, 'model.json')).toThrow(message);
    expect(() => parseCheckpoint(text, 'model.json')).toThrow(/model\.json/);
  });
});

describe('checkpoint files', () => {
  it('writes atomically, leaving no temporary files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-ckpt-'));
    const path = join(dir, 'sub', 'model.json');
    writeCheckpointAtomic(path, encodeCheckpoint(sampleCheckpoint()));
    writeCheckpointAtomic(path, encodeCheckpoint(sampleCheckpoint()));
    expect(readdirSync(join(dir, 'sub'))).toEqual(['model.json']);
    expect(readCheckpoint(path).model).toEqual(config);
  });

  it('keeps the old file when a write fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-ckpt-'));
    const path = join(dir, 'model.json');
    writeCheckpointAtomic(path, encodeCheckpoint(sampleCheckpoint()));
    const before = readFileSync(path, 'utf8');
    // A file where the directory should be: the temporary file cannot be created.
    writeFileSync(join(dir, 'blocker'), 'x');
    expect(() =>
      writeCheckpointAtomic(join(dir, 'blocker', 'model.json'), encodeCheckpoint(sampleCheckpoint())),
    ).toThrow(/cannot save/);
    // A directory in the way of the target.
    mkdirSync(join(dir, 'taken.json'));
    expect(() => writeCheckpointAtomic(join(dir, 'taken.json'), encodeCheckpoint(sampleCheckpoint()))).toThrow(
      /is a directory/,
    );
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a missing file and finds the newest run, and of it the best checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-ckpt-'));
    expect(() => readCheckpoint(join(dir, 'none.json'))).toThrow(/no such checkpoint/);
    expect(newestRunCheckpoint(join(dir, 'missing'))).toBeUndefined();
    writeCheckpointAtomic(join(dir, 'old.json'), encodeCheckpoint(sampleCheckpoint()));
    writeCheckpointAtomic(join(dir, 'old.best.json'), encodeCheckpoint(sampleCheckpoint()));
    writeCheckpointAtomic(join(dir, 'new.json'), encodeCheckpoint(sampleCheckpoint()));
    utimesSync(join(dir, 'old.json'), new Date(1000), new Date(1000));
    writeFileSync(join(dir, '.new.json.123.tmp'), '');
    // The newest run has no best checkpoint yet: its own file.
    expect(newestRunCheckpoint(dir)).toBe(join(dir, 'new.json'));
    // Once it has one, the best is taken, however old the file (the best is written less often).
    writeCheckpointAtomic(join(dir, 'new.best.json'), encodeCheckpoint(sampleCheckpoint()));
    utimesSync(join(dir, 'new.best.json'), new Date(2000), new Date(2000));
    expect(newestRunCheckpoint(dir)).toBe(join(dir, 'new.best.json'));
    // A newer best of an older run does not make that run the newest.
    utimesSync(join(dir, 'old.best.json'), new Date(), new Date());
    expect(newestRunCheckpoint(dir)).toBe(join(dir, 'new.best.json'));
    expect(existsSync(join(dir, 'old.json'))).toBe(true);
  });
});

/** A copy of the training section of another model, as the file would hold it. */
const trainingOf = (model: ModelConfig, batch = 2): unknown =>
  JSON.parse(serializeCheckpoint({ ...sampleCheckpoint(), training: trainingStateFor(model, batch) })).training;

/** An edit of a checkpoint's parsed JSON, any field of it. */
type JsonEdit = Parameters<typeof mutate>[0];

/** JSON cannot hold NaN or infinities, but a number too large for a double parses as Infinity. */
const withNumberText = (edit: JsonEdit, marker: number, text: string): string =>
  mutate(edit).replace(String(marker), text);

const f32 = (values: number[]): string => encodeFloat32(Float32Array.from(values));

describe('the training section, checked against the model', () => {
  // The sample checkpoint: a 2-layer gru, hidden 3, vocabulary 4, batch 2, adam (10 parameter tensors).
  const categories: [string, [string, string, RegExp][]][] = [
    [
      'wrong shapes',
      [
        [
          'a short carried state',
          mutate((j) => (j.training.carried[0].h = { shape: [5], data: f32([0, 0, 0, 0, 0]) })),
          /training\.carried\[0\]\.h\.shape is \[5\]; expected \[6\] \(batch 2 × hidden 3\)/,
        ],
        [
          'a carried state per layer missing',
          mutate((j) => j.training.carried.pop()),
          /training\.carried is a list of 1; expected one state per layer, 2 in all/,
        ],
        [
          'a cell state in a gru',
          mutate((j) => (j.training.carried[1].c = j.training.carried[1].h)),
          /training\.carried\[1\]\.c is .*; expected none: a gru carries no cell state/,
        ],
        [
          'an optimizer buffer of the wrong size',
          mutate((j) => (j.training.optimizer.buffers.exp_avg[3] = { shape: [2], data: f32([0, 0]) })),
          /training\.optimizer\.buffers\.exp_avg\[3\]\.shape is \[2\]; expected \[9\] \(the size of bias_hh_l0\)/,
        ],
        [
          'an optimizer buffer list one short',
          mutate((j) => j.training.optimizer.buffers.exp_avg_sq.pop()),
          /training\.optimizer\.buffers\.exp_avg_sq is a list of 9; expected a list of 10, one per parameter tensor/,
        ],
        [
          'a batch that disagrees with the carried state',
          mutate((j) => (j.training.options.batch = 3)),
          /training\.carried\[0\]\.h\.shape is \[6\]; expected \[9\] \(batch 3 × hidden 3\)/,
        ],
        [
          'data shorter than its shape',
          mutate((j) => (j.training.carried[0].h.data = f32([1, 2]))),
          /training\.carried\[0\]\.h: the data holds 2 values, its shape says 6/,
        ],
      ],
    ],
    [
      "another model's state",
      [
        [
          "an lstm's",
          mutate((j) => (j.training = trainingOf({ ...config, cell: 'lstm' }))),
          /training\.options\.cell is "lstm"; expected "gru", as model\.cell says \(is it another model's training state\?\)/,
        ],
        [
          'a wider model',
          mutate((j) => (j.training = trainingOf({ ...config, hidden: 5 }))),
          /training\.options\.hidden is 5; expected 3, as model\.hidden says/,
        ],
        [
          'a shallower model',
          mutate((j) => (j.training = trainingOf({ ...config, layers: 1 }))),
          /training\.options\.layers is 1; expected 2, as model\.layers says/,
        ],
        [
          'a model with dropout',
          mutate((j) => (j.training = trainingOf({ ...config, dropout: 0.25 }))),
          /training\.options\.dropout is 0\.25; expected 0, as model\.dropout says/,
        ],
        [
          'a model with another vocabulary',
          mutate((j) => (j.training = trainingOf({ ...config, vocab: 5 }))),
          /training\.optimizer\.buffers\.exp_avg\[0\]\.shape is \[45\]; expected \[36\] \(the size of weight_ih_l0\)/,
        ],
        [
          'buffers of another optimizer',
          mutate((j) => (j.training.options.optimizer = 'sgd')),
          /training\.optimizer\.kind is "adam"; expected "sgd", as training\.options\.optimizer says/,
        ],
        [
          'an extra buffer',
          mutate((j) => (j.training.optimizer.buffers.sum = j.training.optimizer.buffers.exp_avg)),
          /training\.optimizer\.buffers\.sum is .*; expected no such buffer \(adam keeps exp_avg and exp_avg_sq\)/,
        ],
      ],
    ],
    [
      'wrong types',
      [
        [
          'a training section that is not an object',
          mutate((j) => (j.training = 5)),
          /training is 5; expected an object/,
        ],
        [
          'a hidden size as text',
          mutate((j) => (j.training.options.hidden = '3')),
          /training\.options\.hidden is "3"; expected a whole number from 1 to 8192/,
        ],
        [
          'an unknown cell',
          mutate((j) => (j.training.options.cell = 'transformer')),
          /training\.options\.cell is "transformer"; expected one of rnn, lstm, gru/,
        ],
        [
          'an unknown optimizer',
          mutate((j) => (j.training.options.optimizer = 'lion')),
          /training\.options\.optimizer is "lion"; expected one of sgd, adagrad, rmsprop, adam/,
        ],
        [
          'an option out of range',
          mutate((j) => (j.training.options.seqLength = 0)),
          /training\.options\.seqLength is 0; expected a whole number from 1 to 10000/,
        ],
        [
          'a fractional iteration',
          mutate((j) => (j.training.iteration = 2.5)),
          /training\.iteration is 2\.5; expected a whole number ≥ 0/,
        ],
        [
          'a numeric fingerprint',
          mutate((j) => (j.training.corpus.fingerprint = 123)),
          /training\.corpus\.fingerprint is 123; expected a hexadecimal string/,
        ],
        [
          'an rng state of three words',
          mutate((j) => (j.training.rng.s = [1, 2, 3])),
          /training\.rng is .*; expected \{"algorithm": "xoshiro128\*\*", "s": four uint32 words/,
        ],
        [
          'a history that is not a list',
          mutate((j) => (j.training.history = {})),
          /training\.history is \{\}; expected a list of points/,
        ],
        [
          'a step count as text',
          mutate((j) => (j.training.optimizer.step = '20')),
          /training\.optimizer\.step is "20"; expected a whole number ≥ 0/,
        ],
        [
          'a history point with a text loss',
          mutate((j) => (j.training.history[0].trainLoss = '1.4')),
          /training\.history\[0\] is .*; expected \{"iteration", "epoch", "trainLoss", "valLoss"\?\} of finite numbers/,
        ],
      ],
    ],
    [
      'non-finite values',
      [
        [
          'NaN in the carried state',
          mutate((j) => (j.training.carried[1].h.data = f32([0, 0, NaN, 0, 0, 0]))),
          /training\.carried\[1\]\.h\[2\] is NaN; expected finite numbers/,
        ],
        [
          'an infinite optimizer buffer',
          mutate((j) => (j.training.optimizer.buffers.exp_avg_sq[9].data = f32([0, 0, 0, Infinity]))),
          /training\.optimizer\.buffers\.exp_avg_sq\[9\]\[3\] is Infinity; expected finite numbers/,
        ],
        [
          'an infinite elapsed time',
          withNumberText((j) => (j.training.elapsedSeconds = 123456.5), 123456.5, '1e999'),
          /training\.elapsedSeconds is Infinity; expected a finite number/,
        ],
        [
          'an infinite best loss',
          withNumberText((j) => (j.training.bestValLoss = 654321.5), 654321.5, '-1e999'),
          /training\.bestValLoss is -Infinity; expected a finite number or null/,
        ],
        [
          'an infinite learning rate',
          withNumberText((j) => (j.training.options.learningRate = 0.123456), 0.123456, '1e999'),
          /training\.options\.learningRate is Infinity; expected a positive number/,
        ],
        [
          'an infinite valLoss in the history',
          withNumberText((j) => (j.training.history[1].valLoss = 7.654321), 7.654321, '1e999'),
          /training\.history\[1\] is .*; expected/,
        ],
      ],
    ],
    [
      'nulls',
      [
        [
          'a null history point',
          mutate((j) => (j.training.history[1] = null)),
          /training\.history\[1\] is null; expected \{"iteration"/,
        ],
        ['null options', mutate((j) => (j.training.options = null)), /training\.options is null; expected an object/],
        ['a null rng', mutate((j) => (j.training.rng = null)), /training\.rng is null; expected/],
        [
          'a null layer state',
          mutate((j) => (j.training.carried[0] = null)),
          /training\.carried\[0\] is null; expected an object/,
        ],
        [
          'null buffers',
          mutate((j) => (j.training.optimizer.buffers = null)),
          /training\.optimizer\.buffers is null; expected an object/,
        ],
        [
          'a null iteration',
          mutate((j) => (j.training.iteration = null)),
          /training\.iteration is null; expected a whole number ≥ 0/,
        ],
      ],
    ],
    [
      'missing fields',
      [
        [
          'no corpus identity',
          mutate((j) => delete j.training.corpus),
          /training\.corpus is missing; expected an object/,
        ],
        [
          'no batch option',
          mutate((j) => delete j.training.options.batch),
          /training\.options\.batch is missing; expected a whole number from 1 to 10000/,
        ],
        [
          'no step count',
          mutate((j) => delete j.training.optimizer.step),
          /training\.optimizer\.step is missing; expected a whole number ≥ 0/,
        ],
        [
          'no hidden state',
          mutate((j) => delete j.training.carried[1].h),
          /training\.carried\[1\]\.h\.shape is missing; expected \[6\]/,
        ],
        [
          'no history',
          mutate((j) => delete j.training.history),
          /training\.history is missing; expected a list of points/,
        ],
        ['no chunk', mutate((j) => delete j.training.chunk), /training\.chunk is missing; expected a whole number ≥ 0/],
      ],
    ],
  ];

  describe.each(categories)('%s', (_, cases) => {
    it.each(cases)('%s: one line naming the file and field; the weights still load', (__, text, message) => {
      const parsed = parseCheckpoint(text, 'model.json');
      expect(parsed.training).toBeUndefined();
      expect(parsed.trainingDamage).toMatch(message);
      expect(parsed.trainingDamage).toMatch(
        /^model\.json: training\b.*; the training state is damaged, so the checkpoint cannot be resumed, but it can still be sampled$/,
      );
      expect(parsed.trainingDamage).not.toContain('\n');
      expect(parsed.model).toEqual(config);
      expect(Object.keys(parsed.tensors)).toEqual(tensorSpecs(config).map((spec) => spec.name));
    });
  });

  it('fills options an older file lacks: momentum 0, as SGD had before the option', () => {
    const parsed = parseCheckpoint(
      mutate((j) => delete j.training.options.momentum),
      'old.json',
    );
    expect(parsed.trainingDamage).toBeUndefined();
    expect(parsed.training!.options.momentum).toBe(0);
  });

  it('keeps a stdin corpus (path null) and drops option names it does not know', () => {
    const parsed = parseCheckpoint(
      mutate((j) => {
        j.training.corpus.path = null;
        j.training.options.someFutureOption = 3;
      }),
      'stdin.json',
    );
    expect(parsed.trainingDamage).toBeUndefined();
    expect(parsed.training!.corpus.path).toBeNull();
    expect(parsed.training!.options).not.toHaveProperty('someFutureOption');
  });
});

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
/** Checkpoints written by charrnn before the training section was checked (see how each was made in it). */
const FIXTURES = resolve(import.meta.dirname, 'fixtures', 'checkpoints-v1');
/** The corpus both fixtures were trained on (recorded there as /tmp/ck/stitch.txt). */
const STITCH = 'a stitch in time saves nine; '.repeat(40);
const FIXTURE_RUNS = {
  'main-lstm-adam.json': [
    '--model',
    'lstm',
    '--hidden',
    '6',
    '--layers',
    '2',
    '--seq',
    '8',
    '--batch',
    '3',
    // The defaults when the fixture was made.
    '--lr',
    '2e-3',
    '--dropout',
    '0',
    '--eval-every',
    '5',
  ],
  'main-gru-sgd.json': [
    '--model',
    'gru',
    '--hidden',
    '5',
    '--layers',
    '2',
    '--dropout',
    '0.1',
    '--optim',
    'sgd',
    '--lr',
    '0.05',
    '--seq',
    '8',
    '--batch',
    '3',
    '--eval-every',
    '5',
  ],
};

describe('checkpoints through the binary and the library', () => {
  let dir: string;
  const run = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  const fixture = (name: string): Parameters<JsonEdit>[0] => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'charrnn-ckpt-cli-'));
    writeFileSync(join(dir, 'stitch.txt'), STITCH);
  });

  it.each(Object.entries(FIXTURE_RUNS))('an old checkpoint (%s) loads, samples and resumes', (name) => {
    copyFileSync(join(FIXTURES, name), join(dir, name));
    expect(run(['info', name]).status).toBe(0);
    expect(run(['sample', '-c', name, '-l', '10', '--seed', '1']).stdout).toHaveLength(11);
    const resumed = run(['resume', name, '--corpus', 'stitch.txt', '--iters', '14', '-q']);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    // Checkpoints from before schedules resume on the step schedule they had; their shard count is ignored
    // (the gradients now sum every row of the batch in one order, whatever the threads).
    const { training } = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    expect(training.iteration).toBe(14);
    expect(training.options.lrSchedule).toBe('step');
  });

  // The lstm fixture: 2 layers × 6 hidden, batch 3, adam.
  const damaged: [string, JsonEdit, RegExp][] = [
    [
      'a wrong shape',
      (j) => (j.training.carried[1].c = { shape: [17], data: f32(new Array(17).fill(0)) }),
      /training\.carried\[1\]\.c\.shape is \[17\]; expected \[18\] \(batch 3 × hidden 6\)/,
    ],
    [
      "another model's state",
      (j) => (j.training = fixture('main-gru-sgd.json').training),
      /training\.options\.cell is "gru"; expected "lstm", as model\.cell says/,
    ],
    [
      'a hidden size that disagrees',
      (j) => (j.training.options.hidden = 7),
      /training\.options\.hidden is 7; expected 6, as model\.hidden says/,
    ],
    [
      'a wrong type',
      (j) => (j.training.options.hidden = '6'),
      /training\.options\.hidden is "6"; expected a whole number from 1 to 8192/,
    ],
    [
      'a non-finite value',
      (j) => (j.training.optimizer.buffers.exp_avg[2].data = f32(new Array(24).fill(NaN))),
      /training\.optimizer\.buffers\.exp_avg\[2\]\[0\] is NaN; expected finite numbers/,
    ],
    [
      'a null',
      (j) => (j.training.history[1] = null),
      /training\.history\[1\] is null; expected \{"iteration", "epoch", "trainLoss", "valLoss"\?\} of finite numbers/,
    ],
    [
      'a missing field',
      (j) => delete j.training.carried[0].c,
      /training\.carried\[0\]\.c\.shape is missing; expected \[18\]/,
    ],
  ];

  it.each(damaged)(
    'a training section with %s: resume refuses in one line, info and sample still work',
    async (label, edit, message) => {
      const name = `${label.replaceAll(/\W+/g, '-')}.json`;
      const json = fixture('main-lstm-adam.json');
      edit(json);
      const text = JSON.stringify(json);
      writeFileSync(join(dir, name), text);
      const expected = new RegExp(
        `^charrnn: ${name}: ${message.source}.*; the training state is damaged, so the checkpoint cannot be resumed, but it can still be sampled\n$`,
      );

      const resumed = run(['resume', name, '--corpus', 'stitch.txt', '--iters', '14']);
      expect(resumed.stderr).toMatch(expected);
      expect(resumed.stderr).not.toMatch(/internal error|^\s+at /m);
      expect(resumed.status).toBe(1);
      expect(readFileSync(join(dir, name), 'utf8')).toBe(text);

      const info = run(['info', name]);
      expect(info.stderr).toBe('');
      expect(info.status).toBe(0);
      expect(info.stdout).toContain('model       lstm, 2 layers × 6 hidden');
      expect(info.stdout).toMatch(new RegExp(`^training    damaged: ${name}: ${message.source}`, 'm'));

      const sampled = run(['sample', '-c', name, '-l', '20', '--seed', '1']);
      expect(sampled.stderr).toBe('');
      expect(sampled.stdout).toHaveLength(21);

      const path = join(dir, name);
      const refusal = await resumeTraining(path, {
        corpus: corpusFromText(STITCH, 'stitch.txt'),
        iterations: 14,
      }).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(CharrnnError);
      expect((refusal as CharrnnError).message).toMatch(message);
      expect((refusal as CharrnnError).exitCode).toBe(1);
      expect((await LoadedModel.load(path, 'js')).checkpoint.trainingDamage).toMatch(message);
      expect((await LoadedModel.load(path, 'js')).sample({ length: 20, seed: 1 })).toBe(sampled.stdout.slice(0, -1));
    },
  );
});
