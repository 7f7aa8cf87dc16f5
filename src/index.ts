/**
 * charrnn as a library: load corpora and checkpoints, train and resume with events, sample, evaluate.
 * The CLI is a thin layer over these functions.
 */
import { resolve as resolvePath } from 'node:path';
import type { Checkpoint } from './checkpoint/format.js';
import { bestPath, readCheckpoint, samePath } from './checkpoint/io.js';
import { isObject } from './checkpoint/json.js';
import { createKernels, type KernelChoice } from './core/backend.js';
import { CharGenerator } from './core/generate.js';
import { allocating, type Kernels } from './core/kernels.js';
import { CharModel } from './core/model.js';
import { Rng } from './core/rng.js';
import { invalidOption, validateSamplingOptions, type OptionNamer, type SamplingOptions } from './core/sampling.js';
import { requireEvaluable } from './data/batches.js';
import { readCorpusIds, type Encoding } from './data/corpus.js';
import { Vocab, type TokenIds } from './data/vocab.js';
import { CharrnnError, EXIT } from './errors.js';
import { Evaluator, type EvalResult } from './train/evaluate.js';
import {
  checkSettings,
  resolveTrainOptions,
  resumeOverrides,
  RUN_SETTINGS,
  TRAIN_OPTIONS,
  withLegacyOptions,
  type ResumableOptions,
  type RunSettings,
  type TrainOptions,
} from './train/options.js';
import { fineTuneStart } from './train/fine-tune.js';
import { fingerprint, type TrainingState } from './train/state.js';
import type { TrainEvent, TrainSummary } from './train/events.js';
import { resume, train, type TrainData } from './train/trainer.js';

export { CharrnnError, EXIT } from './errors.js';
export type { CellType, ModelConfig } from './core/config.js';
export type { KernelChoice } from './core/backend.js';
export type { OptionNamer, SamplingOptions } from './core/sampling.js';
export type { EvalResult } from './train/evaluate.js';
export {
  DEFAULT_TRAIN_OPTIONS,
  PRESETS,
  TRAIN_OPTIONS,
  RUN_SETTINGS,
  type PresetName,
  type TrainOptions,
  type ResumableOptions,
  type RunSettings,
  type SettingRow,
} from './train/options.js';
export type { Encoding } from './data/corpus.js';
export type {
  CheckpointEvent,
  EvalEvent,
  ProgressEvent,
  SampleEvent,
  StartEvent,
  StopReason,
  TrainEvent,
  TrainSummary,
} from './train/events.js';
export type { Checkpoint } from './checkpoint/format.js';
export type { CorpusIdentity, HistoryPoint, Origin, TrainingState } from './train/state.js';
export type { TokenIds, Vocab } from './data/vocab.js';

/**
 * A text as token ids: each character's index in `vocab`, the sorted set of the text's code points.
 * Made by readCorpus or corpusFromText; `vocab.decode(ids)` gives the text back.
 */
export interface Corpus {
  /** Where it came from: a path, '-' for stdin, or the name given to corpusFromText. */
  readonly source: string;
  readonly vocab: Vocab;
  readonly ids: TokenIds;
}

/**
 * Reads a corpus file ('-' for stdin) as strict UTF-8 (or Latin-1), decoding it in chunks straight to
 * ids: memory holds about one byte per character (for a pipe, its bytes), never a string of the text.
 */
export function readCorpus(path: string, encoding: Encoding = 'utf8'): Corpus {
  return { source: path, ...readCorpusIds(path, encoding) };
}

/** A corpus from a string (its UTF-16 surrogate pairs are single characters). */
export function corpusFromText(text: string, source = 'text'): Corpus {
  const vocab = Vocab.fromText(text);
  return { source, vocab, ids: vocab.encode(text, source) };
}

function trainDataFor(corpus: Corpus, vocab: Vocab): TrainData {
  if (!isObject(corpus) || !(corpus.vocab instanceof Vocab) || !ArrayBuffer.isView(corpus.ids)) {
    throw new CharrnnError('the corpus must come from readCorpus(path) or corpusFromText(text)', 2);
  }
  const ids = vocab.translate(corpus.ids, corpus.vocab, corpus.source);
  return {
    vocab,
    ids,
    corpus: {
      path: corpus.source === '-' ? null : resolvePath(corpus.source),
      chars: ids.length,
      fingerprint: fingerprint(ids),
    },
  };
}

/** The settings of one call (output, timeLimitSeconds, kernel, threads: see RUN_SETTINGS), and where events go. */
export interface RunControl extends Partial<RunSettings> {
  onEvent?: (event: TrainEvent) => void;
  signal?: AbortSignal;
  /** How errors about the run's options name them: `options.hidden` by default (the CLI says `--hidden`). */
  optionName?: OptionNamer<keyof TrainOptions>;
}

const libraryOptionName: OptionNamer<keyof TrainOptions> = (option) => `options.${option}`;

/** Settings given as undefined count as not given. */
function given<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * `checkpoints/<corpus name without its extension>.json`; a hidden corpus (`.notes.txt`) still gives a
 * visible checkpoint (`notes.json`), which `sample` and `eval` find without -c.
 */
export function defaultOutputPath(source: string): string {
  const name = source === '-' ? 'stdin' : (source.split(/[\\/]/).pop() ?? '');
  const base = name.replace(/^\.+/, '').replace(/\.[^.]*$/, '') || 'corpus';
  return `checkpoints/${base}.json`;
}

/**
 * Trains a new model on a corpus; resolves when it finishes, runs out of time or is aborted. With
 * `initFrom` it fine-tunes that checkpoint's model: its shape and weights, with everything else fresh.
 */
export async function trainModel(
  corpus: Corpus,
  options: Partial<TrainOptions> = {},
  control: RunControl = {},
): Promise<TrainSummary> {
  checkSettings(TRAIN_OPTIONS, options, 'options.');
  const { onEvent, signal, optionName = libraryOptionName, ...settings } = control;
  checkSettings(RUN_SETTINGS, settings, 'control.');
  const chosen = given(options);
  const output = control.output ?? defaultOutputPath(corpus.source);
  const kernels = createKernels(control.kernel ?? 'auto');
  const { timeLimitSeconds, threads } = control;
  const request = { kernels, output, timeLimitSeconds, threads, onEvent, signal };
  const runOptions = resolveTrainOptions(chosen);
  const checkpointPath = chosen.initFrom;
  if (checkpointPath === undefined) {
    if (chosen.extendVocab) {
      throw new CharrnnError(`${optionName('extendVocab')} only applies with ${optionName('initFrom')}`, EXIT.usage);
    }
    return train({ ...request, data: trainDataFor(corpus, corpus.vocab) }, runOptions);
  }
  refuseOverwritingSource(checkpointPath, output);
  const checkpoint = readCheckpoint(checkpointPath);
  const sources = { checkpoint, checkpointPath, corpusVocab: corpus.vocab, corpusSource: corpus.source };
  const start = fineTuneStart(sources, runOptions, chosen, optionName);
  return train({ ...request, data: trainDataFor(corpus, start.vocab), initialWeights: start.weights }, start.options);
}

/** A fine-tuning run's checkpoints must not replace the one it starts from. */
function refuseOverwritingSource(checkpointPath: string, output: string): void {
  const source = resolvePath(checkpointPath);
  if (source === resolvePath(output) || source === resolvePath(bestPath(output))) {
    throw new CharrnnError(
      `the run would save over ${checkpointPath}, the checkpoint it starts from; choose another output path`,
      EXIT.usage,
    );
  }
}

/**
 * A resumed run may change its stopping points (iterations and epochs are totals for the run) and its
 * reporting (the resumable rows of TRAIN_OPTIONS), and the settings of the call.
 */
export interface ResumeOptions extends RunControl, Partial<ResumableOptions> {
  /**
   * The corpus to continue on: its text, or a path ('-' for stdin) read as the run read its corpus
   * (UTF-8 or Latin-1). Default: the path recorded in the checkpoint.
   */
  corpus?: Corpus | string;
}

/** Splits resume options into the call's settings and the run's changed options, checking both. */
function resumeSettings(options: ResumeOptions): { control: RunControl; overrides: Partial<ResumableOptions> } {
  const { corpus: _corpus, onEvent, signal, ...settings } = options;
  const control: Record<string, unknown> = {};
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) (key in RUN_SETTINGS ? control : changes)[key] = value;
  checkSettings(RUN_SETTINGS, control, 'options.');
  checkSettings(TRAIN_OPTIONS, changes, 'options.');
  return { control: { ...control, onEvent, signal }, overrides: resumeOverrides(changes) };
}

/** Continues a checkpointed run exactly where it stopped. */
export async function resumeTraining(checkpointPath: string, options: ResumeOptions = {}): Promise<TrainSummary> {
  const { control, overrides } = resumeSettings(options);
  const checkpoint = readCheckpoint(checkpointPath);
  if (checkpoint.trainingDamage !== undefined) throw new CharrnnError(checkpoint.trainingDamage);
  const state = checkpoint.training;
  if (!state) {
    throw new CharrnnError(
      `${checkpointPath} has no training state (it was written for sampling only); ` +
        'start a new run with: charrnn train CORPUS',
    );
  }
  const corpus = corpusToResume(options.corpus, state, checkpointPath);
  const data = trainDataFor(corpus, Vocab.fromSymbols(checkpoint.vocab));
  if (data.corpus.chars !== state.corpus.chars || data.corpus.fingerprint !== state.corpus.fingerprint) {
    throw new CharrnnError(
      `${corpus.source} is not the corpus this run was trained on ` +
        `(${data.corpus.chars} characters, fingerprint ${data.corpus.fingerprint}; ` +
        `the checkpoint expects ${state.corpus.chars}, ${state.corpus.fingerprint}); ` +
        'pass --corpus with the original file',
    );
  }
  const kernels = createKernels(control.kernel ?? 'auto');
  const resumedState: TrainingState = {
    ...state,
    options: { ...withLegacyOptions(state.options), ...overrides } as TrainOptions,
  };
  const tensors = Object.fromEntries(Object.entries(checkpoint.tensors).map(([name, tensor]) => [name, tensor.data]));
  const { timeLimitSeconds, threads, onEvent, signal } = control;
  const output = control.output ?? checkpointPath;
  const ownsBestOutput = samePath(output, checkpointPath);
  const request = { data, kernels, output, timeLimitSeconds, threads, onEvent, signal, ownsBestOutput };
  return resume(request, resumedState, tensors);
}

/** The corpus a run resumes on: the one given, or read from the path given or recorded, in the run's encoding. */
function corpusToResume(given: Corpus | string | undefined, state: TrainingState, checkpointPath: string): Corpus {
  if (typeof given === 'object') return given;
  const path = given ?? state.corpus.path;
  if (path === null) {
    throw new CharrnnError(
      `${checkpointPath} was trained on stdin; ` +
        'pass the same text again with --corpus FILE (or --corpus - to read stdin)',
      2,
    );
  }
  return readCorpus(path, state.options.encoding ?? 'utf8');
}

/** Characters stream() generates between turns of the event loop. */
const STREAM_TURN_CHARS = 256;

/** Steps per chunk when evaluate() runs a text through the model. */
const EVAL_CHUNK_STEPS = 256;

/** What to say when a loaded model's kernel memory runs out: only a smaller model needs less. */
const SMALLER_MODEL = 'a model with a smaller hidden size or fewer layers needs less';

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

  static async load(path: string, kernel: KernelChoice = 'auto'): Promise<LoadedModel> {
    const checkpoint = readCheckpoint(path);
    return LoadedModel.fromCheckpoint(checkpoint, createKernels(kernel));
  }

  static fromCheckpoint(checkpoint: Checkpoint, kernels: Kernels): LoadedModel {
    const model = new CharModel(checkpoint.model, kernels);
    model.load(Object.fromEntries(Object.entries(checkpoint.tensors).map(([name, tensor]) => [name, tensor.data])));
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
  checkSampleOptions(options: SampleOptions, nameOf: OptionNamer<SampleOptionName> = libraryName): void {
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

  private *generateChecked(options: SampleOptions): Generator<GeneratedChar, void, undefined> {
    const { topK, topP, argmax } = options;
    const sampling: SamplingOptions = { temperature: options.temperature ?? DEFAULT_TEMPERATURE, topK, topP, argmax };
    const rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    const prime = options.prime ? this.vocab.encode(options.prime, 'prime') : [Math.max(this.vocab.idOf(10), 0)];
    const generator = this.idleGenerators.pop() ?? this.newGenerator();
    try {
      generator.prime(prime);
      const stop = options.stop ?? '';
      let tail = '';
      for (let produced = 0; options.length === 0 || produced < options.length; produced++) {
        if (!generator.logits.every(Number.isFinite)) throw this.overflowError();
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

export interface SampleOptions extends Partial<SamplingOptions> {
  /** Characters to generate; 0 = endless (or until `stop`). */
  length: number;
  prime?: string;
  /** A whole number from 0 to 4294967295 (default: random). */
  seed?: number;
  /** End once this text has been generated (it is included); every character must be in the vocabulary. */
  stop?: string;
}

export type SampleOptionName = keyof SampleOptions;

const SAMPLE_OPTION_NAMES: readonly SampleOptionName[] = [
  'length',
  'temperature',
  'topK',
  'topP',
  'argmax',
  'prime',
  'seed',
  'stop',
];

/** The temperature when none is given, as the CLI's --temp. */
const DEFAULT_TEMPERATURE = 1;

const libraryName: OptionNamer<SampleOptionName> = (option) => option;

/**
 * Checks the sampling options that do not depend on a model (unknown names, length, seed, stop, prime,
 * temperature, topK, topP, argmax); a problem is a CharrnnError with exit code 2 naming the option as
 * `nameOf` calls it (the library's names by default).
 */
export function validateSampleOptions(
  options: SampleOptions,
  nameOf: OptionNamer<SampleOptionName> = libraryName,
): void {
  if (!isObject(options)) {
    throw new CharrnnError(`sample options must be an object such as { length: 200 }, not ${String(options)}`, 2);
  }
  const unknown = Object.keys(options).find((name) => !SAMPLE_OPTION_NAMES.includes(name as SampleOptionName));
  if (unknown !== undefined) {
    throw new CharrnnError(`unknown sample option ${unknown}; the options are ${SAMPLE_OPTION_NAMES.join(', ')}`, 2);
  }
  const { length, seed, stop, prime } = options;
  if (!(Number.isSafeInteger(length) && length >= 0)) {
    throw invalidOption(nameOf('length'), length, 'a whole number (0 = endless)');
  }
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
    throw invalidOption(nameOf('seed'), seed, 'a whole number from 0 to 4294967295');
  }
  if (stop !== undefined && !(typeof stop === 'string' && stop !== '')) {
    throw invalidOption(nameOf('stop'), stop, 'a non-empty string');
  }
  if (prime !== undefined && typeof prime !== 'string') throw invalidOption(nameOf('prime'), prime, 'a string');
  validateSamplingOptions({ ...options, temperature: options.temperature ?? DEFAULT_TEMPERATURE }, nameOf);
}

export interface GeneratedChar {
  char: string;
  /** The probability it had under the sampling distribution (after temperature, top-k, top-p). */
  probability: number;
}

export { createKernels };
