/**
 * GRU layer (PyTorch nn.GRU: gates r, z, n with the reset applied to the hidden projection,
 * n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)), h' = (1 − z)·n + z·h), forward and hand-written backward.
 */
import type { Kernels } from '../kernels.js';
import { backpropInput, projectInput, step, TransposedWeight, type LayerInput, type LayerParams, type LayerShape, type LayerState, type RecurrentLayer } from './layer.js';

export class GruLayer implements RecurrentLayer {
  readonly outputs: Float32Array;
  readonly dOutputs: Float32Array;
  private readonly weightHhT: TransposedWeight; // [H, G]
  private readonly hiddens: Float32Array; // [T+1, B, H]: slot 0 the chunk's initial h, slots 1..T the outputs
  private readonly gates: Float32Array; // [T, B, 3H]: W_ih·x + b_ih, then the activations r, z, n
  private readonly hiddenGates: Float32Array; // [T, B, 3H]: W_hh·h_{t-1} + b_hh
  private readonly dInputGates: Float32Array; // [T, B, 3H]
  private readonly dHiddenGates: Float32Array; // [T, B, 3H]

  constructor(private readonly kernels: Kernels, private readonly params: LayerParams, private readonly shape: LayerShape) {
    const { batch, seqLength, hidden } = shape;
    const stateSize = batch * hidden;
    this.hiddens = kernels.alloc((seqLength + 1) * stateSize);
    this.outputs = this.hiddens.subarray(stateSize);
    this.gates = kernels.alloc(seqLength * 3 * stateSize);
    this.hiddenGates = kernels.alloc(seqLength * 3 * stateSize);
    this.dInputGates = kernels.alloc(seqLength * 3 * stateSize);
    this.dHiddenGates = kernels.alloc(seqLength * 3 * stateSize);
    this.dOutputs = kernels.alloc(seqLength * stateSize);
    this.weightHhT = new TransposedWeight(kernels, params.weightHh, 3 * hidden, hidden);
  }

  forward(input: LayerInput, state: LayerState): void {
    const { kernels, params } = this;
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    const gateWidth = 3 * hidden;
    kernels.broadcastRows(this.gates, params.biasIh, seqLength * batch, gateWidth);
    projectInput(kernels, this.gates, input, params.weightIh, seqLength * batch, gateWidth, inputSize);
    kernels.broadcastRows(this.hiddenGates, params.biasHh, seqLength * batch, gateWidth);
    this.hiddens.set(state.h);
    this.weightHhT.refresh();
    for (let t = 0; t < seqLength; t++) {
      const hiddenGates = step(this.hiddenGates, t, batch * gateWidth);
      const previous = step(this.hiddens, t, stateSize);
      kernels.matmulAB(hiddenGates, previous, this.weightHhT.values, batch, gateWidth, hidden, true);
      kernels.gruForward(step(this.gates, t, batch * gateWidth), hiddenGates, previous, step(this.hiddens, t + 1, stateSize), batch, hidden);
    }
    state.h.set(step(this.hiddens, seqLength, stateSize));
  }

  freezeWeights(): void {
    this.weightHhT.freeze();
  }

  backward(input: LayerInput, grads: LayerParams, dInput: Float32Array | null, dState: LayerState): void {
    const { kernels, params } = this;
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    const gateWidth = 3 * hidden;
    const rows = seqLength * batch;
    dState.h.fill(0);
    for (let t = seqLength - 1; t >= 0; t--) {
      const dHiddenGates = step(this.dHiddenGates, t, batch * gateWidth);
      const dPrevious = t > 0 ? step(this.dOutputs, t - 1, stateSize) : dState.h;
      kernels.gruBackward(step(this.gates, t, batch * gateWidth), step(this.hiddenGates, t, batch * gateWidth), step(this.hiddens, t, stateSize), step(this.dOutputs, t, stateSize), step(this.dInputGates, t, batch * gateWidth), dHiddenGates, dPrevious, batch, hidden);
      kernels.matmulAB(dPrevious, dHiddenGates, params.weightHh, batch, hidden, gateWidth, true);
    }
    kernels.matmulAtB(grads.weightHh, this.dHiddenGates, this.hiddens, gateWidth, hidden, rows, true);
    kernels.sumRows(grads.biasIh, this.dInputGates, rows, gateWidth, true);
    kernels.sumRows(grads.biasHh, this.dHiddenGates, rows, gateWidth, true);
    backpropInput(kernels, this.dInputGates, input, params.weightIh, grads.weightIh, dInput, rows, gateWidth, inputSize);
  }
}
