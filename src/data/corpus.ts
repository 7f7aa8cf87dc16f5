/**
 * Reading a corpus: a file or stdin, decoded in chunks straight from bytes to token ids, as strict UTF-8
 * (or Latin-1 on request), with no string of the whole text. A regular file is read twice (the set of
 * code points, then the ids), so memory holds about one byte per character; a pipe, stdin or a /proc
 * file is read to its end (its size on disk means nothing) and decoded from the bytes in memory.
 */
import { CharrnnError } from '../errors.js';
import { openInput, readChunk, readStreamToEnd } from '../files/read.js';
import {
  decodeTwice,
  SymbolScan,
  walkMemory,
  writeIds,
  type ByteWalk,
  type DecodedCorpus,
  type Encoding,
} from './corpus-passes.js';

export { ENCODINGS, MAX_CORPUS_CHARS, type DecodedCorpus, type Encoding } from './corpus-passes.js';

/** Bytes read and decoded at a time. */
export const CHUNK_BYTES = 1 << 20;

/** The most bytes read from a pipe: the largest Uint8Array. */
const MAX_STREAM_BYTES = 2 ** 32;

/** Decodes a corpus already in memory; `bytes` is left as it is. */
export function decodeCorpusBytes(
  bytes: Uint8Array,
  source: string,
  encoding: Encoding = 'utf8',
  chunkBytes = CHUNK_BYTES,
): DecodedCorpus {
  return decodeTwice(source, encoding, walkMemory(bytes, chunkBytes));
}

/**
 * Reads and decodes the corpus at `path` ('-' for stdin). `chunkBytes` sets the read size (tests make
 * it tiny, to cut multi-byte characters at every possible place).
 */
export function readCorpusIds(path: string, encoding: Encoding = 'utf8', chunkBytes = CHUNK_BYTES): DecodedCorpus {
  const input = openInput(path, (code) =>
    code === 'ENOENT' ? `${path}: no such file; check the path` : `${path}: cannot read it (${code})`,
  );
  try {
    const { fd, stats, stdin } = input;
    if (stats.isDirectory()) {
      const hint = 'to train on many files: cat DIR/*.txt | charrnn train -';
      throw new CharrnnError(`${path} is a directory; give a text file (${hint})`);
    }
    // A regular file that stat calls empty may be a /proc file: only reading tells. Stdin is read from
    // where it stands, once, even when it is a file.
    if (!stdin && stats.isFile() && stats.size > 0) return decodeTwice(path, encoding, walkFile(fd, path, chunkBytes));
    return decodeStream(fd, path, encoding, chunkBytes);
  } finally {
    input.close();
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

/**
 * A pipe, a terminal or a /proc file: read to its end, checked as it arrives (so /dev/zero is binary at
 * once), then decoded with 1-byte ids over the bytes, so memory peaks near the size of the text.
 */
function decodeStream(fd: number, source: string, encoding: Encoding, chunkBytes: number): DecodedCorpus {
  const scan = new SymbolScan(source, encoding);
  const limit = `${MAX_STREAM_BYTES / 2 ** 30} GiB`;
  const { bytes, buffer } = readStreamToEnd(fd, source, {
    chunkBytes,
    maxBytes: MAX_STREAM_BYTES,
    tooLarge: () =>
      `${source} holds more than ${limit}, the most read from a pipe; save it to a file, or train on a part of it`,
    visit: scan.visit,
  });
  const decoded = writeIds(scan, walkMemory(bytes, chunkBytes), bytes);
  if (decoded.ids.buffer === buffer) buffer.resize(decoded.ids.length);
  return decoded;
}
