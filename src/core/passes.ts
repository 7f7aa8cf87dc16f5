/**
 * The passes: one forward (and, training, backward) over `batch` streams by `seqLength` steps, each
 * layer's forward beside its backward. InferencePass runs forward and the loss (evaluation, sampling);
 * TrainingPass adds backward through time and hands each parameter's gradient to WeightGradients as a
 * sum over its rows (weight-gradients.ts), so a batch split over several passes sums in one order.
 *
 * Memory: a pass holds exactly passFloats(config, batch, seqLength, training, fixedWeights) floats, its
 * buffers carved from one allocation by the table in pass-buffers.ts (or laid out in memory it is
 * given, e.g. another thread's). The weights are the model's, read in place.
 */
import type { CellType, ModelConfig } from './config.js';
import type { Kernels } from './kernels.js';
import { GruLayer } from './layers/gru.js';
import { Arena, type BufferSizes } from './layers/buffers.js';
import { TransposedWeight } from './layers/cell-layer.js';
import type { CarriedState, GradientSum, LayerArguments, LayerInput, RecurrentLayer } from './layers/layer.js';
import { layerParams, layerTensorName, type LayerParams } from './layers/params.js';
import { LstmLayer } from './layers/lstm.js';
import { RnnLayer } from './layers/rnn.js';
import { layerShape, passBuffers, passFloats, type PassBuffers, type PassOptions } from './pass-buffers.js';

/** What a pass reads of its model: the shape, the kernels, and each weight tensor by PyTorch name. */
export interface PassModel {
  readonly config: ModelConfig;
  readonly kernels: Kernels;
  readonly tensors: ReadonlyMap<string, Float32Array>;
}

/** Anything that yields uniform floats in [0, 1): the seeded Rng in training, for dropout masks. */
export interface UniformSource {
  nextFloat(): number;
}

const CELL_LAYERS: Record<CellType, (...args: LayerArguments) => RecurrentLayer> = {
  rnn: (...args) => new RnnLayer(...args),
  lstm: (...args) => new LstmLayer(...args),
  gru: (...args) => new GruLayer(...args),
};

/**
 * A training forward's dropout: one random source per stream, and per layer below the top its mask
 * and masked outputs.
 */
interface Dropout {
  randoms: readonly UniformSource[];
  masks: Float32Array[];
  dropped: Float32Array[];
}

/**
 * What both passes share: `batch` parallel streams of up to `seqLength` steps (truncated BPTT),
 * time-major (row t*batch + b is stream b at step t), the layers, the decoder, the carried state.
 */
abstract class ModelPass {
  /** Input ids [T*B], filled by the caller before forward. */
  readonly inputs: Int32Array;
  /** Target ids [T*B], filled by the caller before the loss. */
  readonly targets: Int32Array;
  /** Decoder outputs [T*B, V]. */
  readonly logits: Float32Array;
  /** Each row's loss (nats) from the last loss() [T*B]. */
  readonly rowLosses: Float64Array;
  /** The carried state per layer: read as the chunk's initial state, left holding the final one. */
  readonly carried: CarriedState[];
  protected readonly layers: RecurrentLayer[];
  /** decoder.weightᵀ [H, V] with fixed weights (the logits as a·b, see weightIhTFloats); else null. */
  private readonly decoderWeightT: TransposedWeight | null;
  protected readonly table: PassBuffers;
  protected readonly arena: Arena;

  protected constructor(
    protected readonly model: PassModel,
    readonly batch: number,
    readonly seqLength: number,
    options: PassOptions,
    memory?: Float32Array,
  ) {
    const { config, kernels } = model;
    const { training, fixedWeights } = options;
    this.table = passBuffers(config, batch, seqLength, training, fixedWeights);
    // One allocation for the whole pass: running out of memory leaves nothing half allocated.
    this.arena = new Arena(memory ?? kernels.alloc(passFloats(config, batch, seqLength, training, fixedWeights)));
    const { forward } = this.table.decoder;
    this.inputs = this.arena.takeInt32(forward.inputs);
    this.targets = this.arena.takeInt32(forward.targets);
    this.logits = this.arena.take(forward.logits);
    const rowLosses = this.arena.take(forward.rowLosses);
    this.rowLosses = new Float64Array(rowLosses.buffer, rowLosses.byteOffset, rowLosses.length / 2);
    const decoderWeight = model.tensors.get('decoder.weight')!;
    this.decoderWeightT = fixedWeights
      ? new TransposedWeight(
          kernels,
          decoderWeight,
          this.arena.take(forward.weightT),
          config.vocab,
          config.hidden,
          true,
        )
      : null;
    this.carried = this.table.carried.map(({ forward: sizes }) => this.takeState(sizes));
    this.layers = Array.from({ length: config.layers }, (_, layer) => {
      const shape = layerShape(config, layer, batch, seqLength);
      return CELL_LAYERS[config.cell](kernels, layerParams(model.tensors, layer), shape, this.arena, options);
    });
  }

  /** Zeroes the carried state (start of an epoch, or a fresh sample). */
  resetCarried(): void {
    for (const state of this.carried) {
      state.h.fill(0);
      state.c?.fill(0);
    }
  }

  protected takeState(sizes: BufferSizes<'h' | 'c'>): CarriedState {
    return { h: this.arena.take(sizes.h), c: sizes.c > 0 ? this.arena.take(sizes.c) : undefined };
  }

  /** Runs `steps` steps of every layer, then the decoder on their rows; with dropout, layer l+1 reads dropped[l]. */
  protected run(steps: number, dropout: Dropout | null): void {
    const { kernels, config } = this.model;
    const rows = this.batch * steps;
    for (let layer = 0; layer < this.layers.length; layer++) {
      this.layers[layer]!.forward(this.layerInput(layer, dropout?.dropped ?? null), this.carried[layer]!, steps);
      if (dropout && layer < this.layers.length - 1) {
        const { masks, dropped, randoms } = dropout;
        const outputs = this.layers[layer]!.outputs;
        applyDropout(outputs, masks[layer]!, dropped[layer]!, config.dropout, randoms, config.hidden);
      }
    }
    const top = this.layers[this.layers.length - 1]!;
    // logits = decoder.weight·h + decoder.bias, every row at once.
    const { tensors } = this.model;
    kernels.broadcastRows(this.logits, tensors.get('decoder.bias')!, rows, config.vocab);
    const { decoderWeightT } = this;
    if (decoderWeightT) {
      decoderWeightT.refresh();
      kernels.matmulAB(this.logits, top.outputs, decoderWeightT.values, rows, config.vocab, config.hidden, true);
    } else {
      const weight = tensors.get('decoder.weight')!;
      kernels.matmulABt(this.logits, top.outputs, weight, rows, config.vocab, config.hidden, true);
    }
  }

  protected layerInput(layer: number, dropped: Float32Array[] | null): LayerInput {
    if (layer === 0) return { ids: this.inputs };
    return { values: dropped ? dropped[layer - 1]! : this.layers[layer - 1]!.outputs };
  }
}

/** Forward only: evaluation and sampling. It holds no backward buffers. */
export class InferencePass extends ModelPass {
  constructor(model: PassModel, batch: number, seqLength: number, options: PassOptions, memory?: Float32Array) {
    super(model, batch, seqLength, options, memory);
  }

  /** Runs the first `steps` steps (all by default) of every stream. */
  forward(steps = this.seqLength): void {
    this.run(steps, null);
  }

  /**
   * Mean cross-entropy (nats) of the first `steps` steps' logits against the targets, each row's in
   * `rowLosses`. Overwrites the logits.
   */
  loss(steps = this.seqLength): number {
    const rows = this.batch * steps;
    // With no dLogits buffer the kernel writes the (unused) gradient over the logits, which it may.
    const { kernels, config } = this.model;
    const { logits, targets, rowLosses } = this;
    return kernels.softmaxCrossEntropy(logits, targets, logits, rows, config.vocab, 1 / rows, rowLosses) / rows;
  }
}

/**
 * Forward, loss and backward over all `seqLength` steps, with dropout when the model has it. Backward
 * runs in two parts: backwardThroughTime, which leaves the gradient at every pre-activation, and the
 * parameter gradients, sums over the rows (gradientSums) that WeightGradients adds up, so a batch split
 * over several passes sums its rows in one order (one pass on its own too: WeightGradients of [pass]).
 */
export class TrainingPass extends ModelPass {
  /** Gradient of the loss with respect to the chunk's initial carried state, per layer (after backward). */
  readonly dCarried: CarriedState[];
  private readonly dLogits: Float32Array; // [T*B, V]
  private readonly dropoutMasks: Float32Array[]; // per layer below the top: 0 or 1/(1−p), [T*B, H]
  private readonly droppedOutputs: Float32Array[]; // the masked outputs that feed the next layer
  private dropoutActive = false;

  constructor(model: PassModel, batch: number, seqLength: number, memory?: Float32Array) {
    super(model, batch, seqLength, { training: true, fixedWeights: false }, memory);
    this.dLogits = this.arena.take(this.table.decoder.backward!.dLogits);
    this.dCarried = this.table.carried.map(({ backward }) => this.takeState(backward!));
    this.dropoutMasks = this.table.dropout.map(({ mask }) => this.arena.take(mask));
    this.droppedOutputs = this.table.dropout.map(({ dropped }) => this.arena.take(dropped));
  }

  /**
   * Runs all layers and the decoder. Dropout applies when the model has it and `dropoutRandoms` gives
   * one source per stream (so a stream's masks do not depend on which pass holds it).
   */
  forward(dropoutRandoms?: readonly UniformSource[]): void {
    this.dropoutActive = dropoutRandoms !== undefined && this.dropoutMasks.length > 0;
    const { droppedOutputs: dropped, dropoutMasks: masks } = this;
    this.run(this.seqLength, this.dropoutActive ? { randoms: dropoutRandoms!, dropped, masks } : null);
  }

  /**
   * Cross-entropy (nats) of the logits against the targets, summed and divided by `normalizer` (default:
   * this pass's rows, the mean), each row's in `rowLosses`; prepares the gradient of that quantity for
   * backward. A pass holding part of a batch passes the whole batch's row count, so the passes'
   * gradients add up to the batch mean's.
   */
  loss(normalizer = this.batch * this.seqLength): number {
    const rows = this.batch * this.seqLength;
    const { kernels, config } = this.model;
    const { logits, targets, dLogits, rowLosses } = this;
    const scale = 1 / normalizer;
    return kernels.softmaxCrossEntropy(logits, targets, dLogits, rows, config.vocab, scale, rowLosses) / normalizer;
  }

  /**
   * From dLogits down through every layer and step: leaves each layer's pre-activation gradients (the
   * `a` of gradientSums) and writes `dCarried`. Call after forward and loss.
   */
  backwardThroughTime(): void {
    const { kernels, config } = this.model;
    const rows = this.batch * this.seqLength;
    const top = this.layers[this.layers.length - 1]!;
    const decoderWeight = this.model.tensors.get('decoder.weight')!;
    // dh (top layer) = dLogits·decoder.weight
    kernels.matmulAB(top.dOutputs, this.dLogits, decoderWeight, rows, config.hidden, config.vocab, false);
    const dropped = this.dropoutActive ? this.droppedOutputs : null;
    for (let layer = this.layers.length - 1; layer >= 0; layer--) {
      const dInput = layer === 0 ? null : this.layers[layer - 1]!.dOutputs;
      this.layers[layer]!.backward(this.layerInput(layer, dropped), dInput, this.dCarried[layer]!);
      // Through dropout: d(outputs) = d(dropped) · mask
      if (dInput && this.dropoutActive) multiplyInPlace(dInput, this.dropoutMasks[layer - 1]!);
    }
  }

  /** Every parameter's gradient as a sum over this pass's rows, by PyTorch name (after backwardThroughTime). */
  gradientSums(withDropout: boolean): Map<string, GradientSum> {
    const { vocab, hidden } = this.model.config;
    const top = this.layers[this.layers.length - 1]!;
    const dropped = withDropout ? this.droppedOutputs : null;
    const sums = new Map<string, GradientSum>([
      // d decoder.weight = Σ dLogitsᵀ·h,  d decoder.bias = Σ dLogits
      ['decoder.weight', { a: this.dLogits, width: vocab, x: { values: top.outputs, width: hidden } }],
      ['decoder.bias', { a: this.dLogits, width: vocab, x: null }],
    ]);
    this.layers.forEach((layer, index) => {
      const layerSums = layer.gradientSums(this.layerInput(index, dropped));
      for (const [key, sum] of Object.entries(layerSums)) {
        sums.set(layerTensorName(key as keyof LayerParams, index), sum);
      }
    });
    return sums;
  }
}

/**
 * Draws the mask (0 with probability p, else 1/(1−p)) and writes the masked outputs. Stream b's values
 * come from randoms[b], step by step, so each stream's masks are its own whatever pass it runs in.
 */
function applyDropout(
  outputs: Float32Array,
  mask: Float32Array,
  dropped: Float32Array,
  p: number,
  randoms: readonly UniformSource[],
  hidden: number,
): void {
  const keepScale = 1 / (1 - p);
  for (let row = 0, i = 0; i < mask.length; row++) {
    // Row r of the time-major [T*B, H] buffers is stream r mod B.
    const random = randoms[row % randoms.length]!;
    for (const end = i + hidden; i < end; i++) {
      mask[i] = random.nextFloat() < p ? 0 : keepScale;
      dropped[i] = outputs[i]! * mask[i]!;
    }
  }
}

function multiplyInPlace(values: Float32Array, factors: Float32Array): void {
  for (let i = 0; i < values.length; i++) values[i] = values[i]! * factors[i]!;
}
