/** Tensors in JSON: { "shape": [...], "data": "<base64 of little-endian float32>" }. */
import { CharrnnError } from '../errors.js';
import { Base64Data, base64Pieces, floatsOf } from './base64-stream.js';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** A tensor on its way into a checkpoint: the writer puts its data in as base64 a chunk at a time. */
export class EncodedTensor {
  constructor(
    readonly shape: number[],
    readonly data: Float32Array,
  ) {}
}

export function encodeFloat32(data: Float32Array): string {
  return [...base64Pieces(data)].join('');
}

export function decodeFloat32(base64: string | Base64Data, expectedLength: number, where: string): Float32Array {
  const data = typeof base64 === 'string' ? Base64Data.ofText(base64) : base64;
  if (!data.valid) throw new CharrnnError(`${where}: the data is not valid base64`);
  if (data.bytes.length !== expectedLength * 4) {
    throw new CharrnnError(
      `${where}: the data holds ${Math.floor(data.bytes.length / 4)} values, its shape says ${expectedLength}`,
    );
  }
  return floatsOf(data.bytes, expectedLength);
}

export function encodeTensor(tensor: Tensor): EncodedTensor {
  return new EncodedTensor(tensor.shape, tensor.data);
}

export function decodeTensor(json: unknown, where: string): Tensor {
  const record = json as { shape?: unknown; data?: unknown } | null;
  if (
    typeof record !== 'object' ||
    record === null ||
    !Array.isArray(record.shape) ||
    !(typeof record.data === 'string' || record.data instanceof Base64Data)
  ) {
    throw new CharrnnError(`${where}: expected {"shape": [...], "data": "<base64>"}`);
  }
  const shape = record.shape as number[];
  if (!shape.every((dim) => Number.isInteger(dim) && dim >= 0 && dim <= 2 ** 31))
    throw new CharrnnError(`${where}: the shape ${JSON.stringify(shape)} is invalid`);
  const length = shape.reduce((size, dim) => size * dim, 1);
  if (length > 2 ** 31) throw new CharrnnError(`${where}: the shape ${JSON.stringify(shape)} is too large`);
  return { shape, data: decodeFloat32(record.data, length, where) };
}
