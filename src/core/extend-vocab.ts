/**
 * Growing a trained model's vocabulary for fine-tuning on text with characters it never saw.
 *
 * New symbols are appended, so old ids keep their meaning. Two tensors see the vocabulary:
 * - weight_ih_l0 [G·H, V]: the one-hot input picks a column. Old text never picks a new column, so new
 *   columns may start like any fresh weight (PyTorch's U(−1/√H, 1/√H)) without changing anything old.
 * - decoder.weight [V, H] and decoder.bias [V]: each symbol's logit is W_v·h + b_v. A new row starts at
 *   zero weights and a bias far below every old logit, so the softmax over old symbols is unchanged to
 *   float32 precision and the new symbols start unlikely; their weights learn from the first step on.
 *
 * Every layer's output h lies in [−1, 1] (tanh, o·tanh(c), or a convex mix of those), so an old logit
 * is at least b_v − ‖W_v‖₁; a new bias NEW_SYMBOL_MARGIN below the largest such bound keeps each new
 * symbol's probability under e^−MARGIN times the likeliest old one's, for any input.
 */
import type { ModelConfig } from './config.js';

/** e^−20 ≈ 2·10⁻⁹: below float32's resolution of probabilities near 1. */
const NEW_SYMBOL_MARGIN = 20;

export interface UniformFloats {
  nextFloat(): number;
}

/** Returns the tensors of `config` grown by `added` symbols, and the grown config. Inputs are not modified. */
export function extendVocabulary(
  config: ModelConfig,
  tensors: Readonly<Record<string, Float32Array>>,
  added: number,
  random: UniformFloats,
): { config: ModelConfig; tensors: Record<string, Float32Array> } {
  const { vocab, hidden } = config;
  const grown = vocab + added;
  const out: Record<string, Float32Array> = { ...tensors };

  const inputWeight = tensors.weight_ih_l0!;
  const rows = inputWeight.length / vocab;
  const bound = 1 / Math.sqrt(hidden);
  const widened = new Float32Array(rows * grown);
  for (let row = 0; row < rows; row++) {
    widened.set(inputWeight.subarray(row * vocab, (row + 1) * vocab), row * grown);
    for (let column = vocab; column < grown; column++)
      widened[row * grown + column] = (random.nextFloat() * 2 - 1) * bound;
  }
  out.weight_ih_l0 = widened;

  const decoderWeight = tensors['decoder.weight']!;
  const decoderBias = tensors['decoder.bias']!;
  const weight = new Float32Array(grown * hidden);
  weight.set(decoderWeight);
  const bias = new Float32Array(grown);
  bias.set(decoderBias);
  bias.fill(lowestPossibleLogitBound(decoderWeight, decoderBias, hidden) - NEW_SYMBOL_MARGIN, vocab);
  out['decoder.weight'] = weight;
  out['decoder.bias'] = bias;

  return { config: { ...config, vocab: grown }, tensors: out };
}

/** max over old symbols v of (b_v − ‖W_v‖₁): no input can push every old logit below it. */
function lowestPossibleLogitBound(weight: Float32Array, bias: Float32Array, hidden: number): number {
  let bound = -Infinity;
  for (let v = 0; v < bias.length; v++) {
    let norm = 0;
    for (let j = 0; j < hidden; j++) norm += Math.abs(weight[v * hidden + j]!);
    bound = Math.max(bound, bias[v]! - norm);
  }
  return bound;
}
