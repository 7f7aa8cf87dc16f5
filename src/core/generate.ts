/** Generating characters one at a time from a model: prime with context, then sample step by step. */
import type { CharModel } from './model.js';
import type { InferencePass } from './passes.js';
import type { Rng } from './rng.js';
import { sampleIndex, type SamplingOptions } from './sampling.js';

export class CharGenerator {
  private readonly pass: InferencePass;
  private readonly scratch: Float64Array;
  private primed = false;
  /** The id drawn last, fed in only when its logits are needed (the last draw of a sample never is). */
  private pending: number | null = null;

  /**
   * `fixedWeights`: the model's weights will not change while this generator lives (a loaded model),
   * so they are prepared once. Leave it off while training, so every sample sees the current weights.
   */
  constructor(
    readonly model: CharModel,
    options: { fixedWeights?: boolean } = {},
  ) {
    this.pass = model.createInferencePass(1, 1, options);
    this.scratch = new Float64Array(model.config.vocab);
  }

  /** Starts afresh from a zero state, then feeds `ids` so the next sample continues them. */
  prime(ids: ArrayLike<number>): void {
    this.pass.resetCarried();
    this.primed = false;
    this.pending = null;
    for (let i = 0; i < ids.length; i++) this.feed(ids[i]!);
  }

  /** Feeds one id (advancing the state) and leaves its next-character logits ready. */
  feed(id: number): void {
    this.pending = null;
    this.pass.inputs[0] = id;
    this.pass.forward();
    this.primed = true;
  }

  /** Logits for the character after everything fed so far. */
  get logits(): Float32Array {
    if (!this.primed) throw new Error('Generator.prime must feed at least one character first');
    if (this.pending !== null) this.feed(this.pending);
    return this.pass.logits;
  }

  /** Samples the next id (fed in before the next draw) and says how likely it was under the sampling distribution. */
  next(options: SamplingOptions, rng: Rng): { id: number; probability: number } {
    const id = sampleIndex(this.logits, options, rng, this.scratch);
    // The argmax path leaves no distribution behind; its pick is certain by construction.
    const probability = options.argmax || options.temperature === 0 ? 1 : this.scratch[id]!;
    this.pending = id;
    return { id, probability };
  }
}
