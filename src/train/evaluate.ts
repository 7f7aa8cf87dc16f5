/** Mean cross-entropy of a model over a token sequence: the validation loss and `charrnn eval`. */
import type { CharModel } from '../core/model.js';
import type { InferencePass } from '../core/passes.js';
import type { TokenIds } from '../data/vocab.js';

export interface EvalResult {
  /** Characters predicted (each from the ones before it in its stream). */
  chars: number;
  /** Mean loss in nats per character. */
  loss: number;
  bpc: number;
}

/**
 * Cuts a token sequence into `batch` contiguous streams (as training does), runs them in chunks of up
 * to `seqLength` steps with the hidden state carried from zero, and averages the loss over every
 * prediction. With batch 1 every character after the first is predicted from all before it.
 * One inference pass is allocated up front and reused by every call (kernel memory is never freed).
 */
export class Evaluator {
  private readonly pass: InferencePass;

  /** `fixedWeights`: the model's weights will not change while this evaluator lives (a loaded model). */
  constructor(
    model: CharModel,
    private readonly batch: number,
    private readonly seqLength: number,
    options: { fixedWeights?: boolean } = {},
  ) {
    this.pass = model.createInferencePass(batch, seqLength, options);
  }

  evaluate(ids: TokenIds): EvalResult {
    const { batch, pass } = this;
    const streamLength = Math.floor((ids.length - 1) / batch);
    if (streamLength < 1) return { chars: 0, loss: NaN, bpc: NaN };
    let totalLoss = 0;
    pass.resetCarried();
    for (let position = 0; position < streamLength; ) {
      const steps = Math.min(this.seqLength, streamLength - position);
      fillStreams(ids, { batch, streamLength, position, steps }, pass.inputs, pass.targets);
      pass.forward(steps);
      totalLoss += pass.loss(steps) * batch * steps;
      position += steps;
    }
    const chars = streamLength * batch;
    const loss = totalLoss / chars;
    return { chars, loss, bpc: loss / Math.LN2 };
  }
}

export interface StreamWindow {
  batch: number;
  streamLength: number;
  position: number;
  steps: number;
}

/** Stream b of the text is ids[b·streamLength ...]: copies the window's steps into a time-major chunk. */
export function fillStreams(ids: TokenIds, window: StreamWindow, inputs: Int32Array, targets: Int32Array): void {
  const { batch, streamLength, position, steps } = window;
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const at = b * streamLength + position + t;
      inputs[t * batch + b] = ids[at]!;
      targets[t * batch + b] = ids[at + 1]!;
    }
  }
}
