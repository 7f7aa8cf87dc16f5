/**
 * CellLayer, the scaffolding the three cell classes build on: their buffers taken from the pass's arena,
 * the outputs, W_hh (and for sampling W_ih) transposed, and the input projection all three use.
 */
import type { Kernels } from '../kernels.js';
import type { Arena, BufferSizes, BufferViews } from './buffers.js';
import {
  noBackward,
  type CarriedState,
  type GradientSum,
  type LayerGradientSums,
  type LayerInput,
  type LayerOptions,
  type LayerShape,
  type RecurrentLayer,
} from './layer.js';
import type { LayerParams } from './params.js';

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

/**
 * Floats of W_ihᵀ [inputSize, gates·H] in a cell's table: kept only with fixed weights. Transposed once,
 * it lets one-row products (sampling) read it in place with a·b, where a·bᵀ would transpose W_ih at every
 * call; a·b and a·bᵀ run the same chain per element, so the bits agree. For a one-hot input it is an
 * embedding table: a character's projection is one contiguous row (gatherRowsAdd), not a column strided
 * by the vocabulary, and one add per element either way. Weights that change would need it transposed
 * at every forward, which the gather and a·bᵀ do no slower.
 */
export function weightIhTFloats({ inputSize, hidden }: LayerShape, gates: number, options: LayerOptions) {
  return options.fixedWeights ? inputSize * gates * hidden : 0;
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
  /** [inputSize, gates·H], where the table keeps it (fixed weights); else null. */
  private readonly weightIhT: TransposedWeight | null;
  private readonly fixedWeights: boolean;
  private biasesSummed = false;

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
    this.fixedWeights = fixedWeights;
    this.weightHhT = new TransposedWeight(kernels, params.weightHh, weightHhT, gates * hidden, hidden, fixedWeights);
    this.weightIhT =
      weightIhT.length > 0
        ? new TransposedWeight(kernels, params.weightIh, weightIhT, gates * hidden, inputSize, true)
        : null;
  }

  /**
   * b_ih + b_hh into `out`, for cells where the two biases simply add (rnn, lstm): once with fixed
   * weights, else at every forward.
   */
  protected sumBiases(out: Float32Array): void {
    if (this.biasesSummed) return;
    const { biasIh, biasHh } = this.params;
    for (let j = 0; j < out.length; j++) out[j] = biasIh[j]! + biasHh[j]!;
    this.biasesSummed = this.fixedWeights;
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
    weightIhT?.refresh();
    if ('ids' in input) {
      if (weightIhT) kernels.gatherRowsAdd(out, weightIhT.values, input.ids, rows, width);
      else kernels.gatherColumnsAdd(out, params.weightIh, input.ids, rows, width, inputSize);
    } else if (weightIhT) kernels.matmulAB(out, input.values, weightIhT.values, rows, width, inputSize, true);
    else kernels.matmulABt(out, input.values, params.weightIh, rows, width, inputSize, true);
  }

  /** What W_ih multiplies: the layer's input rows. */
  protected inputRows(input: LayerInput): GradientSum['x'] {
    const { inputSize } = this.shape;
    return 'ids' in input ? { ids: input.ids, columns: inputSize } : { values: input.values, width: inputSize };
  }
}
