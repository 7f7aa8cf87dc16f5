/** A model loaded from a checkpoint, ready to sample and evaluate. */
import { tensorData } from './checkpoint/format.js';
import { createKernels, type KernelChoice } from './core/backend.js';
import { allocating, type Kernels } from './core/kernels.js';
import { CharModel } from './core/model.js';
import { requireEvaluable } from './data/batches.js';
import { SamplingModel, type SamplingSide } from './sampling-model.js';
import { checkSettings } from './settings.js';
import { loadCheckpoint, type Checkpoint } from './train/checkpoint.js';
import type { Corpus } from './train/corpus.js';
import { Evaluator, type EvalResult } from './train/evaluate.js';
import { RUN_SETTINGS } from './train/options.js';

/** Steps per chunk when evaluate() runs a text through the model. */
const EVAL_CHUNK_STEPS = 256;

/** Node's side of sampling: setImmediate lets timers and I/O run; only a smaller model needs less memory. */
const NODE_SIDE: SamplingSide = {
  nextTurn: () => new Promise<void>((resolve) => setImmediate(resolve)),
  charsPerTurn: 256,
  vocabularyHint: 'the vocabulary is listed by: charrnn info CHECKPOINT',
  memoryHint: 'a model with a smaller hidden size or fewer layers needs less',
};

/**
 * A model loaded from a checkpoint, ready to sample (SamplingModel, shared with the browser) and to
 * evaluate. Its evaluation pass is allocated on first use and reused, since kernel memory is never freed.
 */
export class LoadedModel extends SamplingModel {
  private evaluator: Evaluator | undefined;

  private constructor(
    readonly checkpoint: Checkpoint,
    model: CharModel,
  ) {
    super(model, checkpoint.vocab, NODE_SIDE);
  }

  /** Reads the checkpoint at `path` ('-' for stdin) onto the kernels asked for (`kernel`, as RUN_SETTINGS.kernel). */
  static async load(path: string, kernel: KernelChoice = 'auto'): Promise<LoadedModel> {
    checkSettings({ kernel: RUN_SETTINGS.kernel }, { kernel }, (option) => option);
    const checkpoint = loadCheckpoint(path);
    return LoadedModel.fromCheckpoint(checkpoint, createKernels(kernel));
  }

  static fromCheckpoint(checkpoint: Checkpoint, kernels: Kernels): LoadedModel {
    const model = new CharModel(checkpoint.model, kernels);
    model.load(tensorData(checkpoint));
    return new LoadedModel(checkpoint, model);
  }

  /**
   * Mean loss of predicting each character of a text (or corpus) from those before it, one stream from a
   * zero state. A text of fewer than 2 characters is an error.
   */
  evaluate(text: string | Corpus, source = 'text'): EvalResult {
    const ids =
      typeof text === 'string'
        ? this.vocab.encode(text, source)
        : this.vocab.translate(text.ids, text.vocab, text.source);
    requireEvaluable(ids, typeof text === 'string' ? source : text.source);
    this.evaluator ??= allocating(
      'evaluating a text',
      NODE_SIDE.memoryHint,
      () => new Evaluator(this.model, 1, EVAL_CHUNK_STEPS, { fixedWeights: true }),
    );
    const result = this.evaluator.evaluate(ids);
    // One check at the end: only an overflow makes the mean loss of finite weights infinite or NaN.
    if (!Number.isFinite(result.loss)) throw this.overflowError();
    return result;
  }
}
