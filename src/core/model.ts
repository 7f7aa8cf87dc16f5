/**
 * The character model: stacked recurrent layers over one-hot inputs, then a linear decoder to
 * vocabulary logits and a softmax cross-entropy loss. Parameters live in one Map keyed by PyTorch's
 * state_dict names; every buffer a forward/backward pass needs is laid out once in a ModelPass.
 */
import { shapeSize, tensorSpecs, type CellType, type ModelConfig } from './config.js';
import type { Kernels } from './kernels.js';
import { GruLayer } from './layers/gru.js';
import type { LayerInput, LayerParams, LayerShape, LayerState, RecurrentLayer } from './layers/layer.js';
import { LstmLayer } from './layers/lstm.js';
import { RnnLayer } from './layers/rnn.js';

export type NamedTensors = Map<string, Float32Array>;

/** Anything that yields uniform floats in [0, 1): the seeded Rng in training, for dropout masks and init. */
export interface UniformSource {
  nextFloat(): number;
}

/** 'pytorch': U(−1/√H, 1/√H) for every tensor, as nn.LSTM and nn.Linear do. 'min-char-rnn': N(0, 0.01²) weights, zero biases. */
export type InitScheme = 'pytorch' | 'min-char-rnn';

export class CharModel {
  readonly tensors: NamedTensors;

  /** Allocates the parameters, or adopts `shared` ones (a worker thread's view of the main thread's weights). */
  constructor(readonly config: ModelConfig, readonly kernels: Kernels, shared?: NamedTensors) {
    this.tensors = shared ?? new Map(tensorSpecs(config).map((spec) => [spec.name, kernels.alloc(shapeSize(spec.shape))]));
  }

  /** The parameters in state_dict order (the order optimizers and checkpoints use). */
  parameters(): Float32Array[] {
    return [...this.tensors.values()];
  }

  initialize(random: UniformSource, scheme: InitScheme = 'pytorch'): void {
    const bound = 1 / Math.sqrt(this.config.hidden);
    for (const [name, tensor] of this.tensors) {
      const isBias = name.includes('bias');
      for (let i = 0; i < tensor.length; i++) {
        if (scheme === 'pytorch') tensor[i] = (random.nextFloat() * 2 - 1) * bound;
        else tensor[i] = isBias ? 0 : 0.01 * standardNormal(random);
      }
    }
  }

  /** Copies tensors in (by name; every tensor must be present with its full length). */
  load(tensors: Record<string, Float32Array>): void {
    for (const [name, tensor] of this.tensors) tensor.set(tensors[name]!);
  }

  createPass(batch: number, seqLength: number): ModelPass {
    return new ModelPass(this, batch, seqLength);
  }
}

function standardNormal(random: UniformSource): number {
  const u = 1 - random.nextFloat();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.nextFloat());
}

function layerParams(tensors: NamedTensors, layer: number): LayerParams {
  return {
    weightIh: tensors.get(`weight_ih_l${layer}`)!,
    weightHh: tensors.get(`weight_hh_l${layer}`)!,
    biasIh: tensors.get(`bias_ih_l${layer}`)!,
    biasHh: tensors.get(`bias_hh_l${layer}`)!,
  };
}

function createLayer(cell: CellType, kernels: Kernels, params: LayerParams, shape: LayerShape): RecurrentLayer {
  if (cell === 'lstm') return new LstmLayer(kernels, params, shape);
  if (cell === 'gru') return new GruLayer(kernels, params, shape);
  return new RnnLayer(kernels, params, shape);
}

/**
 * Buffers and code for one forward/backward over `batch` parallel streams of `seqLength` steps
 * (truncated BPTT). Time-major: row t*batch + b is stream b at step t.
 */
export class ModelPass {
  /** Input ids [T*B], filled by the caller before forward. */
  readonly inputs: Int32Array;
  /** Target ids [T*B], filled by the caller before loss. */
  readonly targets: Int32Array;
  /** Decoder outputs [T*B, V]. */
  readonly logits: Float32Array;
  /** The carried state per layer: read as the chunk's initial state, left holding the final one. */
  readonly state: LayerState[];
  /** Gradient of the loss with respect to the chunk's initial state, per layer (after backward). */
  readonly dInitialState: LayerState[];
  /** Parameter gradients, same names as the model's tensors; backward adds into them. */
  readonly gradients: NamedTensors = new Map();

  private readonly layers: RecurrentLayer[];
  private readonly layerGradients: LayerParams[];
  private readonly dLogits: Float32Array; // [T*B, V]
  private readonly dropoutMasks: Float32Array[]; // per layer below the top: 0 or 1/(1−p), [T*B, H]
  private readonly droppedOutputs: Float32Array[]; // the masked outputs that feed the next layer
  private dropoutActive = false;

  constructor(private readonly model: CharModel, readonly batch: number, readonly seqLength: number) {
    const { kernels, config } = model;
    const { layers, hidden, vocab, cell } = config;
    const rows = batch * seqLength;
    this.inputs = kernels.allocInt32(rows);
    this.targets = kernels.allocInt32(rows);
    this.logits = kernels.alloc(rows * vocab);
    this.dLogits = kernels.alloc(rows * vocab);
    for (const [name, tensor] of model.tensors) this.gradients.set(name, kernels.alloc(tensor.length));
    const newState = (): LayerState => ({ h: kernels.alloc(batch * hidden), c: cell === 'lstm' ? kernels.alloc(batch * hidden) : undefined });
    this.state = Array.from({ length: layers }, newState);
    this.dInitialState = Array.from({ length: layers }, newState);
    this.layers = Array.from({ length: layers }, (_, layer) =>
      createLayer(cell, kernels, layerParams(model.tensors, layer), { batch, seqLength, inputSize: layer === 0 ? vocab : hidden, hidden }),
    );
    this.layerGradients = Array.from({ length: layers }, (_, layer) => layerParams(this.gradients, layer));
    const hasDropout = config.dropout > 0 && layers > 1;
    this.dropoutMasks = hasDropout ? Array.from({ length: layers - 1 }, () => kernels.alloc(rows * hidden)) : [];
    this.droppedOutputs = hasDropout ? Array.from({ length: layers - 1 }, () => kernels.alloc(rows * hidden)) : [];
  }

  /** Zeroes the carried state (start of an epoch, or a fresh sample). */
  resetState(): void {
    for (const layerState of this.state) {
      layerState.h.fill(0);
      layerState.c?.fill(0);
    }
  }

  /** Runs all layers and the decoder. Dropout applies only when `dropoutRandom` is given (training). */
  forward(dropoutRandom?: UniformSource): void {
    const { kernels, config } = this.model;
    const rows = this.batch * this.seqLength;
    this.dropoutActive = dropoutRandom !== undefined && this.dropoutMasks.length > 0;
    for (let layer = 0; layer < this.layers.length; layer++) {
      this.layers[layer]!.forward(this.layerInput(layer), this.state[layer]!);
      if (this.dropoutActive && layer < this.layers.length - 1) this.applyDropout(layer, dropoutRandom!);
    }
    const top = this.layers[this.layers.length - 1]!;
    kernels.broadcastRows(this.logits, this.model.tensors.get('decoder.bias')!, rows, config.vocab);
    kernels.matmulABt(this.logits, top.outputs, this.model.tensors.get('decoder.weight')!, rows, config.vocab, config.hidden, true);
  }

  /**
   * Cross-entropy (nats) of the logits against the targets, summed and divided by `normalizer` (default:
   * this pass's rows, the mean); prepares the gradient of that quantity for backward. A shard of a
   * larger batch passes the whole batch's row count, so shard gradients add up to the batch mean's.
   */
  loss(normalizer = this.batch * this.seqLength): number {
    const rows = this.batch * this.seqLength;
    return this.model.kernels.softmaxCrossEntropy(this.logits, this.targets, this.dLogits, rows, this.model.config.vocab, 1 / normalizer) / normalizer;
  }

  /** Adds d(loss)/d(parameter) into `gradients` and writes `dInitialState`. Call after forward and loss. */
  backward(): void {
    const { kernels, config } = this.model;
    const rows = this.batch * this.seqLength;
    const top = this.layers[this.layers.length - 1]!;
    kernels.matmulAtB(this.gradients.get('decoder.weight')!, this.dLogits, top.outputs, config.vocab, config.hidden, rows, true);
    kernels.sumRows(this.gradients.get('decoder.bias')!, this.dLogits, rows, config.vocab, true);
    kernels.matmulAB(top.dOutputs, this.dLogits, this.model.tensors.get('decoder.weight')!, rows, config.hidden, config.vocab, false);
    for (let layer = this.layers.length - 1; layer >= 0; layer--) {
      const dInput = layer === 0 ? null : this.layers[layer - 1]!.dOutputs;
      this.layers[layer]!.backward(this.layerInput(layer), this.layerGradients[layer]!, dInput, this.dInitialState[layer]!);
      if (dInput && this.dropoutActive) multiplyInPlace(dInput, this.dropoutMasks[layer - 1]!);
    }
  }

  /** For inference with fixed weights (sampling): per-forward weight preparation then happens once. */
  freezeWeights(): void {
    for (const layer of this.layers) layer.freezeWeights();
  }

  zeroGradients(): void {
    for (const gradient of this.gradients.values()) gradient.fill(0);
  }

  private layerInput(layer: number): LayerInput {
    if (layer === 0) return { ids: this.inputs };
    return { values: this.dropoutActive ? this.droppedOutputs[layer - 1]! : this.layers[layer - 1]!.outputs };
  }

  private applyDropout(layer: number, random: UniformSource): void {
    const keepScale = 1 / (1 - this.model.config.dropout);
    const mask = this.dropoutMasks[layer]!;
    const outputs = this.layers[layer]!.outputs;
    const dropped = this.droppedOutputs[layer]!;
    for (let i = 0; i < mask.length; i++) {
      mask[i] = random.nextFloat() < this.model.config.dropout ? 0 : keepScale;
      dropped[i] = outputs[i]! * mask[i]!;
    }
  }
}

function multiplyInPlace(values: Float32Array, factors: Float32Array): void {
  for (let i = 0; i < values.length; i++) values[i] = values[i]! * factors[i]!;
}
