/**
 * charrnn as a library: load corpora and checkpoints, train and resume with events, sample, evaluate.
 * The CLI is a thin layer over these functions. This file composes: options are checked here, at the
 * library's edge, before any file is read; train/ does the rest.
 */
import { checkRunFiles, fileIdentity } from './checkpoint/run-files.js';
import { createKernels, nativeUnavailableReason } from './core/backend.js';
import { readCorpus, trainDataFor, type Corpus } from './train/corpus.js';
import type { TrainSummary, TrainEvent } from './train/events.js';
import { fineTuneStart } from './train/fine-tune.js';
import {
  checkSettings,
  newRunOptions,
  resumeOverrides,
  RUN_SETTINGS,
  TRAIN_OPTIONS,
  type NewRunOptions,
  type ResumableOptions,
  type RunOptionNamer,
  type RunSettings,
} from './train/options.js';
import { savedRun } from './train/resume.js';
import { resume, train } from './train/trainer.js';

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
  type NewRunOptions,
  type PresetName,
  type RunOptionName,
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
export type { Checkpoint } from './train/checkpoint.js';
export type { CorpusIdentity, HistoryPoint, Origin, TrainingState } from './train/state.js';
export type { TokenIds, Vocab } from './data/vocab.js';
export { corpusFromText, readCorpus, type Corpus } from './train/corpus.js';
export {
  LoadedModel,
  validateSampleOptions,
  type GeneratedChar,
  type SampleOptionName,
  type SampleOptions,
} from './loaded-model.js';
export { createKernels, nativeUnavailableReason };

/** The settings of one call (output, timeLimitSeconds, kernel, threads: see RUN_SETTINGS), and where events go. */
export interface RunControl extends Partial<RunSettings> {
  onEvent?: (event: TrainEvent) => void;
  signal?: AbortSignal;
  /**
   * How errors about the run's options and settings name them: `options.hidden` and `control.output` by
   * default (the CLI says `--hidden` and `--output`).
   */
  optionName?: RunOptionNamer;
  /**
   * Where the caller writes the run's log (the library never writes it): checked with the run's other
   * files, so it is never the corpus, a checkpoint, or the checkpoint the run starts from.
   */
  log?: string;
}

/** The library's names: a run's options under `options.`, the settings of the call under `control.`. */
const trainModelName: RunOptionNamer = (option) => (option in RUN_SETTINGS ? `control.${option}` : `options.${option}`);

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
 * Trains a new model on a corpus (a Corpus, or a path read once the options are checked, in their
 * `encoding`); resolves when it finishes, runs out of time or is aborted. `options.preset` starts from a
 * named recipe. With `initFrom` it fine-tunes that checkpoint's model: its shape and weights, with
 * everything else fresh.
 */
export async function trainModel(
  corpus: Corpus | string,
  options: NewRunOptions = {},
  control: RunControl = {},
): Promise<TrainSummary> {
  const { onEvent, signal, optionName = trainModelName, log, ...settings } = control;
  const run = newRunOptions(options, optionName);
  checkSettings(RUN_SETTINGS, settings, optionName);
  const source = typeof corpus === 'string' ? corpus : corpus.source;
  const output = settings.output ?? defaultOutputPath(source);
  checkRunFiles({ corpus: source, initFrom: run.options.initFrom, checkpoint: output, log });
  const text = typeof corpus === 'string' ? readCorpus(corpus, run.options.encoding) : corpus;
  const kernels = createKernels(settings.kernel ?? 'auto');
  const request = { kernels, output, timeLimitSeconds: settings.timeLimitSeconds, threads: settings.threads };
  const events = { onEvent, signal };
  if (run.options.initFrom === undefined) {
    return train({ ...request, ...events, data: trainDataFor(text, text.vocab) }, run.options);
  }
  const start = fineTuneStart(run, text, optionName);
  return train({ ...request, ...events, data: start.data, initialWeights: start.weights }, start.options);
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

/** The library's names for resume: every option and setting under `options.`. */
const resumeName: RunOptionNamer = (option) => `options.${option}`;

/** Continues a checkpointed run exactly where it stopped. */
export async function resumeTraining(checkpointPath: string, options: ResumeOptions = {}): Promise<TrainSummary> {
  const { corpus, onEvent, signal, optionName = resumeName, log, ...settings } = options;
  checkSettings({ ...RUN_SETTINGS, ...TRAIN_OPTIONS }, settings, optionName);
  const call: Record<string, unknown> = {};
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) (key in RUN_SETTINGS ? call : changes)[key] = value;
  const control = call as Partial<RunSettings>;
  const overrides = resumeOverrides(changes, optionName);
  const output = control.output ?? checkpointPath;
  const saved = savedRun(checkpointPath, corpus, overrides, { checkpoint: output, log });
  const kernels = createKernels(control.kernel ?? 'auto');
  const { timeLimitSeconds, threads } = control;
  // Resuming in place keeps the run's own best copy; saving elsewhere makes a best copy found there stale.
  const ownsBestOutput = fileIdentity(output) === fileIdentity(checkpointPath);
  const request = { data: saved.data, kernels, output, timeLimitSeconds, threads, onEvent, signal, ownsBestOutput };
  return resume(request, saved.training, saved.tensors);
}
