/**
 * Optimizers with PyTorch's update rules (torch.optim, single-tensor path, default hyper-parameters),
 * gradient clipping and char-rnn's learning-rate decay. Parameters, gradients and the optimizer's
 * state buffers are each one flat buffer with the model's parameter layout, so an update or a clip
 * is a single loop. Checkpoints still hold the state per tensor, in state_dict order.
 */
import { CharrnnError } from '../errors.js';
import type { ParameterLayout } from './config.js';

export type OptimizerKind = 'sgd' | 'adagrad' | 'rmsprop' | 'adam';

/** Every optimizer, for validating options. */
export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['sgd', 'adagrad', 'rmsprop', 'adam'];

export interface OptimizerOptions {
  kind: OptimizerKind;
  /** SGD momentum (PyTorch: buf = momentum·buf + g; the first step takes buf = g). */
  momentum?: number;
}

/** The state as checkpoints hold it: each buffer as one tensor per parameter tensor, in state_dict order. */
export interface OptimizerState {
  kind: OptimizerKind;
  /** Updates taken (PyTorch's `step`: Adam's bias correction, SGD's first-step momentum). */
  step: number;
  buffers: Record<string, Float32Array[]>;
}

/** The state buffers each optimizer keeps, one per parameter tensor (PyTorch's names). */
export const BUFFER_NAMES: Record<OptimizerKind, readonly string[]> = {
  sgd: ['momentum_buffer'],
  adagrad: ['sum'],
  rmsprop: ['square_avg'],
  adam: ['exp_avg', 'exp_avg_sq'],
};

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPS = 1e-8;
const ADAGRAD_EPS = 1e-10;
const RMSPROP_ALPHA = 0.99;
const RMSPROP_EPS = 1e-8;

export class Optimizer {
  private updates = 0;
  /** Flat state buffers by PyTorch name, each with the parameters' layout. */
  private readonly buffers: Record<string, Float32Array>;

  constructor(
    private readonly options: OptimizerOptions,
    private readonly layout: ParameterLayout,
  ) {
    this.buffers = Object.fromEntries(BUFFER_NAMES[options.kind].map((name) => [name, new Float32Array(layout.size)]));
  }

  /** An optimizer continuing from a checkpoint's state (copied in; the saved arrays are not kept). */
  static fromState(options: OptimizerOptions, layout: ParameterLayout, state: OptimizerState): Optimizer {
    if (state.kind !== options.kind) {
      throw new CharrnnError(`the saved optimizer state is for ${state.kind}, not ${options.kind}`);
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new CharrnnError(`the saved optimizer step count ${state.step} is invalid`);
    }
    const optimizer = new Optimizer(options, layout);
    for (const name of BUFFER_NAMES[options.kind]) {
      const saved = state.buffers[name];
      const fits =
        saved?.length === layout.tensors.length &&
        saved.every((tensor, i) => tensor.length === layout.tensors[i]!.size);
      if (!fits) throw new CharrnnError(`the saved optimizer state "${name}" does not match the model's parameters`);
      for (const [i, { offset }] of layout.tensors.entries()) optimizer.buffers[name]!.set(saved[i]!, offset);
    }
    optimizer.updates = state.step;
    return optimizer;
  }

  /** The state for a checkpoint: per-tensor views of the live buffers (encode them before the next update). */
  state(): OptimizerState {
    const perTensor = (flat: Float32Array) =>
      this.layout.tensors.map(({ offset, size }) => flat.subarray(offset, offset + size));
    const buffers = Object.fromEntries(Object.entries(this.buffers).map(([name, flat]) => [name, perTensor(flat)]));
    return { kind: this.options.kind, step: this.updates, buffers };
  }

  /** One update of every parameter from its gradient (both flat, with the layout this optimizer was made for). */
  update(parameters: Float32Array, gradients: Float32Array, learningRate: number): void {
    this.updates++;
    const { buffers, options } = this;
    const firstUpdate = this.updates === 1;
    switch (options.kind) {
      case 'sgd':
        sgdUpdate(parameters, gradients, buffers.momentum_buffer!, learningRate, options.momentum ?? 0, firstUpdate);
        break;
      case 'adagrad':
        adagradUpdate(parameters, gradients, buffers.sum!, learningRate);
        break;
      case 'rmsprop':
        rmspropUpdate(parameters, gradients, buffers.square_avg!, learningRate);
        break;
      case 'adam':
        adamUpdate(parameters, gradients, buffers.exp_avg!, buffers.exp_avg_sq!, learningRate, this.updates);
        break;
    }
  }
}

// The updates round to float32 where PyTorch's float32 tensors do (Math.fround), so they match it bit for bit.

function sgdUpdate(
  param: Float32Array,
  grad: Float32Array,
  buffer: Float32Array,
  lr: number,
  momentum: number,
  firstStep: boolean,
): void {
  if (momentum === 0) {
    for (let j = 0; j < param.length; j++) param[j] = param[j]! - lr * grad[j]!;
    return;
  }
  for (let j = 0; j < param.length; j++) {
    buffer[j] = firstStep ? grad[j]! : Math.fround(momentum * buffer[j]!) + grad[j]!;
    param[j] = param[j]! - lr * buffer[j]!;
  }
}

function adagradUpdate(param: Float32Array, grad: Float32Array, sum: Float32Array, lr: number): void {
  for (let j = 0; j < param.length; j++) {
    const g = grad[j]!;
    sum[j] = sum[j]! + g * g;
    param[j] = param[j]! - lr * (g / Math.fround(Math.fround(Math.sqrt(sum[j]!)) + ADAGRAD_EPS));
  }
}

function rmspropUpdate(param: Float32Array, grad: Float32Array, squareAvg: Float32Array, lr: number): void {
  for (let j = 0; j < param.length; j++) {
    const g = grad[j]!;
    squareAvg[j] = Math.fround(RMSPROP_ALPHA * squareAvg[j]!) + (1 - RMSPROP_ALPHA) * g * g;
    param[j] = param[j]! - lr * (g / Math.fround(Math.fround(Math.sqrt(squareAvg[j]!)) + RMSPROP_EPS));
  }
}

function adamUpdate(
  param: Float32Array,
  grad: Float32Array,
  expAvg: Float32Array,
  expAvgSq: Float32Array,
  lr: number,
  step: number,
): void {
  const stepSize = lr / (1 - ADAM_BETA1 ** step);
  const correction2Sqrt = Math.sqrt(1 - ADAM_BETA2 ** step);
  for (let j = 0; j < param.length; j++) {
    const g = grad[j]!;
    expAvg[j] = Math.fround(ADAM_BETA1 * expAvg[j]!) + (1 - ADAM_BETA1) * g;
    expAvgSq[j] = Math.fround(ADAM_BETA2 * expAvgSq[j]!) + (1 - ADAM_BETA2) * g * g;
    const denom = Math.fround(Math.fround(Math.sqrt(expAvgSq[j]!)) / correction2Sqrt) + ADAM_EPS;
    param[j] = param[j]! - stepSize * (expAvg[j]! / Math.fround(denom));
  }
}

/** The L2 norm of all gradients together, summed in double precision in state_dict order. */
export function globalNorm(gradients: Float32Array): number {
  let sum = 0;
  for (let j = 0; j < gradients.length; j++) sum += gradients[j]! * gradients[j]!;
  return Math.sqrt(sum);
}

/**
 * PyTorch's clip_grad_norm_: scales every gradient by maxNorm / (norm + 1e-6) when that is below 1.
 * Returns the norm before clipping.
 */
export function clipGradientsByGlobalNorm(gradients: Float32Array, maxNorm: number): number {
  const norm = globalNorm(gradients);
  const coefficient = maxNorm / (norm + 1e-6);
  if (coefficient < 1) for (let j = 0; j < gradients.length; j++) gradients[j] = gradients[j]! * coefficient;
  return norm;
}

/** Clamps every gradient element to [−limit, limit] (min-char-rnn's np.clip). */
export function clipGradientsElementwise(gradients: Float32Array, limit: number): void {
  for (let j = 0; j < gradients.length; j++) {
    const g = gradients[j]!;
    if (g > limit) gradients[j] = limit;
    else if (g < -limit) gradients[j] = -limit;
  }
}

/** char-rnn's schedule: the base rate multiplied by `decay` once every `every` whole epochs. */
export function learningRateAt(baseRate: number, epoch: number, decay: number, every: number): number {
  if (decay === 1 || every <= 0) return baseRate;
  return baseRate * decay ** Math.floor(epoch / every);
}
