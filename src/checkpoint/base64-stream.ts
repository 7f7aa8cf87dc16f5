/**
 * Base64 of float32 data a chunk at a time, both ways, so that no string ever holds a whole tensor:
 * Node's strings end near 2^29 characters, a 130M-float tensor's base64.
 */

/** Floats encoded at a time: a multiple of 3, so each chunk's base64 needs no padding (4 MiB of text). */
const CHUNK_FLOATS = 3 * 2 ** 18;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The base64 of `data` as little-endian float32, in pieces whose concatenation is the whole encoding. */
export function* base64Pieces(data: Float32Array): Generator<string> {
  for (let start = 0; start < data.length; start += CHUNK_FLOATS) {
    const chunk = data.subarray(start, start + CHUNK_FLOATS);
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    yield (littleEndian ? bytes : Buffer.from(bytes).swap32()).toString('base64');
  }
}

const withoutPadding = (base64: string): string => {
  let end = base64.length;
  while (end > 0 && base64.length - end < 2 && base64[end - 1] === '=') end--;
  return base64.slice(0, end);
};

/**
 * A whole base64 text by Node's decoder: its bytes when their encoding is the text again (up to padding),
 * else null.
 */
function decodeWhole(text: string): Buffer | null {
  const decoded = Buffer.from(text, 'base64');
  return withoutPadding(decoded.toString('base64')) === withoutPadding(text) ? decoded : null;
}

/** Characters kept for messages that quote the data (a preview shows at most 60). */
const HEAD_CHARS = 64;

/** A JSON string read as base64: its bytes, whether it was valid base64, and its start for messages. */
export class Base64Data {
  constructor(
    readonly bytes: Buffer,
    readonly valid: boolean,
    private readonly head: string,
  ) {}

  /** A string read whole (a checkpoint parsed by JSON.parse): Node's decoder, judged as a streamed one is. */
  static ofText(text: string): Base64Data {
    const decoded = decodeWhole(text);
    return new Base64Data(decoded ?? Buffer.alloc(0), decoded !== null, text.slice(0, HEAD_CHARS));
  }

  /** In a message, a value holding it shows the string's start. */
  toJSON(): string {
    return this.head;
  }
}

/** Each byte's 6 bits in base64, or −1 for a byte outside its alphabet (padding included). */
const SEXTETS = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/** A tail longer than this cannot be valid: at most a quad and two '=' follow the last clean quad. */
const MAX_TAIL = 16;

/**
 * Decodes base64 given as bytes in pieces of any size. Valid exactly when Node's decoder gives bytes
 * whose encoding is the text again (up to two '=' of padding), as the whole-string check said: clean
 * quads are decoded by table as they come (Node's decoder takes ~7 ns a byte from a string; this, ~1),
 * and from the first quad that is not clean (where padding is, in valid data) the rest is kept as a
 * short tail and judged at the end as the whole string was.
 */
export class Base64Decoder {
  private bytes: Buffer;
  private length = 0;
  /** A quad begun at the end of the last piece. */
  private readonly carry = new Uint8Array(4);
  private carried = 0;
  /** From the first quad that is not clean on, as text; null while every quad is clean. */
  private tail: string | null = null;
  private tooLong = false;
  private head = '';
  /** A raw byte below 0x20: not allowed in a JSON string (the caller passes escaped ones as 0x80). */
  sawControl = false;

  /** `expectedBytes`: the room to start with (the tensor's size, where its shape came first). */
  constructor(expectedBytes: number) {
    this.bytes = Buffer.from(new ArrayBuffer(expectedBytes));
  }

  push(text: string): void {
    const bytes = Buffer.from(text, 'latin1');
    this.pushBytes(bytes, 0, bytes.length);
  }

  pushBytes(source: Uint8Array, start: number, end: number): void {
    if (this.head.length < HEAD_CHARS) {
      this.head += Buffer.from(source.buffer, source.byteOffset + start, Math.min(end - start, HEAD_CHARS)).toString(
        'latin1',
      );
      this.head = this.head.slice(0, HEAD_CHARS);
    }
    let at = start;
    if (this.tail === null && this.carried > 0) {
      while (this.carried < 4 && at < end) this.carry[this.carried++] = source[at++]!;
      if (this.carried < 4) return;
      this.carried = 0;
      if (this.decodeQuads(this.carry, 0, 4) < 4) this.toTail(this.carry, 0, 4);
    }
    if (this.tail !== null) {
      this.toTail(source, at, end);
      return;
    }
    const whole = at + Math.floor((end - at) / 4) * 4;
    const clean = this.decodeQuads(source, at, whole);
    if (clean < whole) {
      this.toTail(source, clean, end);
      return;
    }
    this.carry.set(source.subarray(whole, end));
    this.carried = end - whole;
  }

  end(): Base64Data {
    const tail = (this.tail ?? '') + Buffer.from(this.carry.subarray(0, this.carried)).toString('latin1');
    this.checkControl(this.carry, 0, this.carried);
    let valid = !this.tooLong;
    if (valid && tail !== '') {
      const decoded = decodeWhole(tail);
      valid = decoded !== null;
      if (decoded) {
        this.reserve(decoded.length);
        decoded.copy(this.bytes, this.length);
        this.length += decoded.length;
      }
    }
    return new Base64Data(this.bytes.subarray(0, valid ? this.length : 0), valid, this.head);
  }

  /** Decodes clean quads of source[start, end): where the first quad that is not clean starts, or end. */
  private decodeQuads(source: Uint8Array, start: number, end: number): number {
    this.reserve(((end - start) / 4) * 3);
    const out = this.bytes;
    let length = this.length;
    let at = start;
    for (; at < end; at += 4) {
      const a = SEXTETS[source[at]!]!;
      const b = SEXTETS[source[at + 1]!]!;
      const c = SEXTETS[source[at + 2]!]!;
      const d = SEXTETS[source[at + 3]!]!;
      if ((a | b | c | d) < 0) break;
      out[length++] = (a << 2) | (b >> 4);
      out[length++] = ((b & 15) << 4) | (c >> 2);
      out[length++] = ((c & 3) << 6) | d;
    }
    this.length = length;
    return at;
  }

  /** Keeps source[from, to) as (more of) the tail. */
  private toTail(source: Uint8Array, from: number, to: number): void {
    this.checkControl(source, from, to);
    if (this.tooLong) return;
    this.tail =
      (this.tail ?? '') + Buffer.from(source.subarray(from, Math.min(to, from + MAX_TAIL + 1))).toString('latin1');
    if (this.tail.length > MAX_TAIL) {
      this.tooLong = true;
      this.tail = '';
    }
  }

  private checkControl(source: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to && !this.sawControl; i++) if (source[i]! < 0x20) this.sawControl = true;
  }

  private reserve(more: number): void {
    if (this.length + more <= this.bytes.length) return;
    const grown = Buffer.from(new ArrayBuffer(Math.max(this.length + more, 2 * this.bytes.length)));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }
}

/** The floats in `bytes` (little-endian), sharing its memory where it is aligned and exactly that size. */
export function floatsOf(bytes: Buffer, count: number): Float32Array {
  if (!littleEndian) bytes.swap32();
  const exact = bytes.byteOffset % 4 === 0 && bytes.buffer.byteLength === count * 4;
  if (exact) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const values = new Float32Array(count);
  new Uint8Array(values.buffer).set(bytes.subarray(0, count * 4));
  return values;
}
