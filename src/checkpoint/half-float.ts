/** IEEE 754 half precision (binary16) to and from float32, for the web model file's float16 form. */

/** The half-precision bits nearest the float32 with bits `bits`, ties to even (as a hardware conversion). */
export function halfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) return sign | 0x7e00; // NaN
  // 65520 is halfway from the largest half (65504) to the next power of two: it and above round to infinity.
  if (magnitude >= 0x477ff000) return sign | 0x7c00;
  if (magnitude >= 0x38800000) {
    // A normal half: the exponent rebiased (127 → 15), 23 mantissa bits rounded to 10.
    const truncated = (magnitude - 0x38000000) >>> 13;
    return sign | (truncated + roundingCarry(magnitude & 0x1fff, 0x1000, truncated));
  }
  // 2^-25 (halfway to the smallest subnormal, 2^-24) and below round to zero.
  if (magnitude <= 0x33000000) return sign;
  // A subnormal half: the value in units of 2^-24, rounded.
  const shift = 126 - (magnitude >>> 23);
  const significand = (magnitude & 0x7fffff) | 0x800000;
  const truncated = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  return sign | (truncated + roundingCarry(rest, 1 << (shift - 1), truncated));
}

/** 1 where the bits cut off (`rest`, `half` being exactly halfway) round the kept ones up, ties to even. */
function roundingCarry(rest: number, half: number, kept: number): number {
  return rest > half || (rest === half && (kept & 1) === 1) ? 1 : 0;
}

/** The value of a half-precision number (exact in a float32). */
export function halfValue(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (0x400 + mantissa) * 2 ** (exponent - 25);
}

/** The largest finite half-precision value. */
export const HALF_MAX = 65504;
