/**
 * Reading bytes from a file, a pipe or stdin, for every reader (corpus, checkpoint, log): one read that
 * waits out a non-blocking stdin, reading a stream to its end into one buffer that grows in place, and
 * opening a path ('-' for stdin) with devices refused.
 */
import { constants } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { CharrnnError } from '../errors.js';

/**
 * One read into `into`, at `position` or where the stream stands. A non-blocking stdin (a pipe whose
 * writer is slow, e.g. `ssh host cat … |`) answers EAGAIN while empty: wait 10 ms and read again.
 */
export function readChunk(fd: number, into: Uint8Array, position: number | null, source: string): number {
  for (;;) {
    try {
      return readSync(fd, into, 0, into.length, position);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      else throw new CharrnnError(`${source}: cannot read it (${code ?? String(error)})`);
    }
  }
}

/** ES2024's resizable ArrayBuffer, in Node since 20 (the TypeScript lib here is ES2022). */
interface ResizableArrayBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (
  length: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;

export interface StreamRead {
  /** Bytes read at a time. */
  chunkBytes: number;
  /** The most bytes the stream may hold (at most 2^32): a read that could go past it throws `tooLarge()`. */
  maxBytes: number;
  /** The line to throw when the stream holds more than maxBytes. */
  tooLarge: () => string;
  /** Sees each piece as it arrives (to refuse /dev/zero as binary at once), with its offset. */
  visit?: (piece: Uint8Array, offset: number) => void;
}

/**
 * A pipe, a terminal or a /proc file (whose size on disk means nothing): read to its end into one buffer
 * that grows in place (address space is reserved, memory is used only as it fills), so memory peaks
 * near the size of what was read. Returns the bytes, a view of the buffer, which `resize` may shrink.
 */
export function readStreamToEnd(
  fd: number,
  source: string,
  read: StreamRead,
): { bytes: Uint8Array; buffer: ResizableArrayBuffer } {
  const buffer = new ResizableArrayBuffer(0, { maxByteLength: read.maxBytes });
  let filled = 0;
  for (;;) {
    if (filled + read.chunkBytes > read.maxBytes) throw new CharrnnError(read.tooLarge());
    buffer.resize(filled + read.chunkBytes);
    const count = readChunk(fd, new Uint8Array(buffer, filled, read.chunkBytes), null, source);
    if (count === 0) break;
    read.visit?.(new Uint8Array(buffer, filled, count), filled);
    filled += count;
  }
  buffer.resize(filled);
  return { bytes: new Uint8Array(buffer, 0, filled), buffer };
}

export interface OpenedInput {
  fd: number;
  stats: Stats;
  /** stdin ('-'), which is read from where it stands and never closed. */
  stdin: boolean;
  close(): void;
}

/** What a path is, in words, when it is not something a reader may read from: a directory or a device. */
export function unreadableKind(stats: Stats): string | undefined {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return undefined;
}

/**
 * Opens `path` for reading, or stdin for '-', with what it is (a reader refuses what it cannot read:
 * see unreadableKind). `describe` turns an open error's code into the line to throw.
 */
export function openInput(path: string, describe: (code: string) => string): OpenedInput {
  if (path === '-') return { fd: 0, stats: fstatSync(0), stdin: true, close: () => {} };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new CharrnnError(describe((error as NodeJS.ErrnoException).code ?? String(error)));
  }
  return { fd, stats: fstatSync(fd), stdin: false, close: () => closeSync(fd) };
}

/** Bytes read at a time from a text input. */
const TEXT_CHUNK_BYTES = 1 << 20;

/**
 * The text at `path` ('-' for stdin), read to its end, as UTF-8. A directory or a named device is refused,
 * and so is more than one string can hold (512 MiB), so /dev/zero on stdin ends. Messages start with
 * `label` and the path: `--log run.log: …`.
 */
export function readWholeText(path: string, label: string): string {
  const where = `${label} ${path}`;
  const input = openInput(path, (code) => `${where}: cannot read it (${code})`);
  try {
    const kind = input.stdin ? undefined : unreadableKind(input.stats);
    if (kind) throw new CharrnnError(`${where}: it is ${kind}; give a file`);
    const { bytes } = readStreamToEnd(input.fd, where, {
      chunkBytes: TEXT_CHUNK_BYTES,
      maxBytes: constants.MAX_STRING_LENGTH,
      tooLarge: () => `${where}: it holds more than 512 MiB, more than a text read whole can; is it the right file?`,
    });
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  } finally {
    input.close();
  }
}
