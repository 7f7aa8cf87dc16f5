import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../src/checkpoint/format.js';
import { latestCheckpoint, readCheckpoint, writeCheckpointAtomic } from '../src/checkpoint/io.js';
import { decodeFloat32, encodeFloat32 } from '../src/checkpoint/tensor-codec.js';
import { tensorSpecs, type ModelConfig } from '../src/core/config.js';

const config: ModelConfig = { cell: 'gru', layers: 2, hidden: 3, vocab: 4, dropout: 0 };

function sampleCheckpoint(): Checkpoint {
  let seed = 1;
  const tensors = Object.fromEntries(tensorSpecs(config).map(({ name, shape }) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => (seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5);
    return [name, { shape, data }];
  }));
  return { model: config, vocab: ['\n', ' ', 'a', '😀'], tensors, training: { iteration: 3 } };
}

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
    expect(parsed.training).toEqual({ iteration: 3 });
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
    ['an extra tensor', mutate((j) => (j.tensors.weight_ih_l9 = j.tensors['decoder.bias'])), /unexpected tensor weight_ih_l9/],
    ['a wrong shape', mutate((j) => (j.tensors.weight_hh_l1.shape = [9, 4])), /weight_hh_l1 has shape \[9,4\]; the model needs \[9,3\]/],
    ['short data', mutate((j) => (j.tensors['decoder.bias'].data = encodeFloat32(new Float32Array(3)))), /holds 3 values, its shape says 4/],
    ['NaN weights', mutate((j) => (j.tensors['decoder.bias'].data = encodeFloat32(Float32Array.from([0, NaN, 0, 0])))), /contains NaN.*diverged/],
    ['a training section that is not an object', mutate((j) => (j.training = 5)), /"training" must be an object/],
  ])('refuses %s with a clear message', (_, text, message) => {
    expect(() => parseCheckpoint(text, 'model.json')).toThrow(message);
    expect(() => parseCheckpoint(text, 'model.json')).toThrow(/model\.json/);
  });
});

describe('checkpoint files', () => {
  it('writes atomically, leaving no temporary files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-ckpt-'));
    const path = join(dir, 'sub', 'model.json');
    writeCheckpointAtomic(path, sampleCheckpoint());
    writeCheckpointAtomic(path, sampleCheckpoint());
    expect(readdirSync(join(dir, 'sub'))).toEqual(['model.json']);
    expect(readCheckpoint(path).model).toEqual(config);
  });

  it('keeps the old file when a write fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-ckpt-'));
    const path = join(dir, 'model.json');
    writeCheckpointAtomic(path, sampleCheckpoint());
    const before = readFileSync(path, 'utf8');
    // A file where the directory should be: the temporary file cannot be created.
    writeFileSync(join(dir, 'blocker'), 'x');
    expect(() => writeCheckpointAtomic(join(dir, 'blocker', 'model.json'), sampleCheckpoint())).toThrow(/cannot save/);
    // A directory in the way of the target.
    mkdirSync(join(dir, 'taken.json'));
    expect(() => writeCheckpointAtomic(join(dir, 'taken.json'), sampleCheckpoint())).toThrow(/is a directory/);
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a missing file and finds the newest checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'charrnn-ckpt-'));
    expect(() => readCheckpoint(join(dir, 'none.json'))).toThrow(/no such checkpoint/);
    expect(latestCheckpoint(join(dir, 'missing'))).toBeUndefined();
    writeCheckpointAtomic(join(dir, 'old.json'), sampleCheckpoint());
    writeCheckpointAtomic(join(dir, 'new.json'), sampleCheckpoint());
    utimesSync(join(dir, 'old.json'), new Date(1000), new Date(1000));
    writeFileSync(join(dir, '.new.json.123.tmp'), '');
    expect(latestCheckpoint(dir)).toBe(join(dir, 'new.json'));
    expect(existsSync(join(dir, 'old.json'))).toBe(true);
  });
});
