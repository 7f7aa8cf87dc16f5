/**
 * Reading a corpus: a file or stdin, decoded in chunks straight from bytes to token ids, as strict UTF-8
 * (or Latin-1 on request), with no string of the whole text. A regular file is read twice (the set of
 * code points, then the ids), so memory holds about one byte per character; a pipe, stdin or a /proc
 * file is read to its end (its size on disk means nothing) and decoded from the bytes in memory.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CharrnnError } from '../errors.js';
import { idArrayFor, Vocab, type TokenIds } from './vocab.js';

export type Encoding = 'utf8' | 'latin1';
export const ENCODINGS: readonly Encoding[] = ['utf8', 'latin1'];

/** Bytes read and decoded at a time. */
export const CHUNK_BYTES = 1 << 20;

/** The most characters one corpus can hold: the length limit of one typed array. */
export const MAX_CORPUS_CHARS = 2 ** 32 - 1;

const CODE_POINTS = 0x110000;
const BYTE_ORDER_MARK = 0xfeff;

export interface DecodedCorpus {
  vocab: Vocab;
  ids: TokenIds;
}

/**
 * Turns UTF-8 pieces of any size into code points. A sequence cut by a piece's end waits for the next
 * piece; every check is the one a whole-buffer decoder would make, so offsets do not depend on chunking.
 */
class Utf8Decoder {
  private work: Uint8Array = new Uint8Array(0);
  private codePoints: Uint32Array = new Uint32Array(0);
  private carried = 0;
  /** Offset in the stream of work[0]. */
  private offset = 0;
  private first = true;
  /** Where the first ill-formed sequence starts, and its first byte; −1 while the stream is well-formed. */
  invalidAt = -1;
  invalidByte = 0;

  /** The code points completed by this piece (a view valid until the next call); stops at an error. */
  push(piece: Uint8Array): Uint32Array {
    const length = this.carried + piece.length;
    if (this.work.length < length) this.work = growCopy(this.work, this.carried, length);
    this.work.set(piece, this.carried);
    return this.decode(completeLength(this.work, length), length);
  }

  /** Ends the stream: a sequence still waiting is ill-formed, since nothing completes it. */
  end(): Uint32Array {
    return this.decode(this.carried, this.carried);
  }

  private decode(complete: number, length: number): Uint32Array {
    if (this.codePoints.length < complete) this.codePoints = new Uint32Array(complete);
    const count = decodeUtf8(this.work, complete, this.codePoints);
    if (count < 0) {
      const at = -count - 1;
      this.invalidAt = this.offset + at;
      this.invalidByte = this.work[at]!;
      return this.codePoints.subarray(0, 0);
    }
    let begin = 0;
    if (this.first && count > 0) {
      this.first = false;
      if (this.codePoints[0] === BYTE_ORDER_MARK) begin = 1;
    }
    this.work.copyWithin(0, complete, length);
    this.carried = length - complete;
    this.offset += complete;
    return this.codePoints.subarray(begin, count);
  }
}

function growCopy(old: Uint8Array, keep: number, size: number): Uint8Array {
  const grown = new Uint8Array(size);
  grown.set(old.subarray(0, keep));
  return grown;
}

/** The length of `bytes[0, length)` without a multi-byte sequence its end cuts short. */
function completeLength(bytes: Uint8Array, length: number): number {
  for (let back = 1; back <= 3 && back <= length; back++) {
    const byte = bytes[length - back]!;
    if (byte < 0x80) return length;
    if (byte >= 0xc0) {
      const sequenceLength = byte >= 0xf8 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return back < sequenceLength ? length - back : length;
    }
  }
  return length;
}

/**
 * Decodes well-formed UTF-8 (RFC 3629) in bytes[0, end) into `out`: the count of code points, or
 * −(offset + 1) of the first ill-formed sequence. Like Python's decoder, the offset is where the bad
 * sequence starts: in Latin-1 "café" that is the é.
 */
function decodeUtf8(bytes: Uint8Array, end: number, out: Uint32Array): number {
  let count = 0;
  let i = 0;
  while (i < end) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      out[count++] = lead;
      i++;
      continue;
    }
    let needed: number;
    let min = 0x80;
    let max = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) needed = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      needed = 2;
      if (lead === 0xe0)
        min = 0xa0; // no overlongs
      else if (lead === 0xed) max = 0x9f; // no surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      needed = 3;
      if (lead === 0xf0) min = 0x90;
      else if (lead === 0xf4) max = 0x8f; // ≤ U+10FFFF
    } else return -i - 1;
    if (i + needed >= end) return -i - 1;
    const second = bytes[i + 1]!;
    if (second < min || second > max) return -i - 1;
    let codePoint = (lead & (0x3f >> needed)) * 64 + (second & 0x3f);
    for (let k = 2; k <= needed; k++) {
      const next = bytes[i + k]!;
      if (next < 0x80 || next > 0xbf) return -i - 1;
      codePoint = codePoint * 64 + (next & 0x3f);
    }
    out[count++] = codePoint;
    i += needed + 1;
  }
  return count;
}

/** Pieces of a corpus's bytes, in order; each piece is a view valid only during its visit. */
type ByteVisitor = (piece: Uint8Array, offset: number) => void;

/**
 * Pass 1: checks the bytes (a NUL byte anywhere, as a sign of a binary file, is reported before any
 * ill-formed UTF-8), and collects the set of code points and the count of characters.
 */
class SymbolScan {
  private readonly seen = new Uint8Array(CODE_POINTS);
  private readonly decoder: Utf8Decoder | null;
  private bytes = 0;
  chars = 0;

  constructor(
    readonly source: string,
    readonly encoding: Encoding,
  ) {
    this.decoder = encoding === 'utf8' ? new Utf8Decoder() : null;
  }

  readonly visit: ByteVisitor = (piece, offset) => {
    this.bytes += piece.length;
    const decoder = this.decoder;
    if (decoder === null) return this.count(piece);
    const nul = piece.indexOf(0);
    if (nul >= 0) {
      const where = `a NUL byte at offset ${offset + nul}`;
      throw new CharrnnError(`${this.source} looks like a binary file (${where}); give a text file`);
    }
    if (decoder.invalidAt < 0) this.count(decoder.push(piece));
  };

  private count(codePoints: Uint8Array | Uint32Array): void {
    const seen = this.seen;
    for (let i = 0; i < codePoints.length; i++) seen[codePoints[i]!] = 1;
    this.chars += codePoints.length;
    if (this.chars > MAX_CORPUS_CHARS) {
      const limit = MAX_CORPUS_CHARS.toLocaleString('en-US');
      throw new CharrnnError(
        `${this.source} has more than ${limit} characters, the most one corpus can hold; train on a part of it`,
      );
    }
  }

  /** The vocabulary, once every piece has been visited. */
  finish(): Vocab {
    const decoder = this.decoder;
    if (decoder !== null && decoder.invalidAt < 0) this.count(decoder.end());
    if (decoder !== null && decoder.invalidAt >= 0) {
      const byte = decoder.invalidByte.toString(16).padStart(2, '0');
      throw new CharrnnError(
        `${this.source}: invalid UTF-8 at byte offset ${decoder.invalidAt} (0x${byte}); ` +
          'convert it to UTF-8, or pass --encoding latin1 to read every byte as one character',
      );
    }
    if (this.bytes === 0) throw new CharrnnError(emptyMessage(this.source));
    if (this.chars === 0) {
      throw new CharrnnError(`${this.source} holds only a byte-order mark; give a text file with something in it`);
    }
    return Vocab.fromCodePointSet(this.seen);
  }
}

/**
 * Pass 2: writes each character's id, into `into` when given (1-byte ids may overwrite the very bytes
 * they come from: an id never lands past the bytes already decoded). The bytes were checked in pass 1;
 * a mismatch means they changed in between.
 */
class IdWriter {
  private readonly idOf = new Int32Array(CODE_POINTS).fill(-1);
  private readonly decoder: Utf8Decoder | null;
  private written = 0;
  readonly ids: TokenIds;

  constructor(
    private readonly source: string,
    encoding: Encoding,
    vocab: Vocab,
    chars: number,
    into?: Uint8Array,
  ) {
    for (const [id, symbol] of vocab.symbols.entries()) this.idOf[symbol.codePointAt(0)!] = id;
    this.decoder = encoding === 'utf8' ? new Utf8Decoder() : null;
    this.ids = into ?? idArrayFor(vocab.size, chars);
  }

  readonly visit: ByteVisitor = (piece) => {
    this.write(this.decoder === null ? piece : this.decoder.push(piece));
  };

  private write(codePoints: Uint8Array | Uint32Array): void {
    const { ids, idOf } = this;
    if (this.decoder !== null && this.decoder.invalidAt >= 0) this.changed();
    if (this.written + codePoints.length > ids.length) this.changed();
    let at = this.written;
    for (let i = 0; i < codePoints.length; i++) {
      const id = idOf[codePoints[i]!]!;
      if (id < 0) this.changed();
      ids[at++] = id;
    }
    this.written = at;
  }

  finish(): TokenIds {
    if (this.decoder !== null) this.write(this.decoder.end());
    if (this.written !== this.ids.length) this.changed();
    return this.ids;
  }

  private changed(): never {
    throw new CharrnnError(`${this.source} changed while it was being read; try again once nothing writes to it`);
  }
}

/** Visits every piece of the bytes, in order, from the start. */
type ByteWalk = (visit: ByteVisitor) => void;

/** Both passes over bytes that can be walked twice. */
function decodeTwice(source: string, encoding: Encoding, walk: ByteWalk): DecodedCorpus {
  const scan = new SymbolScan(source, encoding);
  walk(scan.visit);
  return writeIds(scan, walk);
}

/** Pass 2 after a finished pass 1; `inPlace` lets 1-byte ids overwrite the in-memory bytes they come from. */
function writeIds(scan: SymbolScan, walk: ByteWalk, inPlace?: Uint8Array): DecodedCorpus {
  const vocab = scan.finish();
  const into = inPlace !== undefined && vocab.size <= 0x100 ? inPlace.subarray(0, scan.chars) : undefined;
  const writer = new IdWriter(scan.source, scan.encoding, vocab, scan.chars, into);
  walk(writer.visit);
  return { vocab, ids: writer.finish() };
}

function walkMemory(bytes: Uint8Array, chunkBytes: number): ByteWalk {
  return (visit) => {
    for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
      visit(bytes.subarray(offset, offset + chunkBytes), offset);
    }
  };
}

/** Decodes a corpus already in memory; `bytes` is left as it is. */
export function decodeCorpusBytes(
  bytes: Uint8Array,
  source: string,
  encoding: Encoding = 'utf8',
  chunkBytes = CHUNK_BYTES,
): DecodedCorpus {
  return decodeTwice(source, encoding, walkMemory(bytes, chunkBytes));
}

function emptyMessage(source: string): string {
  return source === '-'
    ? 'stdin is empty; pipe a text in, e.g. cat notes.txt | charrnn train -'
    : `${source} is empty; give a text file with something in it`;
}

/**
 * Reads and decodes the corpus at `path` ('-' for stdin). `chunkBytes` sets the read size (tests make
 * it tiny, to cut multi-byte characters at every possible place).
 */
export function readCorpusIds(path: string, encoding: Encoding = 'utf8', chunkBytes = CHUNK_BYTES): DecodedCorpus {
  const stdin = path === '-';
  const fd = stdin ? 0 : openCorpus(path);
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) {
      const hint = 'to train on many files: cat DIR/*.txt | charrnn train -';
      throw new CharrnnError(`${path} is a directory; give a text file (${hint})`);
    }
    // A regular file that stat calls empty may be a /proc file: only reading tells. Stdin is read from
    // where it stands, once, even when it is a file.
    if (!stdin && stats.isFile() && stats.size > 0) return decodeTwice(path, encoding, walkFile(fd, path, chunkBytes));
    return decodeStream(fd, path, encoding, chunkBytes);
  } finally {
    if (!stdin) closeSync(fd);
  }
}

function openCorpus(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CharrnnError(`${path}: no such file; check the path`);
    throw new CharrnnError(`${path}: cannot read it (${code ?? String(error)})`);
  }
}

/** A regular file, chunk by chunk from its start, until a read returns nothing. */
function walkFile(fd: number, source: string, chunkBytes: number): ByteWalk {
  const buffer = new Uint8Array(chunkBytes);
  return (visit) => {
    for (let offset = 0; ; ) {
      const count = readChunk(fd, buffer, offset, source);
      if (count === 0) return;
      visit(buffer.subarray(0, count), offset);
      offset += count;
    }
  };
}

/** ES2024's resizable ArrayBuffer, in Node since 20 (the TypeScript lib here is ES2022). */
interface ResizableArrayBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (
  length: number,
  options: { maxByteLength: number },
) => ResizableArrayBuffer;

/** The most bytes read from a pipe: the largest Uint8Array. */
const MAX_STREAM_BYTES = 2 ** 32;

/**
 * A pipe, a terminal or a /proc file: read to its end into one buffer that grows in place (address
 * space is reserved, memory is used only as it fills), checked as it arrives (so /dev/zero is binary at
 * once), then decoded with 1-byte ids over the bytes, so memory peaks near the size of the text.
 */
function decodeStream(fd: number, source: string, encoding: Encoding, chunkBytes: number): DecodedCorpus {
  const buffer = new ResizableArrayBuffer(0, { maxByteLength: MAX_STREAM_BYTES });
  const scan = new SymbolScan(source, encoding);
  let filled = 0;
  for (;;) {
    if (filled + chunkBytes > MAX_STREAM_BYTES) {
      const limit = `${MAX_STREAM_BYTES / 2 ** 30} GiB`;
      throw new CharrnnError(
        `${source} holds more than ${limit}, the most read from a pipe; save it to a file, or train on a part of it`,
      );
    }
    buffer.resize(filled + chunkBytes);
    const count = readChunk(fd, new Uint8Array(buffer, filled, chunkBytes), null, source);
    if (count === 0) break;
    scan.visit(new Uint8Array(buffer, filled, count), filled);
    filled += count;
  }
  buffer.resize(filled);
  const bytes = new Uint8Array(buffer, 0, filled);
  const decoded = writeIds(scan, walkMemory(bytes, chunkBytes), bytes);
  if (decoded.ids.buffer === buffer) buffer.resize(decoded.ids.length);
  return decoded;
}

/** One read into `into`, at `position` or where the stream stands; a non-blocking stdin is waited for. */
function readChunk(fd: number, into: Uint8Array, position: number | null, source: string): number {
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
