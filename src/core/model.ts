/**
 * The character model: stacked recurrent layers over one-hot inputs, then a linear decoder to
 * vocabulary logits and a softmax cross-entropy loss.
 *
 * Parameters live in one flat buffer laid out once from the state_dict spec (parameterLayout), with
 * a named view per tensor and per layer. A pass owns everything one forward (and, for a training
 * pass, backward) needs: the buffers named in one table (passBuffers), carved from one allocation.
 * An inference pass holds no backward buffers; a training pass adds them. Parameter gradients are
 * one flat buffer with the parameters' layout, summed over a batch's rows (weight-gradients.ts).
 */
import { parameterLayout, tensorViews, type CellType, type ModelConfig, type ParameterLayout } from './config.js';
import type { Kernels } from './kernels.js';
import { gruBuffers, GruLayer } from './layers/gru.js';
import { Arena, bufferFloats, type BufferSizes, type LayerBuffers } from './layers/buffers.js';
import { TransposedWeight } from './layers/cell-layer.js';
import type { CarriedState, GradientSum, LayerInput, LayerShape, RecurrentLayer } from './layers/layer.js';
import { layerParams, layerTensorName, type LayerParams } from './layers/params.js';
import { lstmBuffers, LstmLayer } from './layers/lstm.js';
import { rnnBuffers, RnnLayer } from './layers/rnn.js';
import type { Rng } from './rng.js';
import { WeightGradients } from './weight-gradients.js';

/** Anything that yields uniform floats in [0, 1): the seeded Rng in training, for dropout masks. */
export interface UniformSource {
  nextFloat(): number;
}

/**
 * 'pytorch': U(−1/√H, 1/√H) for every tensor, as nn.LSTM and nn.Linear do.
 * 'min-char-rnn': N(0, 0.01²) weights, zero biases.
 */
export type InitScheme = 'pytorch' | 'min-char-rnn';

export interface PassOptions {
  /** Training passes allocate gradients and backward buffers; inference passes do not. */
  training: boolean;
  /** The weights never change (a loaded model): per-forward weight preparation happens only once. */
  fixedWeights: boolean;
}

interface CellKind {
  buffers(shape: LayerShape, options: PassOptions): LayerBuffers;
  create(kernels: Kernels, params: LayerParams, shape: LayerShape, arena: Arena, options: PassOptions): RecurrentLayer;
}

const CELLS: Record<CellType, CellKind> = {
  rnn: { buffers: rnnBuffers, create: (...args) => new RnnLayer(...args) },
  lstm: { buffers: lstmBuffers, create: (...args) => new LstmLayer(...args) },
  gru: { buffers: gruBuffers, create: (...args) => new GruLayer(...args) },
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

function layerShape(config: ModelConfig, layer: number, batch: number, seqLength: number): LayerShape {
  const inputSize = layer === 0 ? config.vocab : config.hidden;
  return { batch, seqLength, inputSize, hidden: config.hidden, oneHot: layer === 0 };
}

const hasDropout = (config: ModelConfig): boolean => config.dropout > 0 && config.layers > 1;

/** A training forward's dropout: one random source per stream, and per layer below the top its mask and masked outputs. */
interface Dropout {
  randoms: readonly UniformSource[];
  masks: Float32Array[];
  dropped: Float32Array[];
}

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
    layers: layers.map((layer) => CELLS[config.cell].buffers(layerShape(config, layer, batch, seqLength), options)),
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

export class CharModel {
  readonly layout: ParameterLayout;
  /** Every parameter, tensors in state_dict order at the layout's offsets. */
  readonly parameters: Float32Array;
  /** A view of each tensor of `parameters`, by PyTorch name. */
  readonly tensors: ReadonlyMap<string, Float32Array>;

  /** Allocates the parameters, or adopts `shared` ones (a worker thread's view of the main thread's weights). */
  constructor(
    readonly config: ModelConfig,
    readonly kernels: Kernels,
    shared?: Float32Array,
  ) {
    this.layout = parameterLayout(config);
    this.parameters = shared ?? kernels.alloc(this.layout.size);
    this.tensors = tensorViews(this.parameters, this.layout);
  }

  initialize(random: Pick<Rng, 'nextFloat' | 'normal'>, scheme: InitScheme = 'pytorch'): void {
    const bound = 1 / Math.sqrt(this.config.hidden);
    for (const [name, tensor] of this.tensors) {
      const isBias = name.includes('bias');
      for (let i = 0; i < tensor.length; i++) {
        if (scheme === 'pytorch') tensor[i] = (random.nextFloat() * 2 - 1) * bound;
        else tensor[i] = isBias ? 0 : 0.01 * random.normal();
      }
    }
  }

  /** Copies tensors in (by name; every tensor must be present with its full length). */
  load(tensors: Record<string, Float32Array>): void {
    for (const [name, tensor] of this.tensors) tensor.set(tensors[name]!);
  }

  /**
   * A pass for evaluation and sampling. `fixedWeights`: the weights will not change while it lives;
   * `memory` (passFloats long, in the kernels' memory): lay the pass out there instead of allocating.
   */
  createInferencePass(
    batch: number,
    seqLength: number,
    options: { fixedWeights?: boolean; memory?: Float32Array } = {},
  ): InferencePass {
    const passOptions = { training: false, fixedWeights: options.fixedWeights ?? false };
    return new InferencePass(this, batch, seqLength, passOptions, options.memory);
  }

  /** `memory` (passFloats long, in the kernels' memory): lay the pass out there, e.g. another thread's pass. */
  createTrainingPass(batch: number, seqLength: number, memory?: Float32Array): TrainingPass {
    return new TrainingPass(this, batch, seqLength, memory);
  }
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
    protected readonly model: CharModel,
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
      return CELLS[config.cell].create(kernels, layerParams(model.tensors, layer), shape, this.arena, options);
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
  constructor(model: CharModel, batch: number, seqLength: number, options: PassOptions, memory?: Float32Array) {
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
 * over several passes sums its rows in one order. backward() does both for a pass on its own.
 */
export class TrainingPass extends ModelPass {
  /** Gradient of the loss with respect to the chunk's initial carried state, per layer (after backward). */
  readonly dCarried: CarriedState[];
  private readonly dLogits: Float32Array; // [T*B, V]
  private readonly dropoutMasks: Float32Array[]; // per layer below the top: 0 or 1/(1−p), [T*B, H]
  private readonly droppedOutputs: Float32Array[]; // the masked outputs that feed the next layer
  private dropoutActive = false;
  /** What backward() of this pass alone sums into (allocated on its first call). */
  private own: { gradients: Float32Array; tensors: Map<string, Float32Array>; sums: WeightGradients } | null = null;

  constructor(model: CharModel, batch: number, seqLength: number, memory?: Float32Array) {
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

  /** This pass alone: backwardThroughTime, then every parameter gradient into `gradients`. */
  backward(): void {
    this.backwardThroughTime();
    this.own ??= this.ownGradients();
    this.own.sums.compute(this.dropoutActive);
  }

  /** The parameter gradients of the last backward(), flat with the model's layout. */
  get gradients(): Float32Array {
    return (this.own ?? noGradients()).gradients;
  }

  /** A view of each tensor's gradient from the last backward(), by PyTorch name. */
  get gradientTensors(): ReadonlyMap<string, Float32Array> {
    return (this.own ?? noGradients()).tensors;
  }

  private ownGradients() {
    const { kernels, layout } = this.model;
    const gradients = kernels.alloc(layout.size);
    const sums = new WeightGradients(kernels, layout, gradients, [this], this.seqLength);
    return { gradients, tensors: tensorViews(gradients, layout), sums };
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

function noGradients(): never {
  throw new Error('a training pass has gradients of its own only after backward()');
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
