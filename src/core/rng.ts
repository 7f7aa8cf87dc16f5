/**
 * A seeded, serializable PRNG: xoshiro128** (32-bit integer ops, fast in JS) seeded through
 * splitmix32. Its whole state is four uint32s, saved in checkpoints so a resumed run continues
 * the identical stream.
 */
import { CharrnnError } from '../errors.js';

export interface RngState {
  algorithm: 'xoshiro128**';
  s: [number, number, number, number];
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** `seed` is taken as an unsigned 32-bit integer (non-integers are truncated). */
  constructor(seed: number) {
    let x = Math.trunc(seed) >>> 0;
    const next = (): number => {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  static fromState(state: unknown): Rng {
    const valid =
      typeof state === 'object' &&
      state !== null &&
      (state as RngState).algorithm === 'xoshiro128**' &&
      Array.isArray((state as RngState).s) &&
      (state as RngState).s.length === 4 &&
      (state as RngState).s.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffffffff) &&
      (state as RngState).s.some((word) => word !== 0);
    if (!valid) {
      throw new CharrnnError(
        'the saved random-number state is malformed (expected xoshiro128** with four non-zero-in-all uint32 words)',
      );
    }
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = (state as RngState).s;
    return rng;
  }

  state(): RngState {
    return { algorithm: 'xoshiro128**', s: [this.s0, this.s1, this.s2, this.s3] };
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Standard normal by Box–Muller (two uniforms per value, no cached spare, so the state stays four words). */
  normal(): number {
    const u = 1 - this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.nextFloat());
  }
}
