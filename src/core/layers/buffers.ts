/**
 * A layer's buffers: tables of floats per named buffer (what a layer allocates), and the Arena that
 * carves one allocation into those named views.
 */
import { alignFloats } from '../config.js';

/** Floats per named buffer: what a layer allocates for forward, and (training only) for backward. */
export type BufferSizes<K extends string = string> = Record<K, number>;

/** The views an Arena hands out for a table of sizes, under the same names. */
export type BufferViews<T> = { [K in keyof T]: Float32Array };

export interface LayerBuffers<F extends string = string, B extends string = string> {
  forward: BufferSizes<F>;
  /** Null for an inference pass: it allocates nothing for backward. */
  backward: BufferSizes<B> | null;
}

/** Floats a set of buffers takes from an Arena (each rounded up to keep the next one aligned). */
export function bufferFloats(sizes: BufferSizes): number {
  return Object.values(sizes).reduce((total, size) => total + alignFloats(size), 0);
}

/**
 * One allocation carved into named views (llm.c's malloc_and_point_activations): a pass reserves
 * all of its memory at once, so running out leaves nothing half allocated behind.
 */
export class Arena {
  private used = 0;

  constructor(private readonly memory: Float32Array) {}

  take(size: number): Float32Array {
    const view = this.memory.subarray(this.used, this.used + size);
    this.claim(size);
    return view;
  }

  takeInt32(size: number): Int32Array {
    const view = new Int32Array(this.memory.buffer, this.memory.byteOffset + this.used * 4, size);
    this.claim(size);
    return view;
  }

  takeAll<T extends BufferSizes>(sizes: T): BufferViews<T> {
    const views = {} as BufferViews<T>;
    for (const name of Object.keys(sizes) as Array<keyof T & string>) views[name] = this.take(sizes[name]);
    return views;
  }

  private claim(size: number): void {
    this.used += alignFloats(size);
    if (this.used > this.memory.length) throw new Error(`arena overrun: ${this.used} of ${this.memory.length} floats`);
  }
}

/** Time step `index` of a time-major buffer whose steps each hold `size` values. */
export function timeSlice(buffer: Float32Array, index: number, size: number): Float32Array {
  return buffer.subarray(index * size, (index + 1) * size);
}

/**
 * Each time step's views, made on first use and kept: a one-step forward (sampling) would otherwise spend
 * more on making subarrays than its kernels take. The views stay valid as long as the buffers they slice.
 */
export class StepViews<Views> {
  private readonly made: Views[] = [];

  constructor(private readonly make: (t: number) => Views) {}

  at(t: number): Views {
    this.made[t] ??= this.make(t);
    return this.made[t];
  }
}
