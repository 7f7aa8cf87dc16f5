/** LSTM layer (PyTorch nn.LSTM gate order i, f, g, o), forward and hand-written backward. */
import type { Kernels } from '../kernels.js';
import { backpropInput, projectInput, step, TransposedWeight, sumBiases, type LayerInput, type LayerParams, type LayerShape, type LayerState, type RecurrentLayer } from './layer.js';

export class LstmLayer implements RecurrentLayer {
  readonly outputs: Float32Array;
  readonly dOutputs: Float32Array;
  private readonly weightHhT: TransposedWeight; // [H, G]
  private readonly hiddens: Float32Array; // [T+1, B, H]: slot 0 the chunk's initial h, slots 1..T the outputs
  private readonly cells: Float32Array; // [T+1, B, H]: slot 0 the chunk's initial c
  private readonly cellTanh: Float32Array; // [T, B, H]: tanh(c_t), kept for backward
  private readonly gates: Float32Array; // [T, B, 4H]: pre-activations, then the activations i, f, g, o
  private readonly dGates: Float32Array; // [T, B, 4H]: gradients of the pre-activations
  private readonly dCell: Float32Array; // [B, H]: gradient reaching c_t during backward
  private readonly biasSum: Float32Array; // [4H]

  constructor(private readonly kernels: Kernels, private readonly params: LayerParams, private readonly shape: LayerShape) {
    const { batch, seqLength, hidden } = shape;
    const stateSize = batch * hidden;
    this.hiddens = kernels.alloc((seqLength + 1) * stateSize);
    this.outputs = this.hiddens.subarray(stateSize);
    this.cells = kernels.alloc((seqLength + 1) * stateSize);
    this.cellTanh = kernels.alloc(seqLength * stateSize);
    this.gates = kernels.alloc(seqLength * 4 * stateSize);
    this.dGates = kernels.alloc(seqLength * 4 * stateSize);
    this.dOutputs = kernels.alloc(seqLength * stateSize);
    this.weightHhT = new TransposedWeight(kernels, params.weightHh, 4 * hidden, hidden);
    this.dCell = kernels.alloc(stateSize);
    this.biasSum = kernels.alloc(4 * hidden);
  }

  forward(input: LayerInput, state: LayerState): void {
    const { kernels, params } = this;
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    const gateWidth = 4 * hidden;
    sumBiases(this.biasSum, params);
    kernels.broadcastRows(this.gates, this.biasSum, seqLength * batch, gateWidth);
    projectInput(kernels, this.gates, input, params.weightIh, seqLength * batch, gateWidth, inputSize);
    this.hiddens.set(state.h);
    this.weightHhT.refresh();
    this.cells.set(state.c!);
    for (let t = 0; t < seqLength; t++) {
      const gates = step(this.gates, t, batch * gateWidth);
      kernels.matmulAB(gates, step(this.hiddens, t, stateSize), this.weightHhT.values, batch, gateWidth, hidden, true);
      kernels.lstmForward(gates, step(this.cells, t, stateSize), step(this.cells, t + 1, stateSize), step(this.cellTanh, t, stateSize), step(this.hiddens, t + 1, stateSize), batch, hidden);
    }
    state.h.set(step(this.hiddens, seqLength, stateSize));
    state.c!.set(step(this.cells, seqLength, stateSize));
  }

  freezeWeights(): void {
    this.weightHhT.freeze();
  }

  backward(input: LayerInput, grads: LayerParams, dInput: Float32Array | null, dState: LayerState): void {
    const { kernels, params } = this;
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    const gateWidth = 4 * hidden;
    const rows = seqLength * batch;
    this.dCell.fill(0);
    for (let t = seqLength - 1; t >= 0; t--) {
      const dGates = step(this.dGates, t, batch * gateWidth);
      kernels.lstmBackward(step(this.gates, t, batch * gateWidth), step(this.cells, t, stateSize), step(this.cellTanh, t, stateSize), step(this.dOutputs, t, stateSize), this.dCell, dGates, batch, hidden);
      // The recurrent path: dh_{t-1} gains W_hhᵀ·dGates_t (into the initial-state gradient at t = 0).
      const dPrevious = t > 0 ? step(this.dOutputs, t - 1, stateSize) : dState.h;
      kernels.matmulAB(dPrevious, dGates, params.weightHh, batch, hidden, gateWidth, t > 0);
    }
    dState.c!.set(this.dCell);
    kernels.matmulAtB(grads.weightHh, this.dGates, this.hiddens, gateWidth, hidden, rows, true);
    kernels.sumRows(grads.biasIh, this.dGates, rows, gateWidth, true);
    kernels.sumRows(grads.biasHh, this.dGates, rows, gateWidth, true);
    backpropInput(kernels, this.dGates, input, params.weightIh, grads.weightIh, dInput, rows, gateWidth, inputSize);
  }
}
