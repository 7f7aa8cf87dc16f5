/**
 * GRU layer (PyTorch nn.GRU), forward and hand-written backward on one page, with the plain-JS
 * reference of its fused step kernels (the WASM SIMD kernels in ../wasm/kernels.as.ts implement the
 * same math and are tested against it).
 *
 * Per time step t, gates in PyTorch's row order r, z, n (W_ih [3H, in], W_hh [3H, H]); the reset
 * gate applies to the hidden projection, so the x side and the h side are kept apart:
 *   x_t^g = W_ih·x_t + b_ih        h_t^g = W_hh·h_{t-1} + b_hh        each [3H]: blocks r, z, n
 *   r = σ(x_r + h_r)   z = σ(x_z + h_z)   n = tanh(x_n + r·h_n)
 *   h_t = (1 − z)·n + z·h_{t-1}
 *
 * Memory per time step and stream, in floats: 7H to run forward (h, the 3H x-side gates, the 3H
 * h-side gates), 7H more to train (dx-gates 3H, dh-gates 3H, dh H). Per layer once: W_hhᵀ (3H·H), and
 * with fixed weights above layer 0 W_ihᵀ (3H·H). gruBuffers below is the exact table.
 */
import type { GruBackwardStep, GruForwardStep } from '../kernels.js';
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

/** What a GRU layer allocates, in floats per named buffer. */
export function gruBuffers(shape: LayerShape, options: LayerOptions) {
  const { batch, seqLength, hidden } = shape;
  const state = batch * hidden;
  const forward = {
    hiddens: (seqLength + 1) * state, // slot 0 the chunk's initial h, slots 1..T the outputs
    gates: seqLength * 3 * state, // x-side pre-activations, then the activations r, z, n
    hiddenGates: seqLength * 3 * state, // h-side pre-activations
    weightHhT: 3 * hidden * hidden,
    weightIhT: weightIhTFloats(shape, 3, options),
  };
  const backward = {
    dInputGates: seqLength * 3 * state,
    dHiddenGates: seqLength * 3 * state,
    dOutputs: seqLength * state,
  };
  return { forward, backward: options.training ? backward : null } satisfies LayerBuffers;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Reference for kernels.gruForward. */
export function gruForwardReference(step: GruForwardStep, batch: number, hidden: number): void {
  const { xGates, hGates, hPrev, h } = step;
  for (let b = 0; b < batch; b++) {
    const row = b * 3 * hidden;
    for (let j = 0; j < hidden; j++) {
      const r = sigmoid(xGates[row + j]! + hGates[row + j]!);
      const z = sigmoid(xGates[row + hidden + j]! + hGates[row + hidden + j]!);
      const n = Math.tanh(xGates[row + 2 * hidden + j]! + r * hGates[row + 2 * hidden + j]!);
      xGates[row + j] = r;
      xGates[row + hidden + j] = z;
      xGates[row + 2 * hidden + j] = n;
      const at = b * hidden + j;
      h[at] = (1 - z) * Math.fround(n) + z * hPrev[at]!;
    }
  }
}

/** Reference for kernels.gruBackward. */
export function gruBackwardReference(step: GruBackwardStep, batch: number, hidden: number): void {
  const { gates, hGates, hPrev, dh, dxGates, dhGates, dhPrev } = step;
  for (let b = 0; b < batch; b++) {
    const row = b * 3 * hidden;
    for (let j = 0; j < hidden; j++) {
      const at = b * hidden + j;
      const r = gates[row + j]!;
      const z = gates[row + hidden + j]!;
      const n = gates[row + 2 * hidden + j]!;
      const grad = dh[at]!;
      // dn_pre = dh_t · (1 − z) · (1 − n²)                   (h_t = (1 − z)·n + z·h_{t-1}, n = tanh(·))
      const dnPre = grad * (1 - z) * (1 - n * n);
      // dz_pre = dh_t · (h_{t-1} − n) · z(1 − z)
      const dzPre = grad * (hPrev[at]! - n) * z * (1 - z);
      // dr_pre = dn_pre · h_n · r(1 − r)                       (n's argument is x_n + r·h_n)
      const drPre = dnPre * hGates[row + 2 * hidden + j]! * r * (1 - r);
      // x side: r and z enter as x_r + h_r and x_z + h_z, n as x_n: the same three gradients
      dxGates[row + j] = drPre;
      dxGates[row + hidden + j] = dzPre;
      dxGates[row + 2 * hidden + j] = dnPre;
      // h side: the same for r and z; h_n enters multiplied by r
      dhGates[row + j] = drPre;
      dhGates[row + hidden + j] = dzPre;
      dhGates[row + 2 * hidden + j] = dnPre * r;
      // dh_{t-1} += dh_t · z (the direct path)
      dhPrev[at] = dhPrev[at]! + grad * z;
    }
  }
}

export class GruLayer extends CellLayer<ReturnType<typeof gruBuffers>> {
  /** Step t's buffers. */
  private readonly forwardSteps = new StepViews((t): GruForwardStep => {
    const { hiddens, gates, hiddenGates } = this.forwardBuffers;
    const { batch, hidden } = this.shape;
    const stateSize = batch * hidden;
    return {
      xGates: timeSlice(gates, t, batch * 3 * hidden),
      hGates: timeSlice(hiddenGates, t, batch * 3 * hidden),
      hPrev: timeSlice(hiddens, t, stateSize),
      h: timeSlice(hiddens, t + 1, stateSize),
    };
  });

  constructor(...args: LayerArguments) {
    super(gruBuffers, 3, ...args);
  }

  override forward(input: LayerInput, carried: CarriedState, steps: number): void {
    const { kernels, params } = this;
    const { hiddens, gates, hiddenGates } = this.forwardBuffers;
    const { batch, hidden } = this.shape;
    const gateWidth = 3 * hidden;
    // x_t^g = W_ih·x_t + b_ih for all steps at once; h_t^g = b_hh now, + W_hh·h_{t-1} step by step.
    kernels.broadcastRows(gates, params.biasIh, steps * batch, gateWidth);
    this.projectInput(gates, input, steps * batch, gateWidth);
    kernels.broadcastRows(hiddenGates, params.biasHh, steps * batch, gateWidth);
    hiddens.set(carried.h);
    this.weightHhT.refresh();
    for (let t = 0; t < steps; t++) {
      const step = this.forwardSteps.at(t);
      kernels.matmulAB(step.hGates, step.hPrev, this.weightHhT.values, batch, gateWidth, hidden, true);
      kernels.gruForward(step, batch, hidden);
    }
    if (steps > 0) carried.h.set(this.forwardSteps.at(steps - 1).h);
  }

  override backward(_input: LayerInput, dInput: Float32Array | null, dCarried: CarriedState): void {
    const { kernels, params } = this;
    const { hiddens, gates, hiddenGates } = this.forwardBuffers;
    const { dInputGates, dHiddenGates, dOutputs } = this.backwardBuffers ?? noBackward();
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    const gateWidth = 3 * hidden;
    const rows = seqLength * batch;
    // gruBackward adds into dh_{t-1}; at t = 0 that is the carried-in h's gradient, which starts at 0.
    dCarried.h.fill(0);
    for (let t = seqLength - 1; t >= 0; t--) {
      const step: GruBackwardStep = {
        gates: timeSlice(gates, t, batch * gateWidth),
        hGates: timeSlice(hiddenGates, t, batch * gateWidth),
        hPrev: timeSlice(hiddens, t, stateSize),
        dh: timeSlice(dOutputs, t, stateSize),
        dxGates: timeSlice(dInputGates, t, batch * gateWidth),
        dhGates: timeSlice(dHiddenGates, t, batch * gateWidth),
        dhPrev: t > 0 ? timeSlice(dOutputs, t - 1, stateSize) : dCarried.h,
      };
      // The gate gradients of step t, and dh_{t-1} += dh_t · z.
      kernels.gruBackward(step, batch, hidden);
      // dh_{t-1} += W_hhᵀ·dh_t^g
      kernels.matmulAB(step.dhPrev, step.dhGates, params.weightHh, batch, hidden, gateWidth, true);
    }
    // dx_t = W_ihᵀ·dx_t^g for the layer below
    if (dInput) kernels.matmulAB(dInput, dInputGates, params.weightIh, rows, inputSize, gateWidth, false);
  }

  override gradientSums(input: LayerInput): LayerGradientSums {
    const { dInputGates, dHiddenGates } = this.backwardBuffers ?? noBackward();
    const width = 3 * this.shape.hidden;
    return {
      // dW_ih = Σ_t (dx_t^g)ᵀ·x_t,  dW_hh = Σ_t (dh_t^g)ᵀ·h_{t-1}
      weightIh: { a: dInputGates, width, x: this.inputRows(input) },
      weightHh: { a: dHiddenGates, width, x: this.previousHiddens() },
      // db_ih = Σ_t dx_t^g,  db_hh = Σ_t dh_t^g
      biasIh: { a: dInputGates, width, x: null },
      biasHh: { a: dHiddenGates, width, x: null },
    };
  }
}
