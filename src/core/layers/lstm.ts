/**
 * LSTM layer (PyTorch nn.LSTM), forward and hand-written backward on one page, with the plain-JS
 * reference of its fused step kernels (the WASM SIMD kernels in ../wasm/kernels.as.ts implement the
 * same math and are tested against it).
 *
 * Per time step t, gates in PyTorch's row order i, f, g, o (W_ih [4H, in], W_hh [4H, H]):
 *   a_t = W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh            pre-activations [4H]
 *   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
 *   c_t = f·c_{t-1} + i·g
 *   h_t = o·tanh(c_t)
 *
 * Memory per time step and stream, in floats: 7H to run forward (h, c, tanh c and the 4H gates),
 * 5H more to train (dGates 4H, dh H). Per layer once: W_hhᵀ (4H·H), b_ih + b_hh (4H), with fixed
 * weights above layer 0 W_ihᵀ (4H·H), and when training dc (B·H). lstmBuffers below is the exact table.
 */
import type { LstmBackwardStep, LstmForwardStep } from '../kernels.js';
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

/** What an LSTM layer allocates, in floats per named buffer. */
export function lstmBuffers(shape: LayerShape, options: LayerOptions) {
  const { batch, seqLength, hidden } = shape;
  const state = batch * hidden;
  const forward = {
    hiddens: (seqLength + 1) * state, // slot 0 the chunk's initial h, slots 1..T the outputs
    cells: (seqLength + 1) * state, // slot 0 the chunk's initial c
    cellTanh: seqLength * state, // tanh(c_t), kept for backward
    gates: seqLength * 4 * state, // pre-activations, then the activations i, f, g, o
    weightHhT: 4 * hidden * hidden,
    weightIhT: weightIhTFloats(shape, 4, options),
    biasSum: 4 * hidden,
  };
  const backward = { dGates: seqLength * 4 * state, dOutputs: seqLength * state, dCell: state };
  return { forward, backward: options.training ? backward : null } satisfies LayerBuffers;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Reference for kernels.lstmForward: activates the gates in place and writes c, tanh(c) and h. */
export function lstmForwardReference(step: LstmForwardStep, batch: number, hidden: number): void {
  const { gates, cPrev, c, cTanh, h } = step;
  for (let b = 0; b < batch; b++) {
    const row = b * 4 * hidden;
    for (let j = 0; j < hidden; j++) {
      const i = sigmoid(gates[row + j]!);
      const f = sigmoid(gates[row + hidden + j]!);
      const g = Math.tanh(gates[row + 2 * hidden + j]!);
      const o = sigmoid(gates[row + 3 * hidden + j]!);
      gates[row + j] = i;
      gates[row + hidden + j] = f;
      gates[row + 2 * hidden + j] = g;
      gates[row + 3 * hidden + j] = o;
      const at = b * hidden + j;
      const cell = f * cPrev[at]! + i * g;
      c[at] = cell;
      const t = Math.tanh(Math.fround(cell));
      cTanh[at] = t;
      h[at] = o * Math.fround(t);
    }
  }
}

/** Reference for kernels.lstmBackward: from dh_t and dc_t, the pre-activation gradients and dc_{t-1}. */
export function lstmBackwardReference(step: LstmBackwardStep, batch: number, hidden: number): void {
  const { gates, cPrev, cTanh, dh, dc, dGates } = step;
  for (let b = 0; b < batch; b++) {
    const row = b * 4 * hidden;
    for (let j = 0; j < hidden; j++) {
      const at = b * hidden + j;
      const i = gates[row + j]!;
      const f = gates[row + hidden + j]!;
      const g = gates[row + 2 * hidden + j]!;
      const o = gates[row + 3 * hidden + j]!;
      const t = cTanh[at]!;
      // dc_t = dc_t (from step t+1) + dh_t · o · (1 − tanh²(c_t))     (h_t = o·tanh(c_t))
      const dcTotal = dc[at]! + dh[at]! * o * (1 - t * t);
      // da_i = dc_t · g · σ'(a_i), σ' = i(1 − i)                       (c_t = f·c_{t-1} + i·g)
      dGates[row + j] = dcTotal * g * i * (1 - i);
      // da_f = dc_t · c_{t-1} · f(1 − f)
      dGates[row + hidden + j] = dcTotal * cPrev[at]! * f * (1 - f);
      // da_g = dc_t · i · (1 − g²)
      dGates[row + 2 * hidden + j] = dcTotal * i * (1 - g * g);
      // da_o = dh_t · tanh(c_t) · o(1 − o)
      dGates[row + 3 * hidden + j] = dh[at]! * t * o * (1 - o);
      // dc_{t-1} = dc_t · f
      dc[at] = dcTotal * f;
    }
  }
}

export class LstmLayer extends CellLayer<ReturnType<typeof lstmBuffers>> {
  /** Step t's buffers, and h_{t-1}. */
  private readonly forwardSteps = new StepViews((t) => {
    const { hiddens, cells, cellTanh, gates } = this.forwardBuffers;
    const { batch, hidden } = this.shape;
    const stateSize = batch * hidden;
    const step: LstmForwardStep = {
      gates: timeSlice(gates, t, batch * 4 * hidden),
      cPrev: timeSlice(cells, t, stateSize),
      c: timeSlice(cells, t + 1, stateSize),
      cTanh: timeSlice(cellTanh, t, stateSize),
      h: timeSlice(hiddens, t + 1, stateSize),
    };
    return { step, hPrev: timeSlice(hiddens, t, stateSize) };
  });

  constructor(...args: LayerArguments) {
    super(lstmBuffers, 4, ...args);
  }

  override forward(input: LayerInput, carried: CarriedState, steps: number): void {
    const { kernels } = this;
    const { hiddens, cells, gates, biasSum } = this.forwardBuffers;
    const { batch, hidden } = this.shape;
    const gateWidth = 4 * hidden;
    // a_t = W_ih·x_t + (b_ih + b_hh) for all steps at once; W_hh·h_{t-1} is added step by step.
    this.sumBiases(biasSum);
    kernels.broadcastRows(gates, biasSum, steps * batch, gateWidth);
    this.projectInput(gates, input, steps * batch, gateWidth);
    hiddens.set(carried.h);
    cells.set(carried.c!);
    this.weightHhT.refresh();
    for (let t = 0; t < steps; t++) {
      const { step, hPrev } = this.forwardSteps.at(t);
      kernels.matmulAB(step.gates, hPrev, this.weightHhT.values, batch, gateWidth, hidden, true);
      kernels.lstmForward(step, batch, hidden);
    }
    if (steps === 0) return;
    const { h, c } = this.forwardSteps.at(steps - 1).step;
    carried.h.set(h);
    carried.c!.set(c);
  }

  override backward(_input: LayerInput, dInput: Float32Array | null, dCarried: CarriedState): void {
    const { kernels, params } = this;
    const { cells, cellTanh, gates } = this.forwardBuffers;
    const { dGates, dOutputs, dCell } = this.backwardBuffers ?? noBackward();
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    const gateWidth = 4 * hidden;
    const rows = seqLength * batch;
    // No gradient reaches c_T from beyond the chunk (truncated BPTT).
    dCell.fill(0);
    for (let t = seqLength - 1; t >= 0; t--) {
      const step: LstmBackwardStep = {
        gates: timeSlice(gates, t, batch * gateWidth),
        cPrev: timeSlice(cells, t, stateSize),
        cTanh: timeSlice(cellTanh, t, stateSize),
        dh: timeSlice(dOutputs, t, stateSize),
        dc: dCell,
        dGates: timeSlice(dGates, t, batch * gateWidth),
      };
      // da_t from dh_t and dc_t; dCell becomes dc_{t-1}.
      kernels.lstmBackward(step, batch, hidden);
      // dh_{t-1} += W_hhᵀ·da_t (at t = 0 written as the gradient of the carried-in h).
      const dPrevious = t > 0 ? timeSlice(dOutputs, t - 1, stateSize) : dCarried.h;
      kernels.matmulAB(dPrevious, step.dGates, params.weightHh, batch, hidden, gateWidth, t > 0);
    }
    // dc_0: the gradient of the carried-in c.
    dCarried.c!.set(dCell);
    // dx_t = W_ihᵀ·da_t for the layer below
    if (dInput) kernels.matmulAB(dInput, dGates, params.weightIh, rows, inputSize, gateWidth, false);
  }

  override gradientSums(input: LayerInput): LayerGradientSums {
    const a = this.backwardBuffers?.dGates ?? noBackward();
    const width = 4 * this.shape.hidden;
    return {
      // dW_ih = Σ_t da_tᵀ·x_t,  dW_hh = Σ_t da_tᵀ·h_{t-1}
      weightIh: { a, width, x: this.inputRows(input) },
      weightHh: { a, width, x: this.previousHiddens() },
      // db_ih = db_hh = Σ_t da_t (both biases enter a_t alike)
      biasIh: { a, width, x: null },
      biasHh: { a, width, x: null },
    };
  }
}
