/** Choosing the next character from logits: temperature, top-k, top-p (nucleus), argmax. */
import type { Rng } from './rng.js';

/** The sampling distribution's settings, already checked (the library checks them: sample-options.ts). */
export interface SamplingOptions {
  /** Divides the logits; 0 means argmax. */
  temperature: number;
  topK?: number;
  topP?: number;
  argmax?: boolean;
}

function argmaxIndex(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/**
 * The sampling distribution after temperature, top-k and top-p, written into `out` (double precision).
 * Ties at the top-k / top-p boundary keep the lower index.
 */
export function probabilities(logits: Float32Array, options: SamplingOptions, out: Float64Array): Float64Array {
  const size = logits.length;
  if (options.argmax || options.temperature === 0) {
    out.fill(0, 0, size);
    out[argmaxIndex(logits)] = 1;
    return out;
  }
  let max = -Infinity;
  for (let i = 0; i < size; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < size; i++) {
    out[i] = Math.exp((logits[i]! - max) / options.temperature);
    sum += out[i]!;
  }
  for (let i = 0; i < size; i++) out[i] = out[i]! / sum;
  if ((options.topK !== undefined && options.topK < size) || (options.topP !== undefined && options.topP < 1))
    truncate(out, size, options);
  return out;
}

/** Keeps the top-k and/or nucleus of the distribution and renormalizes. */
function truncate(probs: Float64Array, size: number, options: SamplingOptions): void {
  const order = Array.from({ length: size }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  let keep = Math.min(options.topK ?? size, size);
  if (options.topP !== undefined) {
    let cumulative = 0;
    for (let rank = 0; rank < keep; rank++) {
      cumulative += probs[order[rank]!]!;
      if (cumulative >= options.topP) {
        keep = rank + 1;
        break;
      }
    }
  }
  let kept = 0;
  for (let rank = 0; rank < size; rank++) {
    if (rank < keep) kept += probs[order[rank]!]!;
    else probs[order[rank]!] = 0;
  }
  for (let i = 0; i < size; i++) probs[i] = probs[i]! / kept;
}

/** Draws an index with one rng.nextFloat() (none for argmax). Options are assumed validated. */
export function sampleIndex(
  logits: Float32Array,
  options: SamplingOptions,
  rng: Rng,
  scratch: Float64Array = new Float64Array(logits.length),
): number {
  if (options.argmax || options.temperature === 0) return argmaxIndex(logits);
  const probs = probabilities(logits, options, scratch);
  const draw = rng.nextFloat();
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < logits.length; i++) {
    if (probs[i]! === 0) continue;
    cumulative += probs[i]!;
    last = i;
    if (draw < cumulative) return i;
  }
  return last;
}
