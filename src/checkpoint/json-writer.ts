/**
 * JSON written to a file a piece at a time: JSON.stringify's text for everything but tensors, whose data
 * goes in as base64 a chunk at a time, so no string holds the file or a tensor (Node's strings end near
 * 2^29 characters) and memory for a save stays near the model's own size.
 */
import { writeSync } from 'node:fs';
import { base64Pieces } from './base64-stream.js';
import { EncodedTensor } from './tensor-codec.js';

/** Stands for the n-th tensor in the text of everything else: `"\u0000n"`, which no checkpoint string holds. */
const PLACEHOLDER = /"\\u0000(\d+)"/;

/** The JSON text of `value` (as JSON.stringify writes it) in pieces to write in order. */
export function* jsonPieces(value: unknown): Generator<string> {
  const tensors: EncodedTensor[] = [];
  const text = JSON.stringify(value, (_key, item: unknown) =>
    item instanceof EncodedTensor ? `\u0000${tensors.push(item) - 1}` : item,
  );
  const parts = text.split(PLACEHOLDER);
  yield parts[0]!;
  for (let i = 1; i < parts.length; i += 2) {
    const tensor = tensors[Number(parts[i])];
    if (tensor === undefined || Number(parts[i]) !== (i - 1) / 2) throw new Error('a string looks like a placeholder');
    yield `{"shape":${JSON.stringify(tensor.shape)},"data":"`;
    yield* base64Pieces(tensor.data);
    yield '"}';
    yield parts[i + 1]!;
  }
}

/** Bytes gathered before a write: few system calls for small files, little memory for large ones. */
const WRITE_BYTES = 1 << 22;

/** Writes the pieces to `fd` through one buffer. */
export function writePieces(fd: number, pieces: Iterable<string>): void {
  const buffer = Buffer.allocUnsafe(WRITE_BYTES);
  let used = 0;
  const flush = (bytes: Buffer, length: number): void => {
    for (let written = 0; written < length; ) written += writeSync(fd, bytes, written, length - written);
  };
  for (const piece of pieces) {
    const length = Buffer.byteLength(piece);
    if (used + length > buffer.length) {
      flush(buffer, used);
      used = 0;
    }
    if (length > buffer.length) {
      const bytes = Buffer.from(piece);
      flush(bytes, bytes.length);
    } else used += buffer.write(piece, used);
  }
  flush(buffer, used);
}
