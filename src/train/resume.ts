/**
 * Resuming a run: what it continues from (its checkpoint's training section, with the changes resume
 * allows, its weights, and the corpus it was trained on, checked to be that very text), and the entry
 * point that continues it.
 */
import { tensorData } from '../checkpoint/format.js';
import { checkRunFiles, fileIdentity } from '../checkpoint/run-files.js';
import { createKernels } from '../core/backend.js';
import { Vocab } from '../data/vocab.js';
import { CharrnnError, EXIT } from '../errors.js';
import { checkSettings } from '../settings.js';
import { loadCheckpoint } from './checkpoint.js';
import { chooseEngine } from './engine-choice.js';
import { readCorpus, trainDataFor, type Corpus, type TrainData } from './corpus.js';
import type { TrainSummary } from './events.js';
import {
  resumeOverrides,
  RUN_SETTINGS,
  TRAIN_OPTIONS,
  type ResumableOptions,
  type RunOptionNamer,
  type RunSettings,
} from './options.js';
import type { TrainingState } from './state.js';
import { setUpAndTrain, type RunControl } from './trainer.js';

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
  // Without --engine, the run goes on on the engine that trained it; either continues the other's state.
  const engine = await chooseEngine(control, saved.training.engine, optionName);
  const kernels = createKernels(control.kernel ?? 'auto');
  const { timeLimitSeconds, threads } = control;
  // Resuming in place keeps the run's own best copy; saving elsewhere makes a best copy found there stale.
  const ownsBestOutput = fileIdentity(output) === fileIdentity(checkpointPath);
  const request = {
    data: saved.data,
    kernels,
    output,
    timeLimitSeconds,
    threads,
    engine,
    onEvent,
    signal,
    ownsBestOutput,
  };
  return setUpAndTrain(request, saved.training.options, saved);
}

/** A checkpointed run to continue: its data, its training section and its weights. */
export interface RunToResume {
  data: TrainData;
  training: TrainingState;
  tensors: Record<string, Float32Array>;
}

/** Where the resumed run writes: its checkpoint (with its best copy beside it) and the caller's log. */
export interface ResumeWrites {
  checkpoint: string;
  log?: string;
}

/**
 * Reads the run saved at `checkpointPath`, applies `overrides`, and finds its corpus: `corpus` (a Corpus, or
 * a path read in the run's encoding), else the path the run recorded. A changed corpus is refused, and so
 * are `writes` that clash with what the run reads (checked once the recorded corpus path is known).
 */
export function savedRun(
  checkpointPath: string,
  corpus: Corpus | string | undefined,
  overrides: Partial<ResumableOptions>,
  writes: ResumeWrites,
): RunToResume {
  const checkpoint = loadCheckpoint(checkpointPath);
  if (checkpoint.trainingDamage !== undefined) throw new CharrnnError(checkpoint.trainingDamage);
  const state = checkpoint.training;
  if (!state) {
    throw new CharrnnError(
      `${checkpointPath} has no training state (it was written for sampling only); ` +
        'start a new run with: charrnn train CORPUS',
    );
  }
  const corpusPath = typeof corpus === 'object' ? corpus.source : (corpus ?? state.corpus.path);
  checkRunFiles({ corpus: corpusPath, resumes: checkpointPath, ...writes });
  const text = corpusToResume(corpus, state, checkpointPath);
  const data = trainDataFor(text, Vocab.fromSymbols(checkpoint.vocab));
  if (data.corpus.chars !== state.corpus.chars || data.corpus.fingerprint !== state.corpus.fingerprint) {
    throw new CharrnnError(
      `${text.source} is not the corpus this run was trained on ` +
        `(${data.corpus.chars} characters, fingerprint ${data.corpus.fingerprint}; ` +
        `the checkpoint expects ${state.corpus.chars}, ${state.corpus.fingerprint}); ` +
        'pass --corpus with the original file',
    );
  }
  const training = { ...state, options: { ...state.options, ...overrides } };
  return { data, training, tensors: tensorData(checkpoint) };
}

/** The corpus a run resumes on: the one given, or read from the path given or recorded, in the run's encoding. */
function corpusToResume(given: Corpus | string | undefined, state: TrainingState, checkpointPath: string): Corpus {
  if (typeof given === 'object') return given;
  const path = given ?? state.corpus.path;
  if (path === null) {
    throw new CharrnnError(
      `${checkpointPath} was trained on stdin; ` +
        'pass the same text again with --corpus FILE (or --corpus - to read stdin)',
      EXIT.usage,
    );
  }
  return readCorpus(path, state.options.encoding);
}
