/** The vocabulary: the sorted set of Unicode code points of a text, and text ↔ id conversion. */
import { CharrnnError } from '../errors.js';

/** Token ids, in the narrowest type the vocabulary allows (a 200 MB corpus stays about 200 MB). */
export type TokenIds = Uint8Array | Uint16Array | Uint32Array;

const DENSE_LIMIT = 0x10000;

/** An array for `length` ids of a vocabulary of `size` symbols, in the narrowest type that holds them. */
export function idArrayFor(size: number, length: number): TokenIds {
  return size <= 0x100 ? new Uint8Array(length) : size <= 0x10000 ? new Uint16Array(length) : new Uint32Array(length);
}

function isSurrogatePair(text: string, at: number): boolean {
  const high = text.charCodeAt(at);
  const low = text.charCodeAt(at + 1);
  return high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
}

function describe(codePoint: number): string {
  const char = String.fromCodePoint(codePoint);
  return `${JSON.stringify(char)} (U+${codePoint.toString(16).toUpperCase().padStart(4, '0')})`;
}

function unknownCharacter(codePoint: number, position: number): string {
  return `character ${describe(codePoint)} at position ${position} is not in the model's vocabulary`;
}

export class Vocab {
  /** Lookup for code points below U+10000 (id + 1; 0 = absent); a Map for the rest. */
  private readonly dense = new Int32Array(DENSE_LIMIT);
  private readonly astral = new Map<number, number>();

  private constructor(readonly symbols: string[]) {
    symbols.forEach((symbol, id) => {
      const codePoint = symbol.codePointAt(0)!;
      if (codePoint < DENSE_LIMIT) this.dense[codePoint] = id + 1;
      else this.astral.set(codePoint, id);
    });
  }

  get size(): number {
    return this.symbols.length;
  }

  static fromText(text: string): Vocab {
    const seen = new Uint8Array(DENSE_LIMIT);
    const astral = new Set<number>();
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (isSurrogatePair(text, i)) {
        astral.add(text.codePointAt(i)!);
        i++;
      } else seen[unit] = 1;
    }
    const codePoints: number[] = [];
    for (let codePoint = 0; codePoint < DENSE_LIMIT; codePoint++) if (seen[codePoint]) codePoints.push(codePoint);
    codePoints.push(...[...astral].sort((a, b) => a - b));
    return new Vocab(codePoints.map((codePoint) => String.fromCodePoint(codePoint)));
  }

  /** The vocabulary of the code points marked (non-zero) in `seen`, indexed by code point. */
  static fromCodePointSet(seen: Uint8Array): Vocab {
    const symbols: string[] = [];
    for (let codePoint = 0; codePoint < seen.length; codePoint++)
      if (seen[codePoint]) symbols.push(String.fromCodePoint(codePoint));
    return new Vocab(symbols);
  }

  /** A vocabulary as saved in a checkpoint: one code point per symbol, no duplicates. */
  static fromSymbols(symbols: readonly string[], source = 'vocabulary'): Vocab {
    const seen = new Set<string>();
    symbols.forEach((symbol, id) => {
      if (typeof symbol !== 'string' || [...symbol].length !== 1)
        throw new CharrnnError(`${source}: entry ${id} (${JSON.stringify(symbol)}) is not a single character`);
      if (seen.has(symbol)) throw new CharrnnError(`${source}: ${describe(symbol.codePointAt(0)!)} appears twice`);
      seen.add(symbol);
    });
    return new Vocab([...symbols]);
  }

  /** The id of a code point, or −1. */
  idOf(codePoint: number): number {
    return codePoint < DENSE_LIMIT ? this.dense[codePoint]! - 1 : (this.astral.get(codePoint) ?? -1);
  }

  /** Ids of every code point of `text`; an unknown character is an error naming it and its position. */
  encode(text: string, source: string): TokenIds {
    // Sized by UTF-16 units, an upper bound on code points; the narrow type keeps big corpora small.
    const ids = idArrayFor(this.size, text.length);
    let count = 0;
    for (let i = 0; i < text.length; i++) {
      let codePoint = text.charCodeAt(i);
      if (isSurrogatePair(text, i)) {
        codePoint = text.codePointAt(i)!;
        i++;
      }
      const id = this.idOf(codePoint);
      if (id < 0) throw new CharrnnError(`${source}: ${unknownCharacter(codePoint, count)}`);
      ids[count++] = id;
    }
    return count === ids.length ? ids : ids.subarray(0, count);
  }

  /**
   * Ids of another vocabulary's text as ids of this one: the same array when both vocabularies are equal.
   * A character this one lacks is an error naming it and its first position.
   */
  translate(ids: TokenIds, from: Vocab, source: string): TokenIds {
    const same = from.symbols.length === this.size && from.symbols.every((symbol, id) => symbol === this.symbols[id]);
    if (same) return ids;
    const mapped = Int32Array.from(from.symbols, (symbol) => this.idOf(symbol.codePointAt(0)!));
    const translated = idArrayFor(this.size, ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = mapped[ids[i]!]!;
      if (id < 0) throw new CharrnnError(`${source}: ${unknownCharacter(from.symbols[ids[i]!]!.codePointAt(0)!, i)}`);
      translated[i] = id;
    }
    return translated;
  }

  decode(ids: ArrayLike<number>): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) text += this.symbols[ids[i]!]!;
    return text;
  }
}
