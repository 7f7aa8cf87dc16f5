/**
 * Fine-tuning: a new run that starts from a checkpoint's weights (`train --init-from`). The model's
 * shape comes from the checkpoint, and options that set it must agree; everything else (optimizer,
 * schedule, data position, every training option) starts fresh. Characters of the new corpus that the
 * model does not know are an error, or, with `extendVocab`, are appended to its vocabulary so that old
 * ids keep their meaning and the model predicts old text as before (core/extend-vocab.ts).
 */
import { resolve } from 'node:path';
import { tensorData } from '../checkpoint/format.js';
import { extendVocabulary } from '../core/extend-vocab.js';
import { Rng } from '../core/rng.js';
import { Vocab } from '../data/vocab.js';
import { CharrnnError, EXIT } from '../errors.js';
import { loadCheckpoint } from './checkpoint.js';
import { trainDataFor, type Corpus, type TrainData } from './corpus.js';
import type { NewRun, RunOptionNamer, TrainOptions } from './options.js';
import type { Origin } from './state.js';

/** The options the checkpoint's model fixes. */
const SHAPE_OPTIONS = ['cell', 'layers', 'hidden'] as const;

/** Unknown characters a message lists before saying how many more there are. */
const LISTED_UNKNOWN = 5;

/** The weights a fine-tuning run starts from, shaped for its model, and where they came from. */
export interface InitialWeights {
  tensors: Record<string, Float32Array>;
  origin: Origin;
}

/** A fine-tuning run's options (with the checkpoint's shape), data in its vocabulary, and first weights. */
export interface FineTuneStart {
  options: TrainOptions;
  data: TrainData;
  weights: InitialWeights;
}

/**
 * Starts a fine-tuning run from the checkpoint at `run.options.initFrom`, on `corpus`.
 * An explicit shape option must match the checkpoint's (a preset's gives way); errors name options as
 * `nameOf` says.
 */
export function fineTuneStart(run: NewRun, corpus: Corpus, nameOf: RunOptionNamer): FineTuneStart {
  const { options, given } = run;
  const checkpointPath = options.initFrom!;
  const checkpoint = loadCheckpoint(checkpointPath);
  const { model } = checkpoint;
  for (const key of SHAPE_OPTIONS) {
    const value = given[key];
    if (value !== undefined && value !== model[key]) {
      throw new CharrnnError(
        `${nameOf(key)} ${value} does not match ${checkpointPath}, ` +
          `a ${model.layers}-layer ${model.cell} with hidden size ${model.hidden}; ` +
          `leave ${nameOf(key)} out to fine-tune with the checkpoint's shape`,
        EXIT.usage,
      );
    }
  }
  const known = Vocab.fromSymbols(checkpoint.vocab, checkpointPath);
  const unknown = corpus.vocab.symbols.filter((char) => known.idOf(char.codePointAt(0)!) < 0);
  if (unknown.length > 0 && !options.extendVocab) {
    throw unknownCharactersError(corpus.source, checkpointPath, unknown, nameOf);
  }
  const added = unknown; // the corpus vocabulary is sorted by code point
  const tensors = tensorData(checkpoint);
  const grown =
    added.length > 0 ? extendVocabulary(model, tensors, added.length, new Rng(options.seed)).tensors : tensors;
  const training = checkpoint.training;
  return {
    options: { ...options, cell: model.cell, layers: model.layers, hidden: model.hidden },
    data: trainDataFor(corpus, added.length > 0 ? Vocab.fromSymbols([...checkpoint.vocab, ...added]) : known),
    weights: {
      tensors: grown,
      origin: {
        checkpoint: resolve(checkpointPath),
        iteration: training?.iteration ?? null,
        corpus: training?.corpus.path ?? null,
      },
    },
  };
}

function unknownCharactersError(
  corpusSource: string,
  checkpointPath: string,
  unknown: string[],
  nameOf: RunOptionNamer,
): CharrnnError {
  const listed = unknown
    .slice(0, LISTED_UNKNOWN)
    .map((char) => JSON.stringify(char))
    .join(', ');
  const more = unknown.length > LISTED_UNKNOWN ? ` and ${unknown.length - LISTED_UNKNOWN} more` : '';
  const source = corpusSource === '-' ? 'stdin' : corpusSource;
  const count = unknown.length === 1 ? 'a character' : `${unknown.length} characters`;
  return new CharrnnError(
    `${source} has ${count} that ${checkpointPath} does not know: ${listed}${more}; ` +
      `add them to its vocabulary with ${nameOf('extendVocab')}, or leave them out of the text`,
    EXIT.usage,
  );
}
