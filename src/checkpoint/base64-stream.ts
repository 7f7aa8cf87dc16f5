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

/** Characters kept for messages that quote the data (a preview shows at most 60). */
const HEAD_CHARS = 64;

/** A JSON string read as base64: its bytes, whether it was valid base64, and its start for messages. */
export class Base64Data {
  constructor(
    readonly bytes: Buffer,
    readonly valid: boolean,
    private readonly head: string,
  ) {}

  /** In a message, a value holding it shows the string's start. */
  toJSON(): string {
    return this.head;
  }
}

/**
 * Decodes base64 text given in pieces of any size into bytes. It is valid exactly when Node's decoder
 * gives bytes whose encoding is the text again (up to two '=' of padding), as a whole-string check would
 * say: quads are checked as they come, and the last 4 to 7 characters, where padding may be, at the end.
 */
export class Base64Decoder {
  private pending = '';
  private bytes: Buffer;
  private length = 0;
  private valid = true;
  private head = '';

  get isValid(): boolean {
    return this.valid;
  }

  /** `expectedBytes`: the room to start with (the tensor's size, where its shape came first). */
  constructor(expectedBytes: number) {
    this.bytes = Buffer.from(new ArrayBuffer(expectedBytes));
  }

  push(text: string): void {
    if (this.head.length < HEAD_CHARS) this.head += text.slice(0, HEAD_CHARS - this.head.length);
    if (!this.valid) return;
    const all = this.pending + text;
    if (all.length < 8) {
      this.pending = all;
      return;
    }
    const quads = Math.floor((all.length - 4) / 4) * 4;
    this.decode(all.slice(0, quads), true);
    this.pending = all.slice(quads);
  }

  end(): Base64Data {
    if (this.valid) this.decode(this.pending, false);
    const bytes = this.bytes.subarray(0, this.valid ? this.length : 0);
    return new Base64Data(bytes, this.valid, this.head);
  }

  /** Appends the bytes of `text`: whole quads with no padding, or (at the end) the last characters. */
  private decode(text: string, whole: boolean): void {
    // Valid text gives exactly this many bytes; invalid text may give fewer, never more.
    const most = Math.floor((withoutPadding(text).length * 3) / 4);
    if (this.length + most > this.bytes.length) this.grow(this.length + most);
    const written = this.bytes.write(text, this.length, most, 'base64');
    const again = this.bytes.toString('base64', this.length, this.length + written);
    this.valid = whole ? again === text : withoutPadding(again) === withoutPadding(text);
    this.length += written;
  }

  private grow(needed: number): void {
    const grown = Buffer.from(new ArrayBuffer(Math.max(needed, 2 * this.bytes.length)));
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
