/**
 * What a resumed run continues from: its checkpoint's training section (with the changes resume allows),
 * its weights, and the corpus it was trained on, checked to be that very text.
 */
import { tensorData } from '../checkpoint/format.js';
import { checkRunFiles } from '../checkpoint/run-files.js';
import { Vocab } from '../data/vocab.js';
import { CharrnnError, EXIT } from '../errors.js';
import { loadCheckpoint } from './checkpoint.js';
import { readCorpus, trainDataFor, type Corpus, type TrainData } from './corpus.js';
import type { ResumableOptions } from './options.js';
import type { TrainingState } from './state.js';

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
