/**
 * A run between iterations, fresh or resumed: where it stands in the data, its loss history and best
 * validation loss; the weights, RNG and optimizer it starts from; and the `training` section of the
 * checkpoints it saves (state.ts encodes that section).
 */
import type { CarriedState } from '../core/layers/layer.js';
import type { CharModel } from '../core/model.js';
import { Optimizer } from '../core/optim.js';
import { Rng } from '../core/rng.js';
import { CharrnnError } from '../errors.js';
import type { TrainOptions } from './options.js';
import type { CorpusIdentity, HistoryPoint, Origin, TrainedOn, TrainingState } from './state.js';

/** A history point is kept every this many iterations (and at each evaluation). */
const HISTORY_EVERY = 10;

/** Where an iteration's chunk lies: the whole epochs done before it and its index in the epoch. */
export interface ChunkPosition {
  epoch: number;
  chunk: number;
}

/** The learning parts a run continues from, as saved in its checkpoints. */
export interface Learner {
  /** Draws the dropout seeds. */
  readonly rng: Rng;
  /** Replaced by the state an engine that keeps its own hands back (engine.ts `pull`). */
  optimizer: Optimizer;
}

type SavedProgress = Omit<TrainingState, 'options' | 'corpus' | 'rng' | 'optimizer' | 'carried' | keyof TrainedOn>;

export class RunState {
  /** Iterations done; the next one is iteration + 1. */
  iteration: number;
  /** Whole epochs done. */
  epoch: number;
  /** The next chunk of the epoch to train on (chunksPerEpoch once the epoch is through). */
  chunk: number;
  charsTrained: number;
  /** Mean loss of the latest iteration of this invocation. */
  lastTrainLoss: number | null = null;
  bestValLoss: number | null;
  lastValLoss: number | null;
  /** Where a cosine schedule ends; null until known. */
  scheduleLength: number | null;
  /** Where a fine-tuned run's first weights came from; undefined for a run from fresh weights. */
  readonly origin: Origin | undefined;
  private readonly elapsedBefore: number;
  private readonly history: HistoryPoint[];
  /** Training losses since the last history point. */
  private windowLoss = 0;
  private windowCount = 0;

  private constructor(
    readonly options: TrainOptions,
    readonly corpus: CorpusIdentity,
    readonly chunksPerEpoch: number,
    saved: SavedProgress,
  ) {
    this.iteration = saved.iteration;
    this.epoch = saved.epoch;
    this.chunk = saved.chunk;
    this.charsTrained = saved.charsTrained;
    this.elapsedBefore = saved.elapsedSeconds;
    this.history = saved.history;
    this.bestValLoss = saved.bestValLoss;
    this.lastValLoss = saved.lastValLoss;
    this.scheduleLength = saved.scheduleLength;
    this.origin = saved.origin;
  }

  /** A new run; `origin` says where its first weights came from when they are not fresh. */
  static fresh(options: TrainOptions, corpus: CorpusIdentity, chunksPerEpoch: number, origin?: Origin): RunState {
    const start = { iteration: 0, epoch: 0, chunk: 0, charsTrained: 0, elapsedSeconds: 0, history: [], origin };
    const results = { bestValLoss: null, lastValLoss: null, scheduleLength: null };
    return new RunState(options, corpus, chunksPerEpoch, { ...start, ...results });
  }

  /** Continues a saved run; `options` are its saved options with the changes resume allows. */
  static resumed(saved: TrainingState, options: TrainOptions, chunksPerEpoch: number): RunState {
    return new RunState(options, saved.corpus, chunksPerEpoch, saved);
  }

  /** Epochs done, counting the part of the current one. */
  fractionalEpoch(): number {
    return this.epoch + this.chunk / this.chunksPerEpoch;
  }

  /** The next iteration's chunk: the next of this epoch, or the first of the next epoch. */
  nextChunk(): ChunkPosition {
    return this.chunkAfter({ epoch: this.epoch, chunk: this.chunk - 1 });
  }

  /** The chunk after the one at `position`. */
  chunkAfter({ epoch, chunk }: ChunkPosition): ChunkPosition {
    if (chunk + 1 >= this.chunksPerEpoch) return { epoch: epoch + 1, chunk: 0 };
    return { epoch, chunk: chunk + 1 };
  }

  /** Records an iteration done on the chunk at `position`. */
  completeIteration(position: ChunkPosition, loss: number, chars: number): void {
    this.epoch = position.epoch;
    this.chunk = position.chunk + 1;
    this.iteration++;
    this.charsTrained += chars;
    this.lastTrainLoss = loss;
    this.windowLoss += loss;
    this.windowCount++;
    if (this.iteration % HISTORY_EVERY === 0) this.addHistoryPoint();
  }

  /** Records a validation loss; says whether it is the best of the run so far. */
  recordValidation(valLoss: number): boolean {
    const best = this.bestValLoss === null || valLoss < this.bestValLoss;
    if (best) this.bestValLoss = valLoss;
    this.lastValLoss = valLoss;
    this.addHistoryPoint(valLoss);
    return best;
  }

  /** The `training` section of a checkpoint, `secondsThisRun` into this invocation. */
  trainingSection(
    learner: Learner,
    carried: CarriedState[],
    trainedOn: TrainedOn,
    secondsThisRun: number,
  ): TrainingState {
    this.addHistoryPoint();
    return {
      ...trainedOn,
      options: this.options,
      corpus: this.corpus,
      ...(this.origin ? { origin: this.origin } : {}),
      iteration: this.iteration,
      epoch: this.epoch,
      chunk: this.chunk,
      charsTrained: this.charsTrained,
      elapsedSeconds: this.elapsedBefore + secondsThisRun,
      history: this.history,
      bestValLoss: this.bestValLoss,
      lastValLoss: this.lastValLoss,
      scheduleLength: this.scheduleLength,
      rng: learner.rng.state(),
      optimizer: learner.optimizer.state(),
      carried,
    };
  }

  /**
   * Closes the window of training losses into a history point at this iteration; with `valLoss`, adds
   * it to that point (or to the point already there when no iteration happened since).
   */
  private addHistoryPoint(valLoss?: number): void {
    const last = this.history[this.history.length - 1];
    const point: HistoryPoint | undefined =
      this.windowCount > 0
        ? { iteration: this.iteration, epoch: this.fractionalEpoch(), trainLoss: this.windowLoss / this.windowCount }
        : last?.iteration === this.iteration
          ? last
          : undefined;
    if (!point) return;
    if (valLoss !== undefined) point.valLoss = valLoss;
    if (point !== last) this.history.push(point);
    this.windowLoss = 0;
    this.windowCount = 0;
  }
}

/** A new run's weights (`initial` ones, or initialized from the seed), RNG and optimizer. */
export function startLearner(model: CharModel, options: TrainOptions, initial?: Record<string, Float32Array>): Learner {
  const rng = new Rng(options.seed);
  if (initial) model.load(initial);
  else model.initialize(rng, options.init);
  const optimizer = new Optimizer(optimizerOptionsOf(options), model.layout);
  return { rng, optimizer };
}

/** A resumed run's weights, RNG and optimizer, exactly as saved; its carried state checked to fit (for the engine). */
export function restoreLearner(model: CharModel, saved: TrainingState, tensors: Record<string, Float32Array>): Learner {
  model.load(tensors);
  const rng = Rng.fromState(saved.rng);
  const optimizer = Optimizer.fromState(optimizerOptionsOf(saved.options), model.layout, saved.optimizer);
  checkCarriedFits(saved.carried, saved.options);
  return { rng, optimizer };
}

export const optimizerOptionsOf = (options: TrainOptions) => ({ kind: options.optimizer, momentum: options.momentum });

function checkCarriedFits(carried: CarriedState[], options: TrainOptions): void {
  const { layers, batch, hidden, cell } = options;
  const size = batch * hidden;
  const layerFits = (layer: CarriedState) =>
    layer.h.length === size && (cell === 'lstm' ? layer.c?.length === size : layer.c === undefined);
  if (carried.length !== layers || !carried.every(layerFits)) {
    throw new CharrnnError(
      `the checkpoint's carried hidden state does not match its model ` +
        `(${layers} layers of --batch ${batch} × --hidden ${hidden}); the file is damaged`,
    );
  }
}
