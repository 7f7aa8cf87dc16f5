/**
 * Checkpoints read and written as streams: stdin read to its end however slowly it comes (also with
 * `--log -`), named devices refused and endless inputs bounded, and a format that stays byte for byte
 * what JSON.stringify wrote, read in pieces of any size with the messages a whole-string JSON.parse gave.
 * CLI cases run the built binary.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Base64Data } from '../src/checkpoint/base64-stream.js';
import type { ByteSource } from '../src/checkpoint/byte-source.js';
import { memorySource } from '../src/checkpoint/byte-source.js';
import {
  parseCheckpoint,
  readCheckpointFrom,
  serializeCheckpoint,
  type CheckpointFile,
} from '../src/checkpoint/format.js';
import { readJson } from '../src/checkpoint/json-reader.js';
import { EncodedTensor, encodeFloat32 } from '../src/checkpoint/tensor-codec.js';
import { tensorSpecs, type ModelConfig } from '../src/core/config.js';
import { CharrnnError } from '../src/errors.js';
import { decodeTrainingState, encodeTrainingState } from '../src/train/state.js';
import { trainingStateFor } from './helpers/training-state.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const TEXT = 'the cat sat on the mat; the dog sat on the log.\n'.repeat(40);
/** Room for runs of the built binary on a loaded machine; a hang (reading /dev/zero for ever) fails. */
const SLOW = 120_000;
const ENV = { ...process.env, NODE: process.execPath, BIN, CI: 'true' };

let dir: string;

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: 'utf8', env: ENV, timeout: 60_000 });
}

/** Runs a bash script with $NODE and $BIN set. */
function shell(script: string) {
  return spawnSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8', env: ENV, timeout: 60_000 });
}

/** Writes the first KB, waits, then the rest: a reader that reads stdin once gets EAGAIN. */
const slowly = (file: string) => `(head -c 1000 ${file}; sleep 0.3; tail -c +1001 ${file})`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-stream-'));
  writeFileSync(join(dir, 'c.txt'), TEXT);
  // The default 2 × 128 LSTM with Adam: a 3.4 MB checkpoint.
  const trained = run(['train', 'c.txt', '--iters', '2', '--seq', '8', '--batch', '4', '-q', '-o', 'm.json']);
  expect(trained.stderr).toBe('');
  const logged = run(
    ['train', 'c.txt', ...['--hidden', '8', '--layers', '1', '--iters', '4', '--eval-every', '2']].concat([
      '--seq',
      '8',
      '--batch',
      '4',
      '-q',
      '-o',
      'small.json',
      '--log',
      'run.log',
    ]),
  );
  expect(logged.stderr).toBe('');
}, SLOW);

describe('a checkpoint on stdin', () => {
  it(
    'is read to its end when the writer is slow: sample, info and --init-from',
    () => {
      const fromFile = run(['sample', '-c', 'm.json', '-l', '40', '--seed', '3']);
      expect(fromFile.status).toBe(0);
      const sampled = shell(`${slowly('m.json')} | "$NODE" "$BIN" sample -c - -l 40 --seed 3`);
      expect(sampled.stderr).toBe('');
      expect(sampled.stdout).toBe(fromFile.stdout);
      const described = shell(`${slowly('m.json')} | "$NODE" "$BIN" info - --json`);
      expect(described.stderr).toBe('');
      expect(JSON.parse(described.stdout)).toEqual(JSON.parse(run(['info', 'm.json', '--json']).stdout));
      const tuned = shell(
        `${slowly('m.json')} | "$NODE" "$BIN" train c.txt --init-from - --iters 1 --seq 8 --batch 4 -q -o tuned.json`,
      );
      expect(tuned.stderr).toBe('');
      expect(tuned.status).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 'tuned.json'), 'utf8')).training.origin.iteration).toBe(2);
    },
    SLOW,
  );

  it.runIf(shell('command -v python3').status === 0)(
    'is read to its end from a non-blocking pipe',
    () => {
      const nonBlocking = 'import os, sys; os.set_blocking(0, False); os.execvp(sys.argv[1], sys.argv[1:])';
      const script = `${slowly('m.json')} | python3 -c '${nonBlocking}' "$NODE" "$BIN" sample -c - -l 40 --seed 3`;
      const sampled = shell(script);
      expect(sampled.stderr).toBe('');
      expect(sampled.stdout).toBe(run(['sample', '-c', 'm.json', '-l', '40', '--seed', '3']).stdout);
    },
    SLOW,
  );

  it(
    'that never ends is bounded: one line, exit 1',
    () => {
      const zeros = shell('"$NODE" "$BIN" info - </dev/zero');
      expect(zeros.stderr).toMatch(/^charrnn: stdin is not a charrnn checkpoint \(not valid JSON\)[^\n]*\n$/);
      expect(zeros.status).toBe(1);
      const endless = shell('yes | "$NODE" "$BIN" sample -c -');
      expect(endless.stderr).toMatch(/^charrnn: stdin is not a charrnn checkpoint \(not valid JSON\)[^\n]*\n$/);
      expect(endless.status).toBe(1);
    },
    SLOW,
  );
});

describe('devices and --log -', () => {
  it(
    'refuses a named device as a checkpoint or a log, at once',
    () => {
      const sampled = run(['sample', '-c', '/dev/zero']);
      expect(sampled.stderr).toBe(
        'charrnn: /dev/zero is a device, not a checkpoint file; give the path of a checkpoint\n',
      );
      expect(sampled.status).toBe(1);
      const logged = run(['info', 'small.json', '--log', '/dev/zero']);
      expect(logged.stderr).toBe('charrnn: --log /dev/zero: it is a device; give a file\n');
      expect(logged.status).toBe(1);
    },
    SLOW,
  );

  it(
    'reads --log - from stdin, to its end, and bounds it',
    () => {
      const fromFile = run(['info', 'small.json', '--json', '--log', 'run.log']);
      expect(fromFile.status).toBe(0);
      const fromStdin = shell(`${slowly('run.log')} | "$NODE" "$BIN" info small.json --json --log -`);
      expect(fromStdin.stderr).toBe('');
      expect(JSON.parse(fromStdin.stdout)).toEqual(JSON.parse(fromFile.stdout));
      const zeros = shell('"$NODE" "$BIN" info small.json --log - </dev/zero');
      expect(zeros.stderr).toBe(
        'charrnn: --log -: it holds more than 512 MiB, more than a text read whole can; is it the right file?\n',
      );
      expect(zeros.status).toBe(1);
    },
    SLOW,
  );
});

const config: ModelConfig = { cell: 'gru', layers: 2, hidden: 5, vocab: 4, dropout: 0 };
const checkpoint: CheckpointFile = {
  model: config,
  vocab: ['\n', '"', '\\', '日'],
  tensors: Object.fromEntries(
    tensorSpecs(config).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return [name, { shape, data: Float32Array.from({ length: size }, (_, i) => Math.cos(i * 7 + name.length)) }];
    }),
  ),
  training: encodeTrainingState(trainingStateFor(config, 3)),
};

/** What the writer wrote before it streamed: one JSON.stringify, each tensor's data one base64 string. */
function wholeStringSerialization(value: CheckpointFile): string {
  return JSON.stringify(
    {
      format: 'charrnn-checkpoint',
      version: 1,
      model: value.model,
      vocab: value.vocab,
      tensors: Object.fromEntries(tensorSpecs(value.model).map(({ name }) => [name, value.tensors[name]])),
      training: value.training,
    },
    (_key, item: unknown) => {
      if (item instanceof EncodedTensor) return { shape: item.shape, data: encodeFloat32(item.data) };
      if (item instanceof Float32Array) return encodeFloat32(item);
      return item;
    },
  );
}

/** Gives the bytes a few at a time, as a slow pipe would. */
function trickle(bytes: Uint8Array, sizes: number[]): ByteSource {
  const whole = memorySource(bytes);
  let turn = 0;
  return {
    read: (into) => whole.read(into.subarray(0, Math.max(1, sizes[turn++ % sizes.length]!))),
    remaining: () => undefined,
    endText: whole.endText,
  };
}

/** A tensor's data as the old reader judged it: valid when re-encoding gives the text back (padding aside). */
function oldBase64(text: string): { valid: boolean; bytes: number[] } {
  const bytes = Buffer.from(text, 'base64');
  const strip = (s: string) => s.replace(/={1,2}$/, '');
  const valid = strip(bytes.toString('base64')) === strip(text);
  return { valid, bytes: valid ? [...bytes] : [] };
}

/** JSON values with each "data" string (or Base64Data) as {valid, bytes}, to compare the two readers. */
function comparable(value: unknown, key = ''): unknown {
  if (value instanceof Base64Data) return { valid: value.valid, bytes: [...value.bytes] };
  if (key === 'data' && typeof value === 'string') return oldBase64(value);
  if (Array.isArray(value)) return value.map((item) => comparable(item));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, comparable(item, name)]));
  }
  return value;
}

/** What reading gives (streamed, or read whole where the size is known): the comparable value, or that it is not JSON. */
function streamed(text: string, sizes: number[] | 'whole'): unknown {
  const bytes = Buffer.from(text, 'utf8');
  try {
    return comparable(readJson(sizes === 'whole' ? memorySource(bytes) : trickle(bytes, sizes)));
  } catch (error) {
    if ((error as Error).constructor.name !== 'JsonSyntaxError') throw error;
    return 'not JSON';
  }
}

function parsed(text: string): unknown {
  try {
    return comparable(JSON.parse(text));
  } catch {
    return 'not JSON';
  }
}

describe('the checkpoint format, streamed', () => {
  const text = serializeCheckpoint(checkpoint);

  it('writes what one JSON.stringify of the whole file wrote, byte for byte', () => {
    expect(text).toBe(wholeStringSerialization(checkpoint));
  });

  it('reads in pieces of any size what JSON.parse read', () => {
    const whole = parseCheckpoint(text, 'c.json');
    for (const sizes of [[1], [2], [3], [5, 1, 7], [4096]]) {
      const read = readCheckpointFrom(trickle(Buffer.from(text, 'utf8'), sizes), 'c.json');
      // The training section stays raw until decoded: its data as Base64Data when streamed, strings when whole.
      const { training, ...rest } = read;
      const { training: wholeTraining, ...wholeRest } = whole;
      expect(rest).toEqual(wholeRest);
      expect(decodeTrainingState(training, config, 'c.json')).toEqual(
        decodeTrainingState(wholeTraining, config, 'c.json'),
      );
    }
    expect(whole.tensors['decoder.weight']).toEqual(checkpoint.tensors['decoder.weight']);
    expect(decodeTrainingState(whole.training, config, 'c.json')).toEqual(trainingStateFor(config, 3));
  });

  it('agrees with JSON.parse on damaged text, escapes and odd base64, whatever the piece size', () => {
    const edits = fc.oneof(
      fc.record({ at: fc.nat(text.length - 1), insert: fc.constantFrom('\\/', '\\u0041', '=', '==', '\n', ' ', '"') }),
      fc.record({ at: fc.nat(text.length - 1), insert: fc.string({ maxLength: 3 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(edits, { maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }),
        (list, sizes) => {
          let damaged = text;
          for (const { at, insert } of list) damaged = damaged.slice(0, at) + insert + damaged.slice(at);
          expect(streamed(damaged, sizes)).toEqual(parsed(damaged));
          expect(streamed(damaged, 'whole')).toEqual(parsed(damaged));
        },
      ),
      { numRuns: 300 },
    );
  }, 60_000);

  it('reads escapes and padding in tensor data as JSON.parse does', () => {
    for (const data of [
      'AAAA',
      'AA\\/A',
      '\\u0041AAA',
      'AAA=',
      'AA==',
      'AAAA==',
      'AAA==',
      'AA===',
      'A',
      'AAAAA',
      'AA\\nAA',
    ]) {
      const json = `{"t":{"shape":[1],"data":"${data}"},"x":"\\u00e9\\"\\\\日"}`;
      for (const sizes of [[1], [2], [3], [100]])
        expect(streamed(json, sizes), `${data} ${sizes}`).toEqual(parsed(json));
    }
  });

  it('gives the old messages: truncated, not JSON, a raw control character in the data', () => {
    const message = (candidate: string) => {
      try {
        parseCheckpoint(candidate, 'x.json');
        return 'loaded';
      } catch (error) {
        expect(error).toBeInstanceOf(CharrnnError);
        return (error as Error).message;
      }
    };
    expect(message(text.slice(0, 300))).toMatch(/^x\.json is not a charrnn checkpoint \(truncated or not JSON\)/);
    expect(message(text.replace('"data":"', '"data":"\u0001'))).toMatch(/\(not valid JSON\)/);
    expect(message(text.replace('"data":"', '"data":"@'))).toMatch(/the data is not valid base64$/);
    expect(message(`${text} x`)).toMatch(/\(truncated or not JSON\)/);
    expect(message(`${text}\n\n`)).toBe('loaded');
  });
});
