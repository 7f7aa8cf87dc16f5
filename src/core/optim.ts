/**
 * Optimizers with PyTorch's update rules (torch.optim, single-tensor path, default hyper-parameters),
 * gradient clipping and char-rnn's learning-rate decay. Parameters and gradients are parallel lists of
 * Float32Arrays; state buffers are allocated once and saved in checkpoints.
 */
import { CharrnnError } from '../errors.js';

export type OptimizerKind = 'sgd' | 'adagrad' | 'rmsprop' | 'adam';

export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['sgd', 'adagrad', 'rmsprop', 'adam'];

export interface OptimizerOptions {
  kind: OptimizerKind;
  /** SGD momentum (PyTorch: buf = momentum·buf + g; the first step takes buf = g). */
  momentum?: number;
}

export interface OptimizerState {
  kind: OptimizerKind;
  /** Steps taken (Adam's bias correction, SGD's first-step momentum). */
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
  private stepCount = 0;
  private readonly buffers: Record<string, Float32Array[]>;

  constructor(private readonly options: OptimizerOptions, sizes: number[]) {
    this.buffers = Object.fromEntries(BUFFER_NAMES[options.kind].map((name) => [name, sizes.map((size) => new Float32Array(size))]));
  }

  static fromState(options: OptimizerOptions, sizes: number[], state: OptimizerState): Optimizer {
    if (state.kind !== options.kind) throw new CharrnnError(`the saved optimizer state is for ${state.kind}, not ${options.kind}`);
    if (!Number.isInteger(state.step) || state.step < 0) throw new CharrnnError(`the saved optimizer step count ${state.step} is invalid`);
    const optimizer = new Optimizer(options, sizes);
    for (const name of BUFFER_NAMES[options.kind]) {
      const saved = state.buffers[name];
      if (!saved || saved.length !== sizes.length || saved.some((buffer, i) => buffer.length !== sizes[i])) {
        throw new CharrnnError(`the saved optimizer state "${name}" does not match the model's parameters`);
      }
      saved.forEach((buffer, i) => optimizer.buffers[name]![i]!.set(buffer));
    }
    optimizer.stepCount = state.step;
    return optimizer;
  }

  state(): OptimizerState {
    return { kind: this.options.kind, step: this.stepCount, buffers: this.buffers };
  }

  step(params: Float32Array[], grads: Float32Array[], learningRate: number): void {
    this.stepCount++;
    for (let i = 0; i < params.length; i++) {
      const param = params[i]!;
      const grad = grads[i]!;
      switch (this.options.kind) {
        case 'sgd':
          sgdUpdate(param, grad, this.buffers.momentum_buffer![i]!, learningRate, this.options.momentum ?? 0, this.stepCount === 1);
          break;
        case 'adagrad':
          adagradUpdate(param, grad, this.buffers.sum![i]!, learningRate);
          break;
        case 'rmsprop':
          rmspropUpdate(param, grad, this.buffers.square_avg![i]!, learningRate);
          break;
        case 'adam':
          adamUpdate(param, grad, this.buffers.exp_avg![i]!, this.buffers.exp_avg_sq![i]!, learningRate, this.stepCount);
          break;
      }
    }
  }
}

function sgdUpdate(param: Float32Array, grad: Float32Array, momentumBuffer: Float32Array, lr: number, momentum: number, firstStep: boolean): void {
  if (momentum === 0) {
    for (let j = 0; j < param.length; j++) param[j] = param[j]! - lr * grad[j]!;
    return;
  }
  for (let j = 0; j < param.length; j++) {
    momentumBuffer[j] = firstStep ? grad[j]! : Math.fround(momentum * momentumBuffer[j]!) + grad[j]!;
    param[j] = param[j]! - lr * momentumBuffer[j]!;
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

function adamUpdate(param: Float32Array, grad: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array, lr: number, step: number): void {
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

/** The L2 norm of all gradients together (in double precision). */
export function globalNorm(grads: Float32Array[]): number {
  let sum = 0;
  for (const grad of grads) for (let j = 0; j < grad.length; j++) sum += grad[j]! * grad[j]!;
  return Math.sqrt(sum);
}

/** PyTorch's clip_grad_norm_: scale every gradient by maxNorm / (norm + 1e-6) when that is below 1. Returns the norm before clipping. */
export function clipGradientsByGlobalNorm(grads: Float32Array[], maxNorm: number): number {
  const norm = globalNorm(grads);
  const coefficient = maxNorm / (norm + 1e-6);
  if (coefficient < 1) for (const grad of grads) for (let j = 0; j < grad.length; j++) grad[j] = grad[j]! * coefficient;
  return norm;
}

/** Clamps every gradient element to [−limit, limit] (min-char-rnn's np.clip). */
export function clipGradientsElementwise(grads: Float32Array[], limit: number): void {
  for (const grad of grads) {
    for (let j = 0; j < grad.length; j++) {
      const g = grad[j]!;
      if (g > limit) grad[j] = limit;
      else if (g < -limit) grad[j] = -limit;
    }
  }
}

/** char-rnn's schedule: the base rate multiplied by `decay` once every `every` whole epochs. */
export function learningRateAt(baseRate: number, epoch: number, decay: number, every: number): number {
  if (decay === 1 || every <= 0) return baseRate;
  return baseRate * decay ** Math.floor(epoch / every);
}
