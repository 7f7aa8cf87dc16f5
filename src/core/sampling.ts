/** Choosing the next character from logits: temperature, top-k, top-p (nucleus), argmax. */
import { CharrnnError } from '../errors.js';
import type { Rng } from './rng.js';

export interface SamplingOptions {
  /** Divides the logits; 0 means argmax. */
  temperature: number;
  topK?: number;
  topP?: number;
  argmax?: boolean;
}

/** What an option is called where its value came from: the library's own name, or a CLI flag. */
export type OptionNamer<Name extends string> = (option: Name) => string;

/** A usage error (exit code 2) for an option value, as `--temp -1 is invalid: expected …`. */
export function invalidOption(name: string, value: unknown, expected: string): CharrnnError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  const problem = value === undefined ? 'is required' : `${shown} is invalid`;
  return new CharrnnError(`${name} ${problem}: expected ${expected}`, 2);
}

/**
 * Checks temperature, top-k, top-p and argmax; messages name each option as `nameOf` calls it (the
 * library's names by default).
 */
export function validateSamplingOptions(
  options: SamplingOptions,
  nameOf: OptionNamer<keyof SamplingOptions> = (option) => option,
): void {
  const { temperature, topK, topP, argmax } = options;
  if (!(typeof temperature === 'number' && Number.isFinite(temperature) && temperature >= 0)) {
    const expected = 'a number ≥ 0 (0 means always the most likely character)';
    throw invalidOption(nameOf('temperature'), temperature, expected);
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK > 0)) {
    throw invalidOption(nameOf('topK'), topK, 'a whole number ≥ 1');
  }
  if (topP !== undefined && !(typeof topP === 'number' && topP > 0 && topP <= 1)) {
    throw invalidOption(nameOf('topP'), topP, 'a probability in (0, 1]');
  }
  if (argmax !== undefined && typeof argmax !== 'boolean') {
    throw invalidOption(nameOf('argmax'), argmax, 'true or false');
  }
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
