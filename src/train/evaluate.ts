/**
 * Mean cross-entropy of a model over a token sequence: the validation loss and `charrnn eval`. One chunk
 * loop (validationChunks) serves both who run it: Evaluator, one pass at once; and DataParallelStep,
 * every thread's group of streams, awaited.
 */
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

/** One chunk validation asks for: forward over its first `steps` rows, from a zero state when `first`. */
export interface ValidationChunk {
  steps: number;
  first: boolean;
}

/**
 * Validation's chunk loop. Cuts a token sequence into `batch` contiguous streams (as training does) and
 * writes them in chunks of up to `seqLength` steps into `chunk` (time-major); each yield asks the caller
 * to run that chunk, carrying the hidden state from zero, and `next()` takes back the chunk's summed row
 * losses, added in chunk order. Returns the loss averaged over every prediction. With batch 1 every
 * character after the first is predicted from all before it. A generator, so that one loop serves a
 * caller that runs a chunk at once and one that waits for threads.
 */
export function* validationChunks(
  ids: TokenIds,
  batch: number,
  seqLength: number,
  chunk: { inputs: Int32Array; targets: Int32Array },
): Generator<ValidationChunk, EvalResult, number> {
  const streamLength = Math.floor((ids.length - 1) / batch);
  if (streamLength < 1) return { chars: 0, loss: NaN, bpc: NaN };
  let totalLoss = 0;
  for (let position = 0; position < streamLength; position += seqLength) {
    const steps = Math.min(seqLength, streamLength - position);
    fillStreams(ids, { batch, streamLength, position, steps }, chunk.inputs, chunk.targets);
    totalLoss += yield { steps, first: position === 0 };
  }
  const chars = streamLength * batch;
  const loss = totalLoss / chars;
  return { chars, loss, bpc: loss / Math.LN2 };
}

/**
 * Validation on the calling thread, in one inference pass allocated up front and reused by every call
 * (kernel memory is never freed).
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
    const chunks = validationChunks(ids, this.batch, this.seqLength, this.pass);
    let chunk = chunks.next();
    while (!chunk.done) chunk = chunks.next(this.chunkLoss(chunk.value));
    return chunk.value;
  }

  private chunkLoss({ steps, first }: ValidationChunk): number {
    const { pass } = this;
    if (first) pass.resetCarried();
    pass.forward(steps);
    return pass.loss(steps) * this.batch * steps;
  }
}

interface StreamWindow {
  batch: number;
  streamLength: number;
  position: number;
  steps: number;
}

/** Stream b of the text is ids[b·streamLength ...]: copies the window's steps into a time-major chunk. */
function fillStreams(ids: TokenIds, window: StreamWindow, inputs: Int32Array, targets: Int32Array): void {
  const { batch, streamLength, position, steps } = window;
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const at = b * streamLength + position + t;
      inputs[t * batch + b] = ids[at]!;
      targets[t * batch + b] = ids[at + 1]!;
    }
  }
}
