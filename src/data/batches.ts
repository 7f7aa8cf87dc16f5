/**
 * char-rnn's data pipeline: hold out the end for validation, cut the training ids into B contiguous
 * streams, and serve chunks of T steps, time-major, in order (the hidden state carries across them).
 */
import { CharrnnError } from '../errors.js';
import type { TokenIds } from './vocab.js';

/** The last `valFrac` of the ids (rounded down) for validation, the rest for training; views, no copies. */
export function splitTrainVal(ids: TokenIds, valFrac: number): { train: TokenIds; val: TokenIds } {
  const valLength = Math.floor(ids.length * valFrac);
  return { train: ids.subarray(0, ids.length - valLength), val: ids.subarray(ids.length - valLength) };
}

/** The fewest training characters that give one chunk of `batch` streams × `seqLength` steps. */
export function minimumLength(batch: number, seqLength: number): number {
  return batch * seqLength + 1;
}

/** The fewest characters a text needs to be evaluated: each after the first is predicted from those before it. */
export const MIN_EVAL_CHARS = 2;

/** Refuses a text too short to evaluate, which would otherwise give a loss of NaN. */
export function requireEvaluable(ids: TokenIds, source: string): void {
  if (ids.length >= MIN_EVAL_CHARS) return;
  throw new CharrnnError(
    `${source} is too short to evaluate: it has ${ids.length} character${ids.length === 1 ? '' : 's'}, ` +
      'and each character after the first is predicted from those before it, ' +
      `so it needs at least ${MIN_EVAL_CHARS}`,
  );
}

export class StreamBatcher {
  /** Characters per stream (n): stream b covers ids[b·n, (b+1)·n], targets shifted by one. */
  readonly streamLength: number;
  readonly chunksPerEpoch: number;

  constructor(
    private readonly ids: TokenIds,
    readonly batch: number,
    readonly seqLength: number,
  ) {
    this.streamLength = Math.floor((ids.length - 1) / batch);
    this.chunksPerEpoch = Math.floor(this.streamLength / seqLength);
    if (this.chunksPerEpoch < 1) {
      throw new CharrnnError(
        `the training text (${ids.length} characters after holding out validation) is too short ` +
          `for --batch ${batch} × --seq ${seqLength}: ` +
          `it needs at least ${minimumLength(batch, seqLength)}; lower --batch or --seq, or use a longer corpus`,
        2,
      );
    }
  }

  /** The ids streams [from, to) cover, the last one's final target included (a copy of the training text keeps only these). */
  streamIds(from: number, to: number): TokenIds {
    return this.ids.subarray(from * this.streamLength, to * this.streamLength + 1);
  }

  /** Fills inputs[t·B + b] = stream b at step chunk·T + t, and the targets one character later. */
  fillChunk(chunk: number, inputs: Int32Array, targets: Int32Array): void {
    const { batch, seqLength, streamLength, ids } = this;
    const offset = chunk * seqLength;
    for (let b = 0; b < batch; b++) {
      const streamStart = b * streamLength + offset;
      for (let t = 0; t < seqLength; t++) {
        inputs[t * batch + b] = ids[streamStart + t]!;
        targets[t * batch + b] = ids[streamStart + t + 1]!;
      }
    }
  }
}
