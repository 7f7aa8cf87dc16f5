/** Mean cross-entropy of a model over a token sequence: the validation loss and `charrnn eval`. */
import type { CharModel, ModelPass } from '../core/model.js';
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
 * Passes are allocated once and reused (kernel memory is never freed).
 */
export class Evaluator {
  private readonly passes = new Map<number, ModelPass>();

  constructor(private readonly model: CharModel, private readonly batch: number, private readonly seqLength: number) {}

  evaluate(ids: TokenIds): EvalResult {
    const { batch } = this;
    const streamLength = Math.floor((ids.length - 1) / batch);
    if (streamLength < 1) return { chars: 0, loss: NaN, bpc: NaN };
    let totalLoss = 0;
    let previous: ModelPass | undefined;
    for (let position = 0; position < streamLength; ) {
      const steps = Math.min(this.seqLength, streamLength - position);
      const pass = this.passFor(steps);
      if (previous === undefined) pass.resetState();
      else if (previous !== pass) copyState(previous, pass);
      fillStreams(ids, batch, streamLength, position, steps, pass.inputs, pass.targets);
      pass.forward();
      totalLoss += pass.loss() * batch * steps;
      position += steps;
      previous = pass;
    }
    const chars = streamLength * batch;
    const loss = totalLoss / chars;
    return { chars, loss, bpc: loss / Math.LN2 };
  }

  private passFor(steps: number): ModelPass {
    let pass = this.passes.get(steps);
    if (!pass) {
      pass = this.model.createPass(this.batch, steps);
      this.passes.set(steps, pass);
    }
    return pass;
  }
}

function copyState(from: ModelPass, to: ModelPass): void {
  to.state.forEach((layerState, layer) => {
    layerState.h.set(from.state[layer]!.h);
    layerState.c?.set(from.state[layer]!.c!);
  });
}

function fillStreams(ids: TokenIds, batch: number, streamLength: number, position: number, steps: number, inputs: Int32Array, targets: Int32Array): void {
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const at = b * streamLength + position + t;
      inputs[t * batch + b] = ids[at]!;
      targets[t * batch + b] = ids[at + 1]!;
    }
  }
}
