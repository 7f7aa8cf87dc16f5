/**
 * charrnn as a library: load corpora and checkpoints, train and resume with events, sample, evaluate.
 * The CLI is a thin layer over these functions.
 */
import { resolve as resolvePath } from 'node:path';
import type { Checkpoint } from './checkpoint/format.js';
import { readCheckpoint } from './checkpoint/io.js';
import { createKernels, type KernelChoice } from './core/backend.js';
import { CharGenerator } from './core/generate.js';
import type { Kernels } from './core/kernels.js';
import { CharModel } from './core/model.js';
import { Rng } from './core/rng.js';
import { validateSamplingOptions, type SamplingOptions } from './core/sampling.js';
import { decodeCorpus, readCorpusBytes } from './data/corpus.js';
import { Vocab, type TokenIds } from './data/vocab.js';
import { CharrnnError } from './errors.js';
import { Evaluator, type EvalResult } from './train/evaluate.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './train/options.js';
import { decodeTrainingState, fingerprint, type TrainingState } from './train/state.js';
import { resume, train, type TrainData, type TrainEvent, type TrainSummary } from './train/trainer.js';

export { CharrnnError, EXIT } from './errors.js';
export type { CellType, ModelConfig } from './core/config.js';
export type { KernelChoice } from './core/backend.js';
export type { SamplingOptions } from './core/sampling.js';
export type { EvalResult } from './train/evaluate.js';
export { DEFAULT_TRAIN_OPTIONS, PRESETS, type PresetName, type TrainOptions } from './train/options.js';
export type { TrainEvent, TrainSummary, StopReason } from './train/trainer.js';
export type { Checkpoint } from './checkpoint/format.js';

export type Encoding = 'utf8' | 'latin1';

export interface Corpus {
  text: string;
  /** Where it came from: a path, or '-' for stdin. */
  source: string;
}

/** Reads a corpus file ('-' for stdin) as strict UTF-8 (or Latin-1). */
export function readCorpus(path: string, encoding: Encoding = 'utf8'): Corpus {
  return { text: decodeCorpus(readCorpusBytes(path), path, encoding), source: path };
}

function trainDataFor(corpus: Corpus, vocab: Vocab): TrainData {
  const ids = vocab.encode(corpus.text, corpus.source);
  return {
    vocab,
    ids,
    corpus: { path: corpus.source === '-' ? null : resolvePath(corpus.source), chars: ids.length, fingerprint: fingerprint(ids) },
  };
}

export interface RunControl {
  /** Checkpoint path (default: checkpoints/<corpus name>.json). */
  output?: string;
  /** Stop after this many seconds of this call. */
  timeLimitSeconds?: number;
  kernel?: KernelChoice;
  /** Threads computing the batch shards (default: one per core, up to the shard count); results do not depend on it. */
  threads?: number;
  onEvent?: (event: TrainEvent) => void;
  signal?: AbortSignal;
}

export function defaultOutputPath(source: string): string {
  const base = source === '-' ? 'stdin' : (source.split(/[\\/]/).pop() ?? 'corpus').replace(/\.[^.]*$/, '') || 'corpus';
  return `checkpoints/${base}.json`;
}

/** Trains a new model on a corpus; resolves when it finishes, runs out of time or is aborted. */
export async function trainModel(corpus: Corpus, options: Partial<TrainOptions> = {}, control: RunControl = {}): Promise<TrainSummary> {
  const data = trainDataFor(corpus, Vocab.fromText(corpus.text));
  const output = control.output ?? defaultOutputPath(corpus.source);
  const kernels = createKernels(control.kernel ?? 'auto');
  return train({ data, kernels, output, timeLimitSeconds: control.timeLimitSeconds, threads: control.threads, onEvent: control.onEvent, signal: control.signal }, { ...DEFAULT_TRAIN_OPTIONS, ...options });
}

export interface ResumeOptions extends RunControl {
  /** The corpus to continue on (default: the path recorded in the checkpoint). */
  corpus?: Corpus;
  /** New stopping points (absolute: the total iterations / epochs of the run). */
  iterations?: number;
  epochs?: number;
  /** Other settings that do not change the weights may be changed on resume. */
  evalEvery?: number;
  saveEvery?: number;
  sampleEvery?: number;
}

/** Continues a checkpointed run exactly where it stopped. */
export async function resumeTraining(checkpointPath: string, options: ResumeOptions = {}): Promise<TrainSummary> {
  const checkpoint = readCheckpoint(checkpointPath);
  if (!checkpoint.training) {
    throw new CharrnnError(`${checkpointPath} has no training state (it was written for sampling only); start a new run with: charrnn train CORPUS`);
  }
  const state = decodeTrainingState(checkpoint.training, checkpointPath);
  const corpus = options.corpus ?? recordedCorpus(state, checkpointPath);
  const data = trainDataFor(corpus, Vocab.fromSymbols(checkpoint.vocab));
  if (data.corpus.chars !== state.corpus.chars || data.corpus.fingerprint !== state.corpus.fingerprint) {
    throw new CharrnnError(`${corpus.source} is not the corpus this run was trained on (${data.corpus.chars} characters, fingerprint ${data.corpus.fingerprint}; the checkpoint expects ${state.corpus.chars}, ${state.corpus.fingerprint}); pass --corpus with the original file`);
  }
  const overrides: Partial<TrainOptions> = {};
  if (options.iterations !== undefined) overrides.iterations = options.iterations;
  if (options.epochs !== undefined) overrides.epochs = options.epochs;
  if (options.evalEvery !== undefined) overrides.evalEvery = options.evalEvery;
  if (options.saveEvery !== undefined) overrides.saveEvery = options.saveEvery;
  if (options.sampleEvery !== undefined) overrides.sampleEvery = options.sampleEvery;
  const kernels = createKernels(options.kernel ?? 'auto');
  const resumedState: TrainingState = { ...state, options: { ...state.options, ...overrides } };
  const tensors = Object.fromEntries(Object.entries(checkpoint.tensors).map(([name, tensor]) => [name, tensor.data]));
  return resume(
    { data, kernels, output: options.output ?? checkpointPath, timeLimitSeconds: options.timeLimitSeconds, threads: options.threads, onEvent: options.onEvent, signal: options.signal },
    resumedState,
    tensors,
  );
}

function recordedCorpus(state: TrainingState, checkpointPath: string): Corpus {
  if (state.corpus.path === null) {
    throw new CharrnnError(`${checkpointPath} was trained on stdin; pass the same text again with --corpus FILE (or --corpus - to read stdin)`, 2);
  }
  return readCorpus(state.corpus.path, state.options.encoding ?? 'utf8');
}

/** Characters stream() generates between turns of the event loop. */
const STREAM_TURN_CHARS = 256;

/** A loaded model, ready to sample and evaluate. */
export class LoadedModel {
  readonly vocab: Vocab;

  private constructor(readonly checkpoint: Checkpoint, readonly model: CharModel) {
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
    const unknown = [...new Set([...prime].filter((char) => this.vocab.idOf(char.codePointAt(0)!) < 0))];
    if (unknown.length > 0) {
      throw new CharrnnError(`--prime has characters the model never saw: ${unknown.map((char) => JSON.stringify(char)).join(', ')}; the vocabulary is listed by: charrnn info CHECKPOINT`, 2);
    }
    return this.vocab.encode(prime, '--prime');
  }

  /**
   * Generates characters one by one (endless when length is 0), each with the probability it was drawn
   * with. Without a prime the model starts from a zero state after a newline (or its first symbol when
   * the vocabulary has no newline). With `stop`, generation ends once that text has been produced.
   */
  *generate(options: SampleOptions): Generator<GeneratedChar, void, undefined> {
    validateSamplingOptions(options);
    const generator = new CharGenerator(this.model);
    const rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    const prime = options.prime ? this.encodePrime(options.prime) : [Math.max(this.vocab.idOf(10), 0)];
    generator.prime(prime);
    const stop = options.stop ?? '';
    let tail = '';
    for (let produced = 0; options.length === 0 || produced < options.length; produced++) {
      const { id, probability } = generator.next(options, rng);
      const char = this.vocab.symbols[id]!;
      yield { char, probability };
      if (stop) {
        tail = (tail + char).slice(-stop.length);
        if (tail === stop) return;
      }
    }
  }

  /**
   * The characters of generate() as an async iterable that lets the event loop run every few hundred
   * characters, so an endless stream in a server or UI does not starve timers and I/O.
   */
  async *stream(options: SampleOptions): AsyncGenerator<GeneratedChar, void, undefined> {
    let produced = 0;
    for (const generated of this.generate(options)) {
      yield generated;
      if (++produced % STREAM_TURN_CHARS === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Generates a whole string (length must be finite, or a stop string given). */
  sample(options: SampleOptions): string {
    if (options.length === 0 && !options.stop) throw new CharrnnError('sample() needs a finite length or a stop string; use generate() for an endless stream', 2);
    let text = '';
    for (const { char } of this.generate(options)) text += char;
    return text;
  }

  /** Mean loss of predicting each character of `text` from those before it, one stream from a zero state. */
  evaluate(text: string, source = 'text'): EvalResult {
    const ids = this.vocab.encode(text, source);
    return new Evaluator(this.model, 1, 256).evaluate(ids);
  }
}

export interface SampleOptions extends SamplingOptions {
  /** Characters to generate; 0 = endless (or until `stop`). */
  length: number;
  prime?: string;
  seed?: number;
  /** End once this text has been generated (it is included). */
  stop?: string;
}

export interface GeneratedChar {
  char: string;
  /** The probability it had under the sampling distribution (after temperature, top-k, top-p). */
  probability: number;
}

export function loadCheckpointFile(path: string): Checkpoint {
  return readCheckpoint(path);
}

export { createKernels };
