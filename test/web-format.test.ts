/** The web model file (checkpoint/web-format.ts) and its float16 arithmetic (checkpoint/half-float.ts). */
import { describe, expect, it } from 'vitest';
import { halfBits, halfValue } from '../src/checkpoint/half-float.js';
import { decodeWebModel, encodeWebModel, type WebModelFile } from '../src/checkpoint/web-format.js';
import { shapeSize, tensorSpecs, type ModelConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { CharrnnError } from '../src/errors.js';

const floatBits = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0]!;

describe('float16', () => {
  it('gives back every half-precision number it reads', () => {
    for (let half = 0; half < 0x10000; half++) {
      const nan = (half & 0x7c00) === 0x7c00 && (half & 0x3ff) !== 0;
      if (nan) expect(halfValue(half)).toBeNaN();
      else expect(halfBits(floatBits(halfValue(half)))).toBe(half);
    }
  });

  it('rounds a value halfway between two halves to the even one, and any other to the nearer', () => {
    for (let half = 0; half < 0x7bff; half++) {
      const midpoint = (halfValue(half) + halfValue(half + 1)) / 2;
      expect(Math.fround(midpoint)).toBe(midpoint);
      const bits = floatBits(midpoint);
      expect(halfBits(bits)).toBe(half % 2 === 0 ? half : half + 1);
      expect(halfBits(bits - 1)).toBe(half);
      expect(halfBits(bits + 1)).toBe(half + 1);
      expect(halfBits(bits | 0x80000000)).toBe((half % 2 === 0 ? half : half + 1) | 0x8000);
    }
  });

  it('overflows from 65520 (halfway to the next power of two) and keeps NaN a NaN', () => {
    expect(halfValue(halfBits(floatBits(65519.996)))).toBe(65504);
    expect(halfValue(halfBits(floatBits(65520)))).toBe(Infinity);
    expect(halfValue(halfBits(floatBits(-1e30)))).toBe(-Infinity);
    expect(halfValue(halfBits(floatBits(Number.NaN)))).toBeNaN();
    expect(halfValue(halfBits(floatBits(2 ** -25)))).toBe(0);
    expect(halfValue(halfBits(floatBits(2 ** -25 * 1.0001)))).toBe(2 ** -24);
  });
});

const MODEL: ModelConfig = { cell: 'gru', layers: 2, hidden: 3, vocab: 4, dropout: 0 };

function randomFile(dtype: WebModelFile['dtype'] = 'float32'): WebModelFile {
  const rng = new Rng(7);
  const tensors = Object.fromEntries(
    tensorSpecs(MODEL).map(({ name, shape }) => [
      name,
      Float32Array.from({ length: shapeSize(shape) }, () => rng.normal() * 3),
    ]),
  );
  return { model: MODEL, vocab: ['\n', 'a', '春', '🌸'], dtype, tensors };
}

/** A file's bytes with its header changed by `change` (the tensor bytes kept as they are). */
function withHeader(bytes: Uint8Array, change: (header: Record<string, unknown>) => void): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const length = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + length)));
  change(header);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(16 + text.length + bytes.length - 16 - length);
  out.set(bytes.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, text.length, true);
  out.set(text, 16);
  out.set(bytes.subarray(16 + length), 16 + text.length);
  return out;
}

function refusal(bytes: Uint8Array): string {
  try {
    decodeWebModel(bytes, 'model.bin');
  } catch (error) {
    expect(error).toBeInstanceOf(CharrnnError);
    return (error as CharrnnError).message;
  }
  throw new Error('expected the file to be refused');
}

describe('the web model file', () => {
  it('holds float32 weights exactly, after a header padded to 8 bytes', () => {
    const file = randomFile();
    const bytes = encodeWebModel(file);
    expect((16 + new DataView(bytes.buffer).getUint32(12, true)) % 8).toBe(0);
    expect(decodeWebModel(bytes, 'model.bin')).toEqual(file);
  });

  it('holds float16 weights rounded to the nearest half, in about half the bytes', () => {
    const file = randomFile('float16');
    const bytes = encodeWebModel(file);
    const decoded = decodeWebModel(bytes, 'model.bin');
    expect(decoded.dtype).toBe('float16');
    for (const [name, data] of Object.entries(file.tensors)) {
      expect(decoded.tensors[name]).toEqual(data.map((x) => halfValue(halfBits(floatBits(x)))));
    }
    const values = Object.values(file.tensors).reduce((sum, data) => sum + data.length, 0);
    expect(bytes.length - encodeWebModel({ ...file, dtype: 'float32' }).length).toBe(-2 * values);
  });

  it('refuses a weight float16 cannot hold rather than making it infinite', () => {
    const file = randomFile('float16');
    file.tensors.bias_hh_l1![2] = -70_000;
    expect(() => encodeWebModel(file)).toThrow(
      "tensor bias_hh_l1 holds -7.00e+4 at index 2, beyond float16's range (±65504); export it as float32, without --half",
    );
  });

  it('refuses the file cut off at every length, and with bytes after its last tensor', () => {
    const bytes = encodeWebModel(randomFile('float16'));
    expect(refusal(bytes.subarray(0, 0))).toBe('model.bin is empty, not a charrnn web model');
    for (let length = 1; length < bytes.length; length++) {
      expect(refusal(bytes.subarray(0, length))).toMatch(
        /^model\.bin is cut off: it has \d+ bytes, and its contents need \d+; download or export it again$/,
      );
    }
    expect(refusal(Uint8Array.of(...bytes, 0, 0))).toBe(
      'model.bin has 2 bytes after its last tensor; the file is damaged, or not one web model; export it again',
    );
  });

  it.each([
    [
      'a JSON checkpoint',
      '{"format": "charrnn-checkpoint"}',
      /^model\.bin is JSON \(a charrnn checkpoint\?\), not a web model; make one with: charrnn export --web CHECKPOINT DIR$/,
    ],
    [
      'an HTML page',
      '\n<!DOCTYPE html><title>404</title>',
      /^model\.bin is an HTML page, not a model: is the URL right\?/,
    ],
    [
      'another file',
      'hello, world: not a model at all',
      /^model\.bin is not a charrnn web model \(it does not start with the web model magic\)/,
    ],
  ])('says what it is when given %s', (_, text, message) => {
    expect(refusal(new TextEncoder().encode(text))).toMatch(message);
  });

  it('refuses a newer version, and version 0, by name', () => {
    const bytes = encodeWebModel(randomFile());
    new DataView(bytes.buffer).setUint32(8, 2, true);
    expect(refusal(bytes)).toBe(
      'model.bin was written by a newer charrnn (web model version 2; this charrnn.js reads version 1); ' +
        'export it again with this charrnn, or use the charrnn.js exported with it',
    );
    new DataView(bytes.buffer).setUint32(8, 0, true);
    expect(refusal(bytes)).toBe('model.bin: the web model version 0 is invalid; the file is damaged');
  });

  it.each<[string, (header: Record<string, unknown>) => void, string]>([
    [
      'a bad model field',
      (h) => ((h.model as ModelConfig).hidden = 0),
      'model.bin: model.hidden is 0; expected a whole number from 1 to 65536',
    ],
    [
      'a vocabulary of the wrong size',
      (h) => (h.vocab as string[]).pop(),
      'model.bin: the vocabulary has 3 entries but model.vocab says 4',
    ],
    ['a character twice', (h) => ((h.vocab as string[])[1] = '\n'), 'model.bin: vocab[1] "\\n" appears twice'],
    ['an unknown dtype', (h) => (h.dtype = 'int8'), 'model.bin: dtype is "int8"; expected "float32" or "float16"'],
    [
      'a tensor of another shape',
      (h) => ((h.tensors as { shape: number[] }[])[1]!.shape = [3, 9]),
      'model.bin: tensor weight_hh_l0 has shape [3,9]; the model needs [9,3]',
    ],
    [
      'tensors in another order',
      (h) => (h.tensors as unknown[]).reverse(),
      'model.bin: tensor 0 is "decoder.bias"; the model needs weight_ih_l0 there',
    ],
    [
      'a tensor missing',
      (h) => (h.tensors as unknown[]).pop(),
      'model.bin: the header lists 9 tensors; a 2-layer gru has 10',
    ],
  ])('refuses a header with %s, in the words the checkpoint uses', (_, change, message) => {
    expect(refusal(withHeader(encodeWebModel(randomFile()), change))).toBe(message);
  });

  it('refuses a header that is not JSON, and weights that are not finite', () => {
    const bytes = encodeWebModel(randomFile());
    const damaged = Uint8Array.from(bytes);
    damaged[20] = 0xff;
    expect(refusal(damaged)).toBe("model.bin: the web model's header is not valid JSON; the file is damaged");
    const file = randomFile();
    file.tensors['decoder.weight']![5] = Number.NaN;
    expect(refusal(encodeWebModel(file))).toMatch(/^model\.bin: tensor decoder\.weight contains NaN at index 5;/);
  });
});
