/** Strict UTF-8 (RFC 3629) decoded in pieces of any size, straight into code points. */

const BYTE_ORDER_MARK = 0xfeff;

/**
 * Turns UTF-8 pieces of any size into code points. A sequence cut by a piece's end waits for the next
 * piece; every check is the one a whole-buffer decoder would make, so offsets do not depend on chunking.
 */
export class Utf8Decoder {
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
