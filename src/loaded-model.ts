/** A model loaded from a checkpoint, ready to sample and evaluate. */
import { tensorData } from './checkpoint/format.js';
import { createKernels, type KernelChoice } from './core/backend.js';
import { CharGenerator } from './core/generate.js';
import { allocating, type Kernels } from './core/kernels.js';
import { CharModel } from './core/model.js';
import { Rng } from './core/rng.js';
import type { SamplingOptions } from './core/sampling.js';
import { requireEvaluable } from './data/batches.js';
import { Vocab, type TokenIds } from './data/vocab.js';
import { CharrnnError } from './errors.js';
import { loadCheckpoint, type Checkpoint } from './train/checkpoint.js';
import type { Corpus } from './train/corpus.js';
import { Evaluator, type EvalResult } from './train/evaluate.js';
import {
  SAMPLE_OPTIONS,
  sampleOptionName,
  validateSampleOptions,
  type SampleOptionName,
  type SampleOptions,
} from './sample-options.js';
import { checkSettings, defaultsOf, definedOnly, type OptionNamer } from './settings.js';
import { RUN_SETTINGS } from './train/options.js';

/** Characters stream() generates between turns of the event loop. */
const STREAM_TURN_CHARS = 256;

/** Steps per chunk when evaluate() runs a text through the model. */
const EVAL_CHUNK_STEPS = 256;

/** What to say when a loaded model's kernel memory runs out: only a smaller model needs less. */
const SMALLER_MODEL = 'a model with a smaller hidden size or fewer layers needs less';

/** A plain loop: TypedArray.prototype.every calls back per element, which costs more than a sampling step's draw. */
function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

/**
 * A loaded model, ready to sample and evaluate. Its inference state (the passes generate() and
 * evaluate() run) is allocated on first use and reused by every later call, since kernel memory is
 * never freed; generate() iterators alive at the same time each hold their own.
 */
export class LoadedModel {
  readonly vocab: Vocab;
  /** Generators not in use by a live generate() iterator. */
  private readonly idleGenerators: CharGenerator[] = [];
  private evaluator: Evaluator | undefined;

  private constructor(
    readonly checkpoint: Checkpoint,
    readonly model: CharModel,
  ) {
    this.vocab = Vocab.fromSymbols(checkpoint.vocab);
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

  /** Ids of a prime text; a character outside the vocabulary is an error naming it. */
  encodePrime(prime: string): TokenIds {
    this.checkVocabulary(prime, 'prime', 'prime');
    return this.vocab.encode(prime, 'prime');
  }

  /**
   * Checks sampling options against this model: those validateSampleOptions() checks, then the prime and
   * stop texts against the vocabulary (a stop text the model cannot write would never end an endless stream).
   * Errors name each option as `nameOf` calls it: the library's names by default, flags in the CLI.
   */
  checkSampleOptions(options: SampleOptions, nameOf: OptionNamer<SampleOptionName> = sampleOptionName): void {
    validateSampleOptions(options, nameOf);
    if (options.prime !== undefined) this.checkVocabulary(options.prime, nameOf('prime'), 'prime');
    if (options.stop !== undefined) this.checkVocabulary(options.stop, nameOf('stop'), 'stop');
  }

  private checkVocabulary(text: string, name: string, role: 'prime' | 'stop'): void {
    const unknown = [...new Set([...text].filter((char) => this.vocab.idOf(char.codePointAt(0)!) < 0))];
    if (unknown.length === 0) return;
    const consequence = role === 'stop' ? ', so it could never be generated' : '';
    const listed = unknown.map((char) => JSON.stringify(char)).join(', ');
    const hint = 'the vocabulary is listed by: charrnn info CHECKPOINT';
    throw new CharrnnError(`${name} has characters the model never saw: ${listed}${consequence}; ${hint}`, 2);
  }

  /**
   * Generates characters one by one (endless when length is 0), each with the probability it was drawn
   * with. Without a prime the model starts from a zero state after a newline (or its first symbol when
   * the vocabulary has no newline). With `stop`, generation ends once that text has been produced.
   * The options are checked at once, before the first character is asked for.
   */
  generate(options: SampleOptions): Generator<GeneratedChar, void, undefined> {
    this.checkSampleOptions(options);
    // A copy, so that changing the options object later cannot bypass the check.
    return this.generateChecked({ ...options });
  }

  private *generateChecked(given: SampleOptions): Generator<GeneratedChar, void, undefined> {
    const options = { ...defaultsOf(SAMPLE_OPTIONS), ...definedOnly(given) };
    const { temperature, topK, topP, argmax } = options;
    const sampling: SamplingOptions = { temperature, topK, topP, argmax };
    const rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    const prime = options.prime ? this.vocab.encode(options.prime, 'prime') : [Math.max(this.vocab.idOf(10), 0)];
    const generator = this.idleGenerators.pop() ?? this.newGenerator();
    try {
      generator.prime(prime);
      const stop = options.stop ?? '';
      let tail = '';
      for (let produced = 0; options.length === 0 || produced < options.length; produced++) {
        if (!allFinite(generator.logits)) throw this.overflowError();
        const { id, probability } = generator.next(sampling, rng);
        const char = this.vocab.symbols[id]!;
        yield { char, probability };
        if (stop) {
          tail = (tail + char).slice(-stop.length);
          if (tail === stop) return;
        }
      }
    } finally {
      this.idleGenerators.push(generator);
    }
  }

  private newGenerator(): CharGenerator {
    return allocating('sampling', SMALLER_MODEL, () => new CharGenerator(this.model, { fixedWeights: true }));
  }

  /**
   * The characters of generate() as an async iterable that lets the event loop run every few hundred
   * characters, so an endless stream in a server or UI does not starve timers and I/O. The options are
   * checked at once.
   */
  stream(options: SampleOptions): AsyncGenerator<GeneratedChar, void, undefined> {
    return yieldingTurns(this.generate(options));
  }

  /** Generates a whole string (length must be finite, or a stop string given). */
  sample(options: SampleOptions): string {
    const chars = this.generate(options);
    if (options.length === 0 && !options.stop)
      throw new CharrnnError(
        'sample() needs a finite length or a stop string; use generate() for an endless stream',
        2,
      );
    let text = '';
    for (const { char } of chars) text += char;
    return text;
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
      SMALLER_MODEL,
      () => new Evaluator(this.model, 1, EVAL_CHUNK_STEPS, { fixedWeights: true }),
    );
    const result = this.evaluator.evaluate(ids);
    // One check at the end: only an overflow makes the mean loss of finite weights infinite or NaN.
    if (!Number.isFinite(result.loss)) throw this.overflowError();
    return result;
  }

  /** Finite weights whose products overflow 32-bit floats: the model's outputs are not numbers. */
  private overflowError(): CharrnnError {
    let largest = 0;
    for (const tensor of this.model.tensors.values()) for (const x of tensor) largest = Math.max(largest, Math.abs(x));
    return new CharrnnError(
      `the model's outputs overflow 32-bit floats (its largest weight is ${largest.toPrecision(2)}), so it gives ` +
        'no probabilities; use an earlier checkpoint of the run, or train again with a lower --lr',
    );
  }
}

async function* yieldingTurns(chars: Iterable<GeneratedChar>): AsyncGenerator<GeneratedChar, void, undefined> {
  let produced = 0;
  for (const generated of chars) {
    yield generated;
    if (++produced % STREAM_TURN_CHARS === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export interface GeneratedChar {
  char: string;
  /** The probability it had under the sampling distribution (after temperature, top-k, top-p). */
  probability: number;
}
