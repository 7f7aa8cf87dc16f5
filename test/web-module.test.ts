/**
 * The browser entry (src/web/) run in Node, which has what it uses (fetch, WebAssembly, setTimeout): the
 * same text as the library's LoadedModel on the same kernel family, its fixed kernel memory, and what it
 * refuses. A real browser runs it in web-browser.test.ts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensorData } from '../src/checkpoint/format.js';
import { encodeWebModel, type WebModelDtype } from '../src/checkpoint/web-format.js';
import { type ModelConfig, shapeSize, tensorSpecs } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { wasmSimdSupported } from '../src/core/wasm/kernels-wasm.js';
import { variantBytes, WASM_VARIANTS, withUnsharedMemory } from '../src/core/wasm/variants.js';
import { CharrnnError } from '../src/errors.js';
import { LoadedModel, type SampleOptions } from '../src/index.js';
import { load, sampleOptionsFromParams } from '../src/web/index.js';

const FIXTURE = resolve(import.meta.dirname, 'fixtures', 'checkpoints-v1', 'main-lstm-adam.json');
const OPTIONS: SampleOptions = { length: 300, temperature: 0.8, topK: 6, seed: 11, prime: 'the ' };

let loaded: LoadedModel;
const fileOf = (dtype: WebModelDtype): Uint8Array =>
  encodeWebModel({ ...loaded.checkpoint, dtype, tensors: tensorData(loaded.checkpoint) });

async function refusal(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(CharrnnError);
    return (error as CharrnnError).message;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  loaded = await LoadedModel.load(FIXTURE, 'js');
});

describe('the browser entry, in Node', () => {
  it('samples the text LoadedModel samples, on the plain-JS kernels', async () => {
    const model = await load(fileOf('float32'), { kernel: 'js' });
    expect(model.kernel).toBe('js');
    expect(model.sample(OPTIONS)).toBe(loaded.sample(OPTIONS));
  });

  it.runIf(wasmSimdSupported())('picks the WebAssembly variant Node picks, and samples its text', async () => {
    const node = await LoadedModel.load(FIXTURE, 'wasm');
    const model = await load(fileOf('float32').buffer as ArrayBuffer);
    expect(model.kernel).toBe(node.model.kernels.name);
    expect(model.sample(OPTIONS)).toBe(node.sample(OPTIONS));
    let streamed = '';
    for await (const { char } of model.stream({ ...OPTIONS, length: 3000 })) streamed += char;
    expect(streamed).toBe(node.sample({ ...OPTIONS, length: 3000 }));
  });

  it.runIf(wasmSimdSupported())(
    'holds four samplings at once in its fixed memory, and says so at the fifth',
    async () => {
      // Big enough that the memory's slack (2 MiB, for the kernels' workspace) holds no fifth sampling.
      const config: ModelConfig = { cell: 'lstm', layers: 1, hidden: 512, vocab: 3, dropout: 0 };
      const rng = new Rng(3);
      const tensors = Object.fromEntries(
        tensorSpecs(config).map(({ name, shape }) => [
          name,
          Float32Array.from({ length: shapeSize(shape) }, () => rng.nextFloat() - 0.5),
        ]),
      );
      const file = encodeWebModel({ model: config, vocab: ['a', 'b', '\n'], dtype: 'float16', tensors });
      const model = await load(file, { kernel: 'wasm' });
      expect(model.dtype).toBe('float16');
      model.reset('ab');
      const live = [1, 2, 3].map((seed) => model.generate({ seed, length: 5 }));
      for (const chars of live) chars.next();
      const fifth = model.generate({ seed: 4, length: 5 });
      expect(() => fifth.next()).toThrow(
        /^sampling needs [\d.]+ MiB more kernel memory, but only [\d.]+ MiB of the [\d.]+ MiB heap are free; a page's model holds 4 samplings at once; end a generate\(\) iterator first$/,
      );
      for (const chars of live) chars.return();
      expect(model.sample({ seed: 4, length: 5 })).toHaveLength(5);
    },
  );

  it('gives the browser the very module Node runs, its memory import alone unshared', () => {
    for (const variant of WASM_VARIANTS) {
      const shared = variantBytes(variant);
      const unshared = withUnsharedMemory(shared);
      const differing = [...shared.keys()].filter((i) => shared[i] !== unshared[i]);
      expect(differing).toHaveLength(1);
      expect([shared[differing[0]!], unshared[differing[0]!]]).toEqual([0x03, 0x01]);
    }
    expect(() => withUnsharedMemory(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))).toThrow(
      'the kernels module does not import its memory first; see scripts/build-wasm.mjs',
    );
  });

  it("refuses load()'s options as the library refuses its own", async () => {
    const bytes = fileOf('float32');
    expect(await refusal(() => load(bytes, { kernel: 'native' as never }))).toBe(
      'kernel native is invalid: expected one of auto, wasm, js',
    );
    expect(await refusal(() => load(bytes, { kernal: 'js' } as never))).toBe(
      'kernal is not a setting (did you mean kernel?)',
    );
    expect(await refusal(() => load(bytes.subarray(0, 100)))).toMatch(/^the model is cut off: it has 100 bytes/);
  });

  describe('fetching a model', () => {
    const server = createServer((request, response) => {
      if (request.url === '/model.bin') response.end(fileOf('float32'));
      else response.writeHead(404, 'Not Found').end('<!doctype html><h1>Not here</h1>');
    });
    let origin: string;
    beforeAll(async () => {
      await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => server.close());

    it('loads it from a URL, and names the URL when the server fails or is not there', async () => {
      expect((await load(`${origin}/model.bin`, { kernel: 'js' })).sample(OPTIONS)).toBe(loaded.sample(OPTIONS));
      expect(await refusal(() => load(new URL(`${origin}/missing.bin`)))).toBe(
        `cannot fetch ${origin}/missing.bin: the server answered 404 Not Found; is the file there?`,
      );
      expect(await refusal(() => load('http://127.0.0.1:9/model.bin'))).toMatch(
        /^cannot fetch http:\/\/127\.0\.0\.1:9\/model\.bin \(.+\); is the server running\?$/,
      );
    });
  });

  it("reads a URL's settings by the CLI's flags, empty ones left out, an unknown one named", () => {
    const params = new URLSearchParams('temp=0.5&top-k=3&top-p=&stop=%0A%0A&argmax=true&seed=9&autorun=1');
    expect(sampleOptionsFromParams(params, ['autorun'])).toEqual({
      temperature: 0.5,
      topK: 3,
      stop: '\n\n',
      argmax: true,
      seed: 9,
    });
    expect(() => sampleOptionsFromParams(new URLSearchParams('tmp=0.5'))).toThrow(
      'tmp is not a setting (did you mean temp?)',
    );
    const checked = () => loaded.checkSampleOptions(sampleOptionsFromParams(new URLSearchParams('temp=hot')));
    expect(checked).toThrow(
      'temperature "hot" is invalid: expected a number ≥ 0 (0 means always the most likely character)',
    );
  });
});
