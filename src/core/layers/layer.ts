/**
 * What every recurrent layer is to the model: its input, the state it carries from chunk to chunk, its
 * shape, what a pass gives it to build, and its forward, backward and gradient sums (RecurrentLayer).
 */
import type { Kernels } from '../kernels.js';
import type { Arena } from './buffers.js';
import type { LayerParams } from './params.js';

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
