/** Tensors in JSON: { "shape": [...], "data": "<base64 of little-endian float32>" }. */
import { CharrnnError } from '../errors.js';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export interface EncodedTensor {
  shape: number[];
  data: string;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeFloat32(data: Float32Array): string {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (littleEndian) return bytes.toString('base64');
  const swapped = Buffer.from(bytes);
  swapped.swap32();
  return swapped.toString('base64');
}

const withoutPadding = (base64: string): string => {
  let end = base64.length;
  while (end > 0 && base64.length - end < 2 && base64[end - 1] === '=') end--;
  return base64.slice(0, end);
};

export function decodeFloat32(base64: string, expectedLength: number, where: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  // Buffer.from skips what is not base64; encoding the bytes again must give the text back. (Natively,
  // this is many times faster than a regular expression over tens of megabytes.)
  if (withoutPadding(bytes.toString('base64')) !== withoutPadding(base64)) {
    throw new CharrnnError(`${where}: the data is not valid base64`);
  }
  if (bytes.length !== expectedLength * 4) {
    throw new CharrnnError(
      `${where}: the data holds ${Math.floor(bytes.length / 4)} values, its shape says ${expectedLength}`,
    );
  }
  if (!littleEndian) bytes.swap32();
  const values = new Float32Array(expectedLength);
  new Uint8Array(values.buffer).set(bytes);
  return values;
}

export function encodeTensor(tensor: Tensor): EncodedTensor {
  return { shape: tensor.shape, data: encodeFloat32(tensor.data) };
}

export function decodeTensor(json: unknown, where: string): Tensor {
  const record = json as Partial<EncodedTensor> | null;
  if (
    typeof record !== 'object' ||
    record === null ||
    !Array.isArray(record.shape) ||
    typeof record.data !== 'string'
  ) {
    throw new CharrnnError(`${where}: expected {"shape": [...], "data": "<base64>"}`);
  }
  if (!record.shape.every((dim) => Number.isInteger(dim) && dim >= 0 && dim <= 2 ** 31))
    throw new CharrnnError(`${where}: the shape ${JSON.stringify(record.shape)} is invalid`);
  const length = record.shape.reduce((size, dim) => size * dim, 1);
  if (length > 2 ** 31) throw new CharrnnError(`${where}: the shape ${JSON.stringify(record.shape)} is too large`);
  return { shape: record.shape, data: decodeFloat32(record.data, length, where) };
}
