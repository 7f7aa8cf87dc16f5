/**
 * The framing of the PyTorch engine's messages, both ways (torch-engine/README.md): a 4-byte little-endian
 * length L, L bytes of UTF-8 JSON (the header), then the raw little-endian bytes of the buffers the header's
 * `buffers` lists ({name, dtype: "f32" | "i32", count}), in that order.
 */

export type FrameBuffer = Float32Array | Int32Array;

export interface Frame {
  header: Record<string, unknown>;
  buffers: Map<string, FrameBuffer>;
}

interface BufferSpec {
  name: string;
  dtype: 'f32' | 'i32';
  count: number;
}

const LENGTH_BYTES = 4;

/** One message as bytes: `buffers` (in their order) listed in the header and appended. */
export function encodeFrame(header: Record<string, unknown>, buffers: Record<string, FrameBuffer> = {}): Buffer {
  const entries = Object.entries(buffers);
  const specs: BufferSpec[] = entries.map(([name, data]) => ({
    name,
    dtype: data instanceof Int32Array ? 'i32' : 'f32',
    count: data.length,
  }));
  const json = Buffer.from(JSON.stringify(entries.length > 0 ? { ...header, buffers: specs } : header), 'utf8');
  const length = Buffer.alloc(LENGTH_BYTES);
  length.writeUInt32LE(json.length);
  // Typed arrays are little-endian on every platform Node runs on.
  const payload = entries.map(([, data]) => Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return Buffer.concat([length, json, ...payload]);
}

/** Cuts a byte stream into frames as its chunks arrive. */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The next frame's header and whole length, once its header has arrived. */
  private header: { fields: Record<string, unknown>; specs: BufferSpec[]; length: number } | null = null;

  /** Takes a chunk; returns the frames it completes. Throws on a header that is not JSON. */
  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (frame === null) return frames;
      frames.push(frame);
    }
  }

  /** The bytes received so far in one buffer (joined at most twice per frame: for its header, then whole). */
  private joined(): Buffer {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
    return this.pending[0]!;
  }

  private next(): Frame | null {
    if (this.header === null) {
      if (this.pendingBytes < LENGTH_BYTES) return null;
      const headerLength = this.joined().readUInt32LE(0);
      if (this.pendingBytes < LENGTH_BYTES + headerLength) return null;
      const text = this.joined().toString('utf8', LENGTH_BYTES, LENGTH_BYTES + headerLength);
      const fields = JSON.parse(text) as Record<string, unknown>;
      const specs = (fields.buffers ?? []) as BufferSpec[];
      const payloadLength = specs.reduce((sum, spec) => sum + spec.count * 4, 0);
      this.header = { fields, specs, length: LENGTH_BYTES + headerLength + payloadLength };
    }
    const { fields, specs, length } = this.header;
    if (this.pendingBytes < length) return null;
    const bytes = this.joined();
    const buffers = new Map<string, FrameBuffer>();
    let offset = length - specs.reduce((sum, spec) => sum + spec.count * 4, 0);
    for (const spec of specs) {
      // Copied out: an aligned buffer of its own, whatever the chunk's offset.
      const data = spec.dtype === 'i32' ? new Int32Array(spec.count) : new Float32Array(spec.count);
      new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + spec.count * 4));
      buffers.set(spec.name, data);
      offset += spec.count * 4;
    }
    const rest = bytes.subarray(length);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    this.header = null;
    return { header: fields, buffers };
  }
}
