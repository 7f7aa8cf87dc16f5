/**
 * The two passes over a corpus's bytes, whatever holds them: the first checks them and collects the
 * vocabulary, the second writes each character's id.
 */
import { CharrnnError } from '../errors.js';
import { Utf8Decoder } from './utf8.js';
import { idArrayFor, Vocab, type TokenIds } from './vocab.js';

export type Encoding = 'utf8' | 'latin1';
export const ENCODINGS: readonly Encoding[] = ['utf8', 'latin1'];

/** The most characters one corpus can hold: the length limit of one typed array. */
export const MAX_CORPUS_CHARS = 2 ** 32 - 1;

const CODE_POINTS = 0x110000;

export interface DecodedCorpus {
  vocab: Vocab;
  ids: TokenIds;
}

/** Pieces of a corpus's bytes, in order; each piece is a view valid only during its visit. */
export type ByteVisitor = (piece: Uint8Array, offset: number) => void;

/**
 * Pass 1: checks the bytes (a NUL byte anywhere, as a sign of a binary file, is reported before any
 * ill-formed UTF-8), and collects the set of code points and the count of characters.
 */
export class SymbolScan {
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
export type ByteWalk = (visit: ByteVisitor) => void;

/** Both passes over bytes that can be walked twice. */
export function decodeTwice(source: string, encoding: Encoding, walk: ByteWalk): DecodedCorpus {
  const scan = new SymbolScan(source, encoding);
  walk(scan.visit);
  return writeIds(scan, walk);
}

/** Pass 2 after a finished pass 1; `inPlace` lets 1-byte ids overwrite the in-memory bytes they come from. */
export function writeIds(scan: SymbolScan, walk: ByteWalk, inPlace?: Uint8Array): DecodedCorpus {
  const vocab = scan.finish();
  const into = inPlace !== undefined && vocab.size <= 0x100 ? inPlace.subarray(0, scan.chars) : undefined;
  const writer = new IdWriter(scan.source, scan.encoding, vocab, scan.chars, into);
  walk(writer.visit);
  return { vocab, ids: writer.finish() };
}

export function walkMemory(bytes: Uint8Array, chunkBytes: number): ByteWalk {
  return (visit) => {
    for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
      visit(bytes.subarray(offset, offset + chunkBytes), offset);
    }
  };
}

function emptyMessage(source: string): string {
  return source === '-'
    ? 'stdin is empty; pipe a text in, e.g. cat notes.txt | charrnn train -'
    : `${source} is empty; give a text file with something in it`;
}
