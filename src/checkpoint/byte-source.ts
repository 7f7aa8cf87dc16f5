/**
 * Where a checkpoint's bytes come from, a buffer at a time: a file, a pipe or stdin (bounded by the
 * largest checkpoint there can be, so /dev/zero on stdin ends), or bytes in memory.
 */
import type { Stats } from 'node:fs';
import { CharrnnError } from '../errors.js';
import { readChunk } from '../files/read.js';

/**
 * The most bytes a checkpoint can hold: 250M parameters with two optimizer buffers, and the carried state
 * (at most the 400M floats of one pass), as base64 (4/3 bytes a byte), is 6.1 GB; the rest (vocabulary,
 * history) is small. (Not taken from train/'s limits: checkpoint/ may not import train/.)
 */
const MAX_CHECKPOINT_BYTES = 8 * 2 ** 30;

/** The most a stream is read on after a parse error, looking for its end. */
const DRAIN_BYTES = 1 << 23;

/** How many bytes at the end of the input a parse error looks at. */
const TAIL_BYTES = 64;

export interface ByteSource {
  /** Fills `into` from its start with the next bytes: how many, 0 at the end. */
  read(into: Uint8Array): number;
  /** Bytes not yet read where known (a regular file), so that a shape cannot make a reader over-allocate. */
  remaining(): number | undefined;
  /**
   * Reads on to the end and gives the last bytes as text, to say how a parse failed; undefined for a
   * stream that goes on past DRAIN_BYTES more (`yes |` would otherwise be read to the size limit).
   */
  endText(): string | undefined;
}

/** Reads a file descriptor to its end, refusing more than MAX_CHECKPOINT_BYTES. */
export function descriptorSource(fd: number, stats: Stats, source: string): ByteSource {
  const size = stats.isFile() && stats.size > 0 ? stats.size : undefined;
  const tail = Buffer.alloc(TAIL_BYTES);
  let tailLength = 0;
  let consumed = 0;
  const read = (into: Uint8Array): number => {
    const count = readChunk(fd, into, null, source);
    consumed += count;
    if (consumed > MAX_CHECKPOINT_BYTES) {
      const limit = `${MAX_CHECKPOINT_BYTES / 2 ** 30} GiB`;
      throw new CharrnnError(`${source} holds more than ${limit}, more than any checkpoint; is it the right file?`);
    }
    const last = into.subarray(Math.max(0, count - TAIL_BYTES), count);
    const kept = Math.min(tailLength, TAIL_BYTES - last.length);
    tail.copy(tail, 0, tailLength - kept, tailLength);
    tail.set(last, kept);
    tailLength = kept + last.length;
    return count;
  };
  return {
    read,
    remaining: () => (size === undefined ? undefined : Math.max(0, size - consumed)),
    endText: () => {
      const scratch = new Uint8Array(1 << 20);
      const stop = size === undefined ? consumed + DRAIN_BYTES : Number.POSITIVE_INFINITY;
      while (read(scratch) > 0) if (consumed > stop) return undefined;
      return tail.toString('utf8', 0, tailLength);
    },
  };
}

/** Bytes already in memory. */
export function memorySource(bytes: Uint8Array): ByteSource {
  let at = 0;
  return {
    read: (into) => {
      const count = Math.min(into.length, bytes.length - at);
      into.set(bytes.subarray(at, at + count));
      at += count;
      return count;
    },
    remaining: () => bytes.length - at,
    endText: () => Buffer.from(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES))).toString('utf8'),
  };
}
