/** Vanilla tanh RNN layer (PyTorch nn.RNN), forward and hand-written backward. */
import type { Kernels } from '../kernels.js';
import { backpropInput, projectInput, step, TransposedWeight, sumBiases, type LayerInput, type LayerParams, type LayerShape, type LayerState, type RecurrentLayer } from './layer.js';

export class RnnLayer implements RecurrentLayer {
  readonly outputs: Float32Array;
  readonly dOutputs: Float32Array;
  private readonly weightHhT: TransposedWeight; // [H, G]
  private readonly hiddens: Float32Array; // [T+1, B, H]: slot 0 the chunk's initial h, slots 1..T the outputs
  private readonly preActivations: Float32Array; // [T, B, H]
  private readonly dPreActivations: Float32Array; // [T, B, H]
  private readonly biasSum: Float32Array; // [H]

  constructor(private readonly kernels: Kernels, private readonly params: LayerParams, private readonly shape: LayerShape) {
    const { batch, seqLength, hidden } = shape;
    const stateSize = batch * hidden;
    this.hiddens = kernels.alloc((seqLength + 1) * stateSize);
    this.outputs = this.hiddens.subarray(stateSize);
    this.preActivations = kernels.alloc(seqLength * stateSize);
    this.dPreActivations = kernels.alloc(seqLength * stateSize);
    this.dOutputs = kernels.alloc(seqLength * stateSize);
    this.weightHhT = new TransposedWeight(kernels, params.weightHh, hidden, hidden);
    this.biasSum = kernels.alloc(hidden);
  }

  forward(input: LayerInput, state: LayerState): void {
    const { kernels, params } = this;
    const { batch, seqLength, inputSize, hidden } = this.shape;
    const stateSize = batch * hidden;
    sumBiases(this.biasSum, params);
    kernels.broadcastRows(this.preActivations, this.biasSum, seqLength * batch, hidden);
    projectInput(kernels, this.preActivations, input, params.weightIh, seqLength * batch, hidden, inputSize);
    this.hiddens.set(state.h);
    this.weightHhT.refresh();
    for (let t = 0; t < seqLength; t++) {
      const pre = step(this.preActivations, t, stateSize);
      kernels.matmulAB(pre, step(this.hiddens, t, stateSize), this.weightHhT.values, batch, hidden, hidden, true);
      kernels.tanhForward(step(this.hiddens, t + 1, stateSize), pre, stateSize);
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
    const rows = seqLength * batch;
    for (let t = seqLength - 1; t >= 0; t--) {
      const dPre = step(this.dPreActivations, t, stateSize);
      kernels.tanhBackward(dPre, step(this.dOutputs, t, stateSize), step(this.hiddens, t + 1, stateSize), stateSize);
      const dPrevious = t > 0 ? step(this.dOutputs, t - 1, stateSize) : dState.h;
      kernels.matmulAB(dPrevious, dPre, params.weightHh, batch, hidden, hidden, t > 0);
    }
    kernels.matmulAtB(grads.weightHh, this.dPreActivations, this.hiddens, hidden, hidden, rows, true);
    kernels.sumRows(grads.biasIh, this.dPreActivations, rows, hidden, true);
    kernels.sumRows(grads.biasHh, this.dPreActivations, rows, hidden, true);
    backpropInput(kernels, this.dPreActivations, input, params.weightIh, grads.weightIh, dInput, rows, hidden, inputSize);
  }
}
