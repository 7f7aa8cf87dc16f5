/**
 * The one table of what a pass allocates (passBuffers), and its size in floats (passFloats): what the
 * passes carve their buffers from (passes.ts) and what the size checks before training and sampling read.
 *
 * Memory: a pass of B streams by T steps over V characters, H hidden, L layers holds, in floats,
 *   forward:  T·B·V logits, 4·T·B ids and row losses, and per layer the cell's table (for LSTM about
 *             (7T + 2)·B·H states and gates, plus 4H·H of W_hhᵀ), plus the carried state (B·H, twice for LSTM);
 *             with fixed weights (a loaded model) also H·V of decoder.weightᵀ and per layer W_ihᵀ: 4H·V for
 *             the first (LSTM; 3H·V GRU, H·V RNN), 4H·H above it;
 *   backward: (training only) T·B·V dLogits, per layer the cell's gradient buffers (LSTM 5T·B·H + B·H),
 *             the carried state's gradient, and with dropout 2·T·B·H per layer below the top.
 * The logits dominate when V is large, the gates when H is. Each buffer starts 64-byte aligned.
 */
import type { CellType, ModelConfig } from './config.js';
import { gruBuffers } from './layers/gru.js';
import { bufferFloats, type BufferSizes, type LayerBuffers } from './layers/buffers.js';
import type { LayerShape } from './layers/layer.js';
import { lstmBuffers } from './layers/lstm.js';
import { rnnBuffers } from './layers/rnn.js';

export interface PassOptions {
  /** Training passes allocate gradients and backward buffers; inference passes do not. */
  training: boolean;
  /** The weights never change (a loaded model): per-forward weight preparation happens only once. */
  fixedWeights: boolean;
}

const CELL_BUFFERS: Record<CellType, (shape: LayerShape, options: PassOptions) => LayerBuffers> = {
  rnn: rnnBuffers,
  lstm: lstmBuffers,
  gru: gruBuffers,
};

/** Every buffer one pass allocates, in floats: the table the passes allocate from and size checks read. */
export interface PassBuffers {
  /**
   * Input and target ids (int32), the logits, each row's loss (float64), decoder.weightᵀ (with fixed
   * weights only, see weightIhTFloats), and when training dLogits.
   */
  decoder: LayerBuffers<'inputs' | 'targets' | 'logits' | 'rowLosses' | 'weightT', 'dLogits'>;
  /** Each layer's own table (see the cell files). */
  layers: LayerBuffers[];
  /** Per layer: the carried state h and, for LSTM only, c; when training, its gradient as well. */
  carried: LayerBuffers<'h' | 'c', 'h' | 'c'>[];
  /** Training with dropout: per layer below the top, the 0 or 1/(1−p) mask and the masked outputs. */
  dropout: Array<BufferSizes<'mask' | 'dropped'>>;
}

export function layerShape(config: ModelConfig, layer: number, batch: number, seqLength: number): LayerShape {
  const inputSize = layer === 0 ? config.vocab : config.hidden;
  return { batch, seqLength, inputSize, hidden: config.hidden };
}

const hasDropout = (config: ModelConfig): boolean => config.dropout > 0 && config.layers > 1;

/** The table of a pass of `batch` streams by `seqLength` steps (`fixedWeights` as in PassOptions). */
export function passBuffers(
  config: ModelConfig,
  batch: number,
  seqLength: number,
  training: boolean,
  fixedWeights = false,
): PassBuffers {
  const options = { training, fixedWeights };
  const rows = batch * seqLength;
  const state = batch * config.hidden;
  const carriedSizes = { h: state, c: config.cell === 'lstm' ? state : 0 };
  const layers = Array.from({ length: config.layers }, (_, layer) => layer);
  return {
    decoder: {
      forward: {
        inputs: rows,
        targets: rows,
        logits: rows * config.vocab,
        rowLosses: 2 * rows,
        weightT: fixedWeights ? config.hidden * config.vocab : 0,
      },
      backward: training ? { dLogits: rows * config.vocab } : null,
    },
    layers: layers.map((layer) => CELL_BUFFERS[config.cell](layerShape(config, layer, batch, seqLength), options)),
    carried: layers.map(() => ({ forward: carriedSizes, backward: training ? carriedSizes : null })),
    dropout:
      training && hasDropout(config)
        ? layers.slice(1).map(() => ({ mask: rows * config.hidden, dropped: rows * config.hidden }))
        : [],
  };
}

/** Floats (4 bytes each) a pass allocates: what the size check before training compares with its limit. */
export function passFloats(
  config: ModelConfig,
  batch: number,
  seqLength: number,
  training: boolean,
  fixedWeights = false,
): number {
  const table = passBuffers(config, batch, seqLength, training, fixedWeights);
  const both = (buffers: LayerBuffers) =>
    bufferFloats(buffers.forward) + (buffers.backward ? bufferFloats(buffers.backward) : 0);
  const layers = [...table.layers, ...table.carried].reduce((sum, buffers) => sum + both(buffers), 0);
  const dropout = table.dropout.reduce((sum, sizes) => sum + bufferFloats(sizes), 0);
  return both(table.decoder) + layers + dropout;
}
