/**
 * Vanilla tanh RNN layer (PyTorch nn.RNN), forward and hand-written backward on one page, with the
 * plain-JS reference of its step kernels (the WASM SIMD tanhForward/tanhBackward in
 * ../wasm/kernels.as.ts implement the same math and are tested against it).
 *
 * Per time step t (W_ih [H, in], W_hh [H, H]):
 *   a_t = W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh
 *   h_t = tanh(a_t)
 *
 * Memory per time step and stream, in floats: 2H to run forward (h, a), 2H more to train (da, dh).
 * Per layer once: W_hhᵀ (H·H), b_ih + b_hh (H), and with fixed weights above layer 0 W_ihᵀ (H·H).
 * rnnBuffers below is the exact table.
 */
import type { TanhBackwardStep, TanhForwardStep } from '../kernels.js';
import { StepViews, timeSlice, type LayerBuffers } from './buffers.js';
import { CellLayer, weightIhTFloats } from './cell-layer.js';
import {
  noBackward,
  type CarriedState,
  type LayerArguments,
  type LayerGradientSums,
  type LayerInput,
  type LayerOptions,
  type LayerShape,
} from './layer.js';

/** What an RNN layer allocates, in floats per named buffer. */
export function rnnBuffers(shape: LayerShape, options: LayerOptions) {
  const { batch, seqLength, hidden } = shape;
  const state = batch * hidden;
  const forward = {
    hiddens: (seqLength + 1) * state, // slot 0 the chunk's initial h, slots 1..T the outputs
    preActivations: seqLength * state,
    weightHhT: hidden * hidden,
    weightIhT: weightIhTFloats(shape, 1, options),
    biasSum: hidden,
  };
  const backward = { dPreActivations: seqLength * state, dOutputs: seqLength * state };
  return { forward, backward: options.training ? backward : null } satisfies LayerBuffers;
}

/** Reference for kernels.tanhForward. */
export function tanhForwardReference({ pre, h }: TanhForwardStep, n: number): void {
  for (let i = 0; i < n; i++) h[i] = Math.tanh(pre[i]!);
}

/** Reference for kernels.tanhBackward. */
export function tanhBackwardReference({ dh, h, dPre }: TanhBackwardStep, n: number): void {
  // da_t = dh_t · tanh'(a_t) = dh_t · (1 − h_t²)
  for (let i = 0; i < n; i++) dPre[i] = dh[i]! * (1 - h[i]! * h[i]!);
}

export class RnnLayer extends CellLayer<ReturnType<typeof rnnBuffers>> {
  /** Step t's buffers, and h_{t-1}. */
  private readonly forwardSteps = new StepViews((t) => {
    const { hiddens, preActivations } = this.forwardBuffers;
    const stateSize = this.shape.batch * this.shape.hidden;
    const step: TanhForwardStep = {
      pre: timeSlice(preActivations, t, stateSize),
      h: timeSlice(hiddens, t + 1, stateSize),
    };
    return { step, hPrev: timeSlice(hiddens, t, stateSize) };
  });

  constructor(...args: LayerArguments) {
    super(rnnBuffers, 1, ...args);
  }

  override forward(input: LayerInput, carried: CarriedState, steps: number): void {
    const { kernels } = this;
    const { hiddens, preActivations, biasSum } = this.forwardBuffers;
    const { batch, hidden } = this.shape;
    // a_t = W_ih·x_t + (b_ih + b_hh) for all steps at once; W_hh·h_{t-1} is added step by step.
    this.sumBiases(biasSum);
    kernels.broadcastRows(preActivations, biasSum, steps * batch, hidden);
    this.projectInput(preActivations, input, steps * batch, hidden);
    hiddens.set(carried.h);
    this.weightHhT.refresh();
    for (let t = 0; t < steps; t++) {
      const { step, hPrev } = this.forwardSteps.at(t);
      kernels.matmulAB(step.pre, hPrev, this.weightHhT.values, batch, hidden, hidden, true);
      kernels.tanhForward(step, batch * hidden);
    }
    if (steps > 0) carried.h.set(this.forwardSteps.at(steps - 1).step.h);
  }

  override backward(_input: LayerInput, dInput: Float32Array | null, dCarried: CarriedState): void {
    const { kernels, params } = this;
    const { hiddens } = this.forwardBuffers;
    const { dPreActivations, dOutputs } = this.backwardBuffers ?? noBackward();
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    const rows = seqLength * batch;
    for (let t = seqLength - 1; t >= 0; t--) {
      const step: TanhBackwardStep = {
        dh: timeSlice(dOutputs, t, stateSize),
        h: timeSlice(hiddens, t + 1, stateSize),
        dPre: timeSlice(dPreActivations, t, stateSize),
      };
      // da_t = dh_t · (1 − h_t²)
      kernels.tanhBackward(step, stateSize);
      // dh_{t-1} += W_hhᵀ·da_t (at t = 0 written as the gradient of the carried-in h).
      const dPrevious = t > 0 ? timeSlice(dOutputs, t - 1, stateSize) : dCarried.h;
      kernels.matmulAB(dPrevious, step.dPre, params.weightHh, batch, hidden, hidden, t > 0);
    }
    // dx_t = W_ihᵀ·da_t for the layer below
    if (dInput) kernels.matmulAB(dInput, dPreActivations, params.weightIh, rows, inputSize, hidden, false);
  }

  override gradientSums(input: LayerInput): LayerGradientSums {
    const a = this.backwardBuffers?.dPreActivations ?? noBackward();
    const width = this.shape.hidden;
    return {
      // dW_ih = Σ_t da_tᵀ·x_t,  dW_hh = Σ_t da_tᵀ·h_{t-1}
      weightIh: { a, width, x: this.inputRows(input) },
      weightHh: { a, width, x: this.previousHiddens() },
      // db_ih = db_hh = Σ_t da_t
      biasIh: { a, width, x: null },
      biasHh: { a, width, x: null },
    };
  }
}
