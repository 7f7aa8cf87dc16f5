/** What every recurrent layer module shares: its parameters, its input, its carried state. */
import type { Kernels } from '../kernels.js';

/** One layer's tensors (or their gradients), PyTorch names weight_ih/weight_hh/bias_ih/bias_hh. */
export interface LayerParams {
  weightIh: Float32Array;
  weightHh: Float32Array;
  biasIh: Float32Array;
  biasHh: Float32Array;
}

/** Layer 0 reads character ids (one-hot, done as a column gather); the others read the layer below. */
export type LayerInput = { ids: Int32Array } | { values: Float32Array };

/** The recurrent state carried between chunks: h (and c for LSTM), each [batch, hidden]. */
export interface LayerState {
  h: Float32Array;
  c?: Float32Array;
}

export interface LayerShape {
  batch: number;
  seqLength: number;
  inputSize: number;
  hidden: number;
}

export interface RecurrentLayer {
  /** h_1..h_T, time-major [T*B, H]. */
  readonly outputs: Float32Array;
  /** Gradient reaching the outputs [T*B, H]; written by whatever consumes the outputs before backward. */
  readonly dOutputs: Float32Array;
  /** Runs T steps from `state` and leaves the final state in it (carried to the next chunk). */
  forward(input: LayerInput, state: LayerState): void;
  /**
   * Backpropagates dOutputs through the T steps of the last forward (dOutputs is consumed). Adds the
   * parameter gradients into `grads`, writes the input gradient into `dInput` (null for layer 0) and
   * the gradient of the chunk's initial state into `dState`.
   */
  backward(input: LayerInput, grads: LayerParams, dInput: Float32Array | null, dState: LayerState): void;
  /** Promises the weights will not change any more (sampling), so per-forward preparation happens once. */
  freezeWeights(): void;
}

/**
 * W_hh transposed to [H, G] at the start of each forward, so every step's recurrent product is a
 * blocked a·b (the cost of one transpose is spread over the T steps).
 */
export class TransposedWeight {
  readonly values: Float32Array;
  private frozen = false;
  private ready = false;

  constructor(private readonly kernels: Kernels, private readonly source: Float32Array, private readonly rows: number, private readonly cols: number) {
    this.values = kernels.alloc(rows * cols);
  }

  refresh(): void {
    if (this.frozen && this.ready) return;
    this.kernels.transpose(this.values, this.source, this.rows, this.cols);
    this.ready = true;
  }

  freeze(): void {
    this.frozen = true;
  }
}

/** x-side pre-activations of all T*B rows at once: out[r,:] += W_ih·x_r (a gather for one-hot x). */
export function projectInput(kernels: Kernels, out: Float32Array, input: LayerInput, weightIh: Float32Array, rows: number, width: number, inputSize: number): void {
  if ('ids' in input) kernels.gatherColumnsAdd(out, weightIh, input.ids, rows, width, inputSize);
  else kernels.matmulABt(out, input.values, weightIh, rows, width, inputSize, true);
}

/** Backward of projectInput over all T*B rows: the W_ih gradient, and the input gradient where there is one. */
export function backpropInput(kernels: Kernels, dPre: Float32Array, input: LayerInput, weightIh: Float32Array, gradWeightIh: Float32Array, dInput: Float32Array | null, rows: number, width: number, inputSize: number): void {
  if ('ids' in input) {
    kernels.scatterColumnsAdd(gradWeightIh, dPre, input.ids, rows, width, inputSize);
    return;
  }
  kernels.matmulAtB(gradWeightIh, dPre, input.values, width, inputSize, rows, true);
  if (dInput) kernels.matmulAB(dInput, dPre, weightIh, rows, inputSize, width, false);
}

/** b_ih + b_hh, for cells where the two biases simply add (rnn, lstm). */
export function sumBiases(out: Float32Array, params: LayerParams): void {
  for (let j = 0; j < out.length; j++) out[j] = params.biasIh[j] + params.biasHh[j];
}

/** Row block `index` of `size` values: one time step's slice of a time-major buffer. */
export function step(buffer: Float32Array, index: number, size: number): Float32Array {
  return buffer.subarray(index * size, (index + 1) * size);
}
