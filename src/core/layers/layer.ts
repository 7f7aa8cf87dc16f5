/**
 * What every recurrent layer shares: its named parameter views, its input, the state it carries from
 * chunk to chunk, the table of buffers it allocates, the input projection all three cells use, and
 * CellLayer, the scaffolding each cell class builds on (its buffers, outputs, transposed W_hh and W_ih).
 */
import { alignFloats } from '../config.js';
import type { Kernels } from '../kernels.js';

/** One layer's tensors (or their gradients): views of PyTorch's weight_ih/weight_hh/bias_ih/bias_hh. */
export interface LayerParams {
  weightIh: Float32Array;
  weightHh: Float32Array;
  biasIh: Float32Array;
  biasHh: Float32Array;
}

/** Layer `layer`'s views out of a name → view map (the model's tensors or a pass's gradients). */
export function layerParams(views: ReadonlyMap<string, Float32Array>, layer: number): LayerParams {
  return {
    weightIh: views.get(layerTensorName('weightIh', layer))!,
    weightHh: views.get(layerTensorName('weightHh', layer))!,
    biasIh: views.get(layerTensorName('biasIh', layer))!,
    biasHh: views.get(layerTensorName('biasHh', layer))!,
  };
}

const PYTORCH_NAMES: Record<keyof LayerParams, string> = {
  weightIh: 'weight_ih',
  weightHh: 'weight_hh',
  biasIh: 'bias_ih',
  biasHh: 'bias_hh',
};

/** The PyTorch name of layer `layer`'s parameter `key`. */
export function layerTensorName(key: keyof LayerParams, layer: number): string {
  return `${PYTORCH_NAMES[key]}_l${layer}`;
}

/** Layer 0 reads character ids (one-hot, done as a column gather); the others read the layer below. */
export type LayerInput = { ids: Int32Array } | { values: Float32Array };

/** The recurrent state carried from chunk to chunk: h (and c for LSTM), each [batch, hidden]. */
export interface CarriedState {
  h: Float32Array;
  c?: Float32Array;
}

export interface LayerShape {
  batch: number;
  /** Time steps the layer's buffers hold; a forward may run fewer. */
  seqLength: number;
  inputSize: number;
  hidden: number;
  /** The input is character ids (layer 0): one-hot over inputSize, read by a column gather. */
  oneHot: boolean;
}

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

/**
 * A parameter's gradient as a sum over the pass's rows r (time-major [T*B]): Σ_r a_rᵀ·x_r for a weight
 * multiplying the rows x (values, or one-hot ids), Σ_r a_r for a bias (x null). `a` [T*B, width] is the
 * gradient reaching what the parameter feeds. The sums run outside the pass (weight-gradients.ts), so
 * that a batch split over several passes still sums its rows in one order.
 */
export interface GradientSum {
  a: Float32Array;
  width: number;
  x: { ids: Int32Array; columns: number } | { values: Float32Array; width: number } | null;
}

/** A layer's gradient sums, one per parameter. */
export type LayerGradientSums = Record<keyof LayerParams, GradientSum>;

export interface RecurrentLayer {
  /** h_1..h_T, time-major [T*B, H]. */
  readonly outputs: Float32Array;
  /** Gradient reaching the outputs [T*B, H], written by whatever consumes them (training passes only). */
  readonly dOutputs: Float32Array;
  /** Runs `steps` time steps from `carried` and leaves the final state in it (carried to the next chunk). */
  forward(input: LayerInput, carried: CarriedState, steps: number): void;
  /**
   * Backpropagates dOutputs through all T steps of the last forward (dOutputs is consumed), as far as the
   * pre-activations: writes the input gradient into `dInput` (null for layer 0) and the gradient of the
   * chunk's initial state into `dCarried`. The parameter gradients are the sums `gradientSums` names.
   */
  backward(input: LayerInput, dInput: Float32Array | null, dCarried: CarriedState): void;
  /** After backward: each parameter's gradient as a sum over the rows (`input` as given to backward). */
  gradientSums(input: LayerInput): LayerGradientSums;
}

/** The error a layer of an inference pass gives when asked for backward buffers it never allocated. */
export function noBackward(): never {
  throw new Error('backward buffers exist only in a training pass (model.createTrainingPass)');
}

/**
 * A weight [rows, cols] transposed to [cols, rows] so its products are a·b. W_hh before each forward:
 * every step's recurrent product is then a blocked a·b (one transpose spread over the T steps). With
 * fixed weights (a loaded model, which never changes) the transpose happens once; otherwise at every
 * forward, so it always reflects the current weights.
 */
export class TransposedWeight {
  private ready = false;

  constructor(
    private readonly kernels: Kernels,
    private readonly source: Float32Array,
    readonly values: Float32Array,
    private readonly rows: number,
    private readonly cols: number,
    private readonly fixed: boolean,
  ) {}

  refresh(): void {
    if (this.fixed && this.ready) return;
    this.kernels.transpose(this.values, this.source, this.rows, this.cols);
    this.ready = true;
  }
}

/** How a pass builds its layers: training passes allocate backward buffers; fixed weights are prepared once. */
export interface LayerOptions {
  training: boolean;
  fixedWeights: boolean;
}

/** What a pass gives each layer it builds (every cell class's constructor takes these). */
export type LayerArguments = [
  kernels: Kernels,
  params: LayerParams,
  shape: LayerShape,
  arena: Arena,
  options: LayerOptions,
];

/**
 * Floats of W_ihᵀ [inputSize, gates·H] in a cell's table: kept only with fixed weights and an input of
 * values. Transposed once, it lets one-row products (sampling) read it in place with a·b, where a·bᵀ
 * would transpose W_ih at every call; a·b and a·bᵀ run the same chain per element, so the bits agree.
 * Weights that change would need it transposed at every forward, which a·bᵀ does no slower.
 */
export function weightIhTFloats({ inputSize, hidden, oneHot }: LayerShape, gates: number, options: LayerOptions) {
  return options.fixedWeights && !oneHot ? inputSize * gates * hidden : 0;
}

/**
 * The buffers every cell's table names: h_0..h_T (the outputs), W_hhᵀ, W_ihᵀ (empty unless
 * weightIhTFloats keeps it), and when training the outputs' gradient.
 */
export interface CellBuffers {
  forward: BufferSizes<'hiddens' | 'weightHhT' | 'weightIhT'>;
  backward: BufferSizes<'dOutputs'> | null;
}

/**
 * What the three cell classes share: the buffers their table names, taken from the pass's arena, the
 * outputs h_1..h_T, dOutputs, and W_hh transposed. A cell adds its forward and backward.
 */
export abstract class CellLayer<Table extends CellBuffers> implements RecurrentLayer {
  /** h_1..h_T, time-major [T*B, H]. */
  readonly outputs: Float32Array;
  protected readonly forwardBuffers: BufferViews<Table['forward']>;
  /** Null for an inference pass. */
  protected readonly backwardBuffers: BufferViews<NonNullable<Table['backward']>> | null;
  /** [H, gates·H] */
  protected readonly weightHhT: TransposedWeight;
  /** [inputSize, gates·H], where the table keeps it (fixed weights, input of values); else null. */
  private readonly weightIhT: TransposedWeight | null;

  /** `cellBuffers` is the cell's buffer table; `gates` how many H-row blocks W_hh stacks (1 rnn, 4 lstm, 3 gru). */
  protected constructor(
    cellBuffers: (shape: LayerShape, options: LayerOptions) => Table,
    gates: number,
    protected readonly kernels: Kernels,
    protected readonly params: LayerParams,
    protected readonly shape: LayerShape,
    arena: Arena,
    options: LayerOptions,
  ) {
    const sizes = cellBuffers(shape, options);
    this.forwardBuffers = arena.takeAll(sizes.forward);
    this.backwardBuffers = sizes.backward && arena.takeAll(sizes.backward);
    const { hiddens, weightHhT, weightIhT } = this.forwardBuffers;
    const { batch, inputSize, hidden } = shape;
    this.outputs = hiddens.subarray(batch * hidden);
    const { fixedWeights } = options;
    this.weightHhT = new TransposedWeight(kernels, params.weightHh, weightHhT, gates * hidden, hidden, fixedWeights);
    this.weightIhT =
      weightIhT.length > 0
        ? new TransposedWeight(kernels, params.weightIh, weightIhT, gates * hidden, inputSize, true)
        : null;
  }

  /** Gradient reaching the outputs [T*B, H] (training passes only). */
  get dOutputs(): Float32Array {
    return this.backwardBuffers?.dOutputs ?? noBackward();
  }

  abstract forward(input: LayerInput, carried: CarriedState, steps: number): void;

  abstract backward(input: LayerInput, dInput: Float32Array | null, dCarried: CarriedState): void;

  abstract gradientSums(input: LayerInput): LayerGradientSums;

  /** h_0..h_{T-1}: what W_hh multiplies at each step, [T*B, H]. */
  protected previousHiddens(): GradientSum['x'] {
    const { batch, seqLength, hidden } = this.shape;
    return { values: this.forwardBuffers.hiddens.subarray(0, seqLength * batch * hidden), width: hidden };
  }

  /** x-side pre-activations [rows, width] at once: out[r,:] += W_ih·x_r (a gather for one-hot x). */
  protected projectInput(out: Float32Array, input: LayerInput, rows: number, width: number): void {
    const { kernels, params, weightIhT } = this;
    const { inputSize } = this.shape;
    if ('ids' in input) kernels.gatherColumnsAdd(out, params.weightIh, input.ids, rows, width, inputSize);
    else if (weightIhT) {
      weightIhT.refresh();
      kernels.matmulAB(out, input.values, weightIhT.values, rows, width, inputSize, true);
    } else kernels.matmulABt(out, input.values, params.weightIh, rows, width, inputSize, true);
  }

  /** What W_ih multiplies: the layer's input rows. */
  protected inputRows(input: LayerInput): GradientSum['x'] {
    const { inputSize } = this.shape;
    return 'ids' in input ? { ids: input.ids, columns: inputSize } : { values: input.values, width: inputSize };
  }
}

/** b_ih + b_hh, for cells where the two biases simply add (rnn, lstm). */
export function sumBiases(out: Float32Array, params: LayerParams): void {
  for (let j = 0; j < out.length; j++) out[j] = params.biasIh[j]! + params.biasHh[j]!;
}

/** Time step `index` of a time-major buffer whose steps each hold `size` values. */
export function timeSlice(buffer: Float32Array, index: number, size: number): Float32Array {
  return buffer.subarray(index * size, (index + 1) * size);
}
