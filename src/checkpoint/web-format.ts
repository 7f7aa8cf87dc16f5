/**
 * The web model file, version 1: what a page loads (`charrnn export --web` writes it as model.bin). A
 * checkpoint's model, vocabulary and weights, without its training section, in binary: float32, or
 * float16 at half the size. Little-endian:
 *
 *   offset 0   8 bytes  magic: 0x89 then "charrnn" (0x89 cannot start a text file, nor JSON)
 *          8   uint32   version (1)
 *         12   uint32   header length H: the header's bytes, padded with spaces so 16 + H is a multiple of 8
 *         16   H bytes  header, UTF-8 JSON: {"model": {cell, layers, hidden, vocab, dropout},
 *                       "vocab": [one character per id], "dtype": "float32" | "float16",
 *                       "tensors": [{"name", "shape"}, ...]}: PyTorch's state_dict names and order
 *     16 + H            each tensor's values in that order, row-major, 4 (float32) or 2 (float16) bytes each;
 *                       the file ends with the last one
 *
 * Decoding checks everything before a weight is used, with the checks of the JSON checkpoint
 * (model-fields.ts), and names what is wrong: a short or cut-off file, another kind of file (a JSON
 * checkpoint, an HTML page a server sent instead), a newer version, a bad header, shapes that are not
 * the model's, values that are not finite. No Node built-ins: the browser decodes it.
 */
import { shapeSize, tensorSpecs, type ModelConfig } from '../core/config.js';
import { CharrnnError } from '../errors.js';
import { halfBits, halfValue, HALF_MAX } from './half-float.js';
import { isObject } from './json.js';
import { checkFinite, checkTensorShape, parseModel, parseVocab } from './model-fields.js';

export const WEB_MODEL_VERSION = 1;
const MAGIC = [0x89, ...Array.from('charrnn', (char) => char.charCodeAt(0))];
const PREAMBLE_BYTES = 16;
const HEADER_ALIGN = 8;
const SPACE = 0x20;

export type WebModelDtype = 'float32' | 'float16';
const BYTES_PER_VALUE: Record<WebModelDtype, number> = { float32: 4, float16: 2 };

/** What a web model file holds: the checkpoint's model, vocabulary and weights (by PyTorch name). */
export interface WebModelFile {
  model: ModelConfig;
  vocab: string[];
  dtype: WebModelDtype;
  tensors: Record<string, Float32Array>;
}

/** The file's bytes. A weight beyond float16's range is refused for float16 (it would become infinite). */
export function encodeWebModel(file: WebModelFile): Uint8Array {
  const specs = tensorSpecs(file.model);
  const header = JSON.stringify({
    model: file.model,
    vocab: file.vocab,
    dtype: file.dtype,
    tensors: specs.map(({ name, shape }) => ({ name, shape })),
  });
  const headerBytes = new TextEncoder().encode(header);
  const paddedLength = Math.ceil((PREAMBLE_BYTES + headerBytes.length) / HEADER_ALIGN) * HEADER_ALIGN;
  const valueBytes = BYTES_PER_VALUE[file.dtype];
  const values = specs.reduce((sum, spec) => sum + file.tensors[spec.name]!.length, 0);
  const bytes = new Uint8Array(paddedLength + values * valueBytes);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC);
  view.setUint32(8, WEB_MODEL_VERSION, true);
  view.setUint32(12, paddedLength - PREAMBLE_BYTES, true);
  bytes.set(headerBytes, PREAMBLE_BYTES);
  bytes.fill(SPACE, PREAMBLE_BYTES + headerBytes.length, paddedLength);
  let at = paddedLength;
  for (const { name } of specs) {
    const data = file.tensors[name]!;
    if (file.dtype === 'float32') for (let i = 0; i < data.length; i++, at += 4) view.setFloat32(at, data[i]!, true);
    else at = writeHalves(view, at, data, name);
  }
  return bytes;
}

function writeHalves(view: DataView, at: number, data: Float32Array, name: string): number {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++, at += 2) {
    const half = halfBits(bits[i]!);
    if ((half & 0x7fff) === 0x7c00 && Number.isFinite(data[i])) {
      throw new CharrnnError(
        `tensor ${name} holds ${data[i]!.toPrecision(3)} at index ${i}, beyond float16's range ` +
          `(±${HALF_MAX}); export it as float32, without --half`,
      );
    }
    view.setUint16(at, half, true);
  }
  return at;
}

/**
 * Reads and checks a web model file; `source` names it in messages (a URL or a path). Every problem is
 * one CharrnnError saying what is wrong and what to do.
 */
export function decodeWebModel(bytes: Uint8Array, source: string): WebModelFile {
  checkPreamble(bytes, source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version === 0) throw new CharrnnError(`${source}: the web model version 0 is invalid; the file is damaged`);
  if (version > WEB_MODEL_VERSION) {
    throw new CharrnnError(
      `${source} was written by a newer charrnn (web model version ${version}; this charrnn.js reads ` +
        `version ${WEB_MODEL_VERSION}); export it again with this charrnn, or use the charrnn.js exported with it`,
    );
  }
  const headerLength = view.getUint32(12, true);
  if (PREAMBLE_BYTES + headerLength > bytes.length)
    throw truncated(source, bytes.length, PREAMBLE_BYTES + headerLength);
  const header = parseHeader(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength), source);
  const model = parseModel(header.model, source);
  const vocab = parseVocab(header.vocab, model.vocab, source);
  const dtype = parseDtype(header.dtype, source);
  const tensors = readTensors(view, PREAMBLE_BYTES + headerLength, { model, dtype, listed: header.tensors }, source);
  return { model, vocab, dtype, tensors };
}

/** Whether `head`, a file's first bytes, starts as a web model file does. */
export function isWebModelStart(head: Uint8Array): boolean {
  return MAGIC.every((byte, i) => head[i] === byte);
}

/** Refuses a file too short to hold the preamble, or one that does not start with the magic, saying what it is. */
function checkPreamble(bytes: Uint8Array, source: string): void {
  if (bytes.length === 0) throw new CharrnnError(`${source} is empty, not a charrnn web model`);
  const known = Math.min(bytes.length, MAGIC.length);
  if (MAGIC.slice(0, known).every((byte, i) => bytes[i] === byte)) {
    if (bytes.length < PREAMBLE_BYTES) throw truncated(source, bytes.length, PREAMBLE_BYTES);
    return;
  }
  const text = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  const remedy = 'make one with: charrnn export --web CHECKPOINT DIR';
  const what = text.startsWith('{')
    ? `JSON (a charrnn checkpoint?), not a web model; ${remedy}`
    : text.startsWith('<')
      ? 'an HTML page, not a model: is the URL right? A server answers a missing file with a page'
      : `not a charrnn web model (it does not start with the web model magic); ${remedy}`;
  throw new CharrnnError(`${source} is ${what}`);
}

function truncated(source: string, length: number, needed: number): CharrnnError {
  return new CharrnnError(
    `${source} is cut off: it has ${length} bytes, and its contents need ${needed}; download or export it again`,
  );
}

function parseHeader(bytes: Uint8Array, source: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new CharrnnError(`${source}: the web model's header is not valid JSON; the file is damaged`);
  }
  if (!isObject(header)) throw new CharrnnError(`${source}: the web model's header is not a JSON object`);
  return header;
}

function parseDtype(value: unknown, source: string): WebModelDtype {
  if (value === 'float32' || value === 'float16') return value;
  throw new CharrnnError(`${source}: dtype is ${JSON.stringify(value)}; expected "float32" or "float16"`);
}

/** The tensors from `at` on, after checking that the header lists the model's and the file ends with the last. */
function readTensors(
  view: DataView,
  at: number,
  layout: { model: ModelConfig; dtype: WebModelDtype; listed: unknown },
  source: string,
): Record<string, Float32Array> {
  const specs = tensorSpecs(layout.model);
  const { listed } = layout;
  if (!Array.isArray(listed) || listed.length !== specs.length) {
    throw new CharrnnError(
      `${source}: the header lists ${Array.isArray(listed) ? listed.length : 'no'} tensors; ` +
        `a ${layout.model.layers}-layer ${layout.model.cell} has ${specs.length}`,
    );
  }
  specs.forEach((spec, i) => {
    const entry: unknown = listed[i];
    if (!isObject(entry) || entry.name !== spec.name) {
      const name = isObject(entry) ? JSON.stringify(entry.name) : 'missing';
      throw new CharrnnError(`${source}: tensor ${i} is ${name}; the model needs ${spec.name} there`);
    }
    checkTensorShape(entry.shape, spec, source);
  });
  const valueBytes = BYTES_PER_VALUE[layout.dtype];
  const sizes = specs.map((spec) => shapeSize(spec.shape));
  const end = at + sizes.reduce((sum, size) => sum + size, 0) * valueBytes;
  if (view.byteLength < end) throw truncated(source, view.byteLength, end);
  if (view.byteLength > end) {
    throw new CharrnnError(
      `${source} has ${view.byteLength - end} bytes after its last tensor; the file is damaged, or not one ` +
        'web model; export it again',
    );
  }
  const tensors: Record<string, Float32Array> = {};
  specs.forEach((spec, i) => {
    const data = new Float32Array(sizes[i]!);
    if (layout.dtype === 'float32') for (let j = 0; j < data.length; j++, at += 4) data[j] = view.getFloat32(at, true);
    else for (let j = 0; j < data.length; j++, at += 2) data[j] = halfValue(view.getUint16(at, true));
    checkFinite(data, spec.name, source);
    tensors[spec.name] = data;
  });
  return tensors;
}
