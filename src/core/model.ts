/**
 * The character model: stacked recurrent layers over one-hot inputs, then a linear decoder to
 * vocabulary logits and a softmax cross-entropy loss. CharModel holds the parameters and makes the
 * passes that run it (passes.ts).
 *
 * Memory: the parameters, once, in one flat buffer laid out from the state_dict spec (parameterLayout,
 * config.ts), with a named view per tensor: per layer gates·H·(I + H + 2) floats (gates 1 rnn, 4 lstm,
 * 3 gru; I = V for the first layer, else H), and V·(H + 1) for the decoder, each tensor 64-byte aligned.
 * A worker thread adopts the main thread's buffer in place. Parameter gradients are another such buffer,
 * owned by whoever sums them (weight-gradients.ts); every pass adds its own memory (pass-buffers.ts).
 */
import { parameterLayout, tensorViews, type ModelConfig, type ParameterLayout } from './config.js';
import type { Kernels } from './kernels.js';
import { InferencePass, TrainingPass } from './passes.js';
import type { Rng } from './rng.js';

/**
 * 'pytorch': U(−1/√H, 1/√H) for every tensor, as nn.LSTM and nn.Linear do.
 * 'min-char-rnn': N(0, 0.01²) weights, zero biases.
 */
export type InitScheme = 'pytorch' | 'min-char-rnn';

export class CharModel {
  readonly layout: ParameterLayout;
  /** Every parameter, tensors in state_dict order at the layout's offsets. */
  readonly parameters: Float32Array;
  /** A view of each tensor of `parameters`, by PyTorch name. */
  readonly tensors: ReadonlyMap<string, Float32Array>;

  /** Allocates the parameters, or adopts `shared` ones (a worker thread's view of the main thread's weights). */
  constructor(
    readonly config: ModelConfig,
    readonly kernels: Kernels,
    shared?: Float32Array,
  ) {
    this.layout = parameterLayout(config);
    this.parameters = shared ?? kernels.alloc(this.layout.size);
    this.tensors = tensorViews(this.parameters, this.layout);
  }

  initialize(random: Pick<Rng, 'nextFloat' | 'normal'>, scheme: InitScheme = 'pytorch'): void {
    const bound = 1 / Math.sqrt(this.config.hidden);
    for (const [name, tensor] of this.tensors) {
      const isBias = name.includes('bias');
      for (let i = 0; i < tensor.length; i++) {
        if (scheme === 'pytorch') tensor[i] = (random.nextFloat() * 2 - 1) * bound;
        else tensor[i] = isBias ? 0 : 0.01 * random.normal();
      }
    }
  }

  /** Copies tensors in (by name; every tensor must be present with its full length). */
  load(tensors: Record<string, Float32Array>): void {
    for (const [name, tensor] of this.tensors) tensor.set(tensors[name]!);
  }

  /**
   * A pass for evaluation and sampling. `fixedWeights`: the weights will not change while it lives;
   * `memory` (passFloats long, in the kernels' memory): lay the pass out there instead of allocating.
   */
  createInferencePass(
    batch: number,
    seqLength: number,
    options: { fixedWeights?: boolean; memory?: Float32Array } = {},
  ): InferencePass {
    const passOptions = { training: false, fixedWeights: options.fixedWeights ?? false };
    return new InferencePass(this, batch, seqLength, passOptions, options.memory);
  }

  /** `memory` (passFloats long, in the kernels' memory): lay the pass out there, e.g. another thread's pass. */
  createTrainingPass(batch: number, seqLength: number, memory?: Float32Array): TrainingPass {
    return new TrainingPass(this, batch, seqLength, memory);
  }
}
