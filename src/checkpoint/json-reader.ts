/**
 * JSON read a buffer at a time into the values JSON.parse would build, except that a string under a
 * "data" key becomes Base64Data, decoded as it arrives: a checkpoint's tensors never pass through one
 * string (Node's end near 2^29 characters, a 33M-parameter checkpoint). Written by hand rather than
 * with a streaming JSON library (stream-json, clarinet): those are asynchronous streams, where reading
 * a checkpoint is synchronous (the library's loading API is), they hand long strings back as string
 * pieces to decode anyway, and the package has no runtime dependencies. About 200 lines, tested against
 * JSON.parse on every hand-edited file the checkpoint tests make.
 */
import { type Base64Data, Base64Decoder } from './base64-stream.js';
import type { ByteSource } from './byte-source.js';

/** The input is not JSON; the caller says how, from the end of the input. */
export class JsonSyntaxError extends Error {}

const BUFFER_BYTES = 1 << 20;
/** Room a tensor's data starts with when its shape did not come first, or comes from a stream. */
const UNKNOWN_DATA_BYTES = 1 << 20;
const STREAM_DATA_BYTES = 1 << 26;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const ESCAPES = new Map(
  Object.entries({ '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }),
);
const OPENED = Symbol('opened');

type Frame = { object: Record<string, unknown>; key: string } | { array: unknown[] };

const isSpace = (byte: number): boolean => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
const isNumberByte = (byte: number): boolean =>
  (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2b || byte === 0x2e || byte === 0x45 || byte === 0x65;

function syntax(): never {
  throw new JsonSyntaxError('not JSON');
}

/**
 * Inputs of known size up to this are parsed whole by JSON.parse, which this reader agrees with (the
 * tests hold them equal): a small checkpoint loads in a fraction of the time this reader's code takes
 * before V8 has compiled it. Past about a megabyte the reader, compiled by then, is the faster (measured:
 * `sample -l 1` of a 53 KB model 188 ms whole against 224 streamed; of a 3.9 MB one, 249 streamed
 * against 306 whole).
 */
const WHOLE_PARSE_BYTES = 1 << 20;

/**
 * Reads one JSON value, the whole input; throws JsonSyntaxError where JSON.parse would throw. A
 * tensor's data comes back as Base64Data when streamed, as a string when parsed whole.
 */
export function readJson(input: ByteSource): unknown {
  const size = input.remaining();
  if (size === undefined || size > WHOLE_PARSE_BYTES) return new JsonReader(input).document();
  // The size the file had when opened: checkpoints are replaced whole (renamed into place), never appended to.
  const bytes = Buffer.allocUnsafe(size);
  let length = 0;
  for (let read = 1; read > 0 && length < size; length += read) read = input.read(bytes.subarray(length));
  try {
    return JSON.parse(bytes.toString('utf8', 0, length));
  } catch {
    return syntax();
  }
}

class JsonReader {
  private readonly buffer: Buffer;
  private pos = 0;
  private end = 0;
  private done = false;

  constructor(private readonly input: ByteSource) {
    // Room for an escape (6 bytes) past what a small input holds.
    this.buffer = Buffer.allocUnsafe(Math.min(BUFFER_BYTES, (input.remaining() ?? BUFFER_BYTES) + 8));
  }

  document(): unknown {
    const stack: Frame[] = [];
    for (;;) {
      let value = this.valueOrOpen(stack);
      if (value === OPENED) continue;
      for (;;) {
        const top = stack.at(-1);
        if (top === undefined) {
          if (this.nextByte() !== -1) syntax();
          return value;
        }
        if ('array' in top) top.array.push(value);
        // As JSON.parse: "__proto__" is a key like any other, not the prototype.
        else if (top.key !== '__proto__') top.object[top.key] = value;
        else
          Object.defineProperty(top.object, top.key, { value, writable: true, enumerable: true, configurable: true });
        const next = this.nextByte();
        this.pos++;
        if (next === 0x2c) {
          if ('object' in top) top.key = this.key();
          break;
        }
        if (next !== ('array' in top ? 0x5d : 0x7d)) syntax();
        stack.pop();
        value = 'array' in top ? top.array : top.object;
      }
    }
  }

  /** A whole value, or OPENED after pushing a non-empty object or array onto the stack. */
  private valueOrOpen(stack: Frame[]): unknown {
    const byte = this.nextByte();
    if (byte === 0x7b || byte === 0x5b) {
      this.pos++;
      const closing = byte === 0x7b ? 0x7d : 0x5d;
      if (this.nextByte() === closing) {
        this.pos++;
        return byte === 0x7b ? {} : [];
      }
      stack.push(byte === 0x7b ? { object: {}, key: this.key() } : { array: [] });
      return OPENED;
    }
    if (byte === QUOTE) {
      const top = stack.at(-1);
      return top !== undefined && 'object' in top && top.key === 'data' ? this.base64(top.object) : this.string();
    }
    if (byte === 0x74) return this.literal('true', true);
    if (byte === 0x66) return this.literal('false', false);
    if (byte === 0x6e) return this.literal('null', null);
    return this.number();
  }

  /** Makes `count` bytes available at pos unless the input ends first. */
  private available(count: number): boolean {
    while (this.end - this.pos < count && !this.done) {
      this.buffer.copy(this.buffer, 0, this.pos, this.end);
      this.end -= this.pos;
      this.pos = 0;
      const read = this.input.read(this.buffer.subarray(this.end));
      if (read === 0) this.done = true;
      this.end += read;
    }
    return this.end - this.pos >= count;
  }

  /** The next byte that is not whitespace (left at pos), or −1 at the end. */
  private nextByte(): number {
    for (;;) {
      if (!this.available(1)) return -1;
      const byte = this.buffer[this.pos]!;
      if (!isSpace(byte)) return byte;
      this.pos++;
    }
  }

  private key(): string {
    if (this.nextByte() !== QUOTE) syntax();
    const key = this.string();
    if (this.nextByte() !== 0x3a) syntax();
    this.pos++;
    return key;
  }

  private literal<T>(word: string, value: T): T {
    if (!this.available(word.length) || this.buffer.toString('latin1', this.pos, this.pos + word.length) !== word)
      syntax();
    this.pos += word.length;
    return value;
  }

  private number(): number {
    let text = '';
    while (this.available(1)) {
      const start = this.pos;
      while (this.pos < this.end && isNumberByte(this.buffer[this.pos]!)) this.pos++;
      text += this.buffer.toString('latin1', start, this.pos);
      if (this.pos < this.end) break;
    }
    if (!NUMBER.test(text)) syntax();
    return Number(text);
  }

  /** A string at pos, as JSON.parse reads it (escapes, control characters refused, UTF-8 as Node decodes it). */
  private string(): string {
    this.pos++;
    const plain = this.plainString();
    if (plain !== undefined) return plain;
    const parts: Buffer[] = [];
    for (;;) {
      if (!this.available(1)) syntax();
      const { buffer, end } = this;
      let at = this.pos;
      while (at < end && buffer[at] !== QUOTE) {
        if (buffer[at] !== BACKSLASH) at++;
        else if (at + 1 < end) at += 2;
        else break;
      }
      parts.push(Buffer.from(buffer.subarray(this.pos, at)));
      this.pos = at;
      if (at < end && buffer[at] === QUOTE) break;
      // A backslash is the last byte here: read on, so that the escape is whole.
      if (at < end && !this.available(2)) syntax();
    }
    this.pos++;
    try {
      return JSON.parse(`"${Buffer.concat(parts).toString('utf8')}"`) as string;
    } catch {
      return syntax();
    }
  }

  /** The common case, read at once: a string wholly in the buffer, of printable ASCII without escapes. */
  private plainString(): string | undefined {
    const { buffer, end } = this;
    for (let at = this.pos; at < end; at++) {
      const byte = buffer[at]!;
      if (byte === QUOTE) {
        const text = buffer.toString('latin1', this.pos, at);
        this.pos = at + 1;
        return text;
      }
      if (byte < 0x20 || byte >= 0x80 || byte === BACKSLASH) return undefined;
    }
    return undefined;
  }

  /** A tensor's data at pos, decoded as base64 as it arrives; a raw control character is a syntax error. */
  private base64(object: Record<string, unknown>): Base64Data {
    this.pos++;
    const decoder = new Base64Decoder(this.dataRoom(object.shape));
    for (;;) {
      if (!this.available(1)) syntax();
      const { buffer, end } = this;
      const here = buffer.subarray(this.pos, end);
      const quote = this.pos + (here.indexOf(QUOTE) + 1 || here.length + 1) - 1;
      const backslash = here.subarray(0, quote - this.pos).indexOf(BACKSLASH);
      const stop = backslash < 0 ? quote : this.pos + backslash;
      decoder.pushBytes(buffer, this.pos, stop);
      this.pos = stop;
      if (stop === end) continue;
      if (stop === quote) break;
      // An escaped character is never base64's, and (unlike a raw one) may be a control character.
      const char = this.escape().charCodeAt(0);
      decoder.push(String.fromCharCode(char < 0x20 || char > 0xff ? 0x80 : char));
    }
    this.pos++;
    const data = decoder.end();
    if (decoder.sawControl) syntax();
    return data;
  }

  /** The character of the escape at pos. */
  private escape(): string {
    if (!this.available(2)) syntax();
    const letter = String.fromCharCode(this.buffer[this.pos + 1]!);
    if (letter === 'u') {
      const hex = this.available(6) ? this.buffer.toString('latin1', this.pos + 2, this.pos + 6) : '';
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) syntax();
      this.pos += 6;
      return String.fromCharCode(Number.parseInt(hex, 16));
    }
    const char = ESCAPES.get(letter) ?? syntax();
    this.pos += 2;
    return char;
  }

  /** Room for a tensor's bytes: what its shape declares, never more than the rest of the input could hold. */
  private dataRoom(shape: unknown): number {
    const remaining = this.input.remaining();
    const most = remaining === undefined ? STREAM_DATA_BYTES : Math.ceil(((remaining + this.end - this.pos) * 3) / 4);
    const dims = Array.isArray(shape) && shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0) ? shape : null;
    const declared = dims === null ? UNKNOWN_DATA_BYTES : dims.reduce((bytes: number, dim: number) => bytes * dim, 4);
    return Math.min(declared, most);
  }
}
