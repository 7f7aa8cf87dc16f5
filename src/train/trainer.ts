/**
 * The training loop: truncated BPTT over B parallel streams with the hidden state carried from chunk
 * to chunk, periodic validation, checkpoints and samples. It emits events and never prints; the CLI
 * (or any library user) renders them.
 */
import { availableParallelism } from 'node:os';
import type { Checkpoint } from '../checkpoint/format.js';
import { prepareOutput, writeCheckpointAtomic } from '../checkpoint/io.js';
import { parameterCount, tensorSpecs, type ModelConfig } from '../core/config.js';
import { CharGenerator } from '../core/generate.js';
import type { Kernels } from '../core/kernels.js';
import { CharModel } from '../core/model.js';
import { clipGradientsByGlobalNorm, clipGradientsElementwise, globalNorm, learningRateAt, Optimizer } from '../core/optim.js';
import { Rng } from '../core/rng.js';
import { splitTrainVal, StreamBatcher } from '../data/batches.js';
import type { TokenIds, Vocab } from '../data/vocab.js';
import { CharrnnError } from '../errors.js';
import { DataParallelStep } from './data-parallel.js';
import { LIMITS, validateTrainOptions, type TrainOptions } from './options.js';
import { encodeTrainingState, type CorpusIdentity, type HistoryPoint, type TrainingState } from './state.js';

export interface TrainData {
  vocab: Vocab;
  ids: TokenIds;
  corpus: CorpusIdentity;
}

export type TrainEvent =
  | { event: 'start'; iteration: number; targetIterations: number | null; epoch: number; chunksPerEpoch: number; parameters: number; vocab: number; trainChars: number; valChars: number; resumed: boolean; kernel: string; threads: number }
  | { event: 'progress'; iteration: number; targetIterations: number | null; epoch: number; trainLoss: number; learningRate: number; charsPerSecond: number; elapsedSeconds: number; etaSeconds: number | null }
  | { event: 'eval'; iteration: number; epoch: number; valLoss: number; valBpc: number; best: boolean }
  | { event: 'checkpoint'; iteration: number; path: string; best: boolean }
  | { event: 'sample'; iteration: number; text: string }
  | TrainSummary;

export type StopReason = 'finished' | 'time' | 'interrupted';

export interface TrainSummary {
  event: 'done';
  reason: StopReason;
  iterations: number;
  /** Characters trained in this invocation, and the time it took. */
  chars: number;
  seconds: number;
  chars_per_s: number;
  train_loss: number | null;
  val_loss: number | null;
  val_bpc: number | null;
  checkpoint: string;
}

export interface TrainRun {
  data: TrainData;
  kernels: Kernels;
  /** Where checkpoints go; the best by validation loss goes beside it as <name>.best.json. */
  output: string;
  /** Stop after this many seconds of this invocation (0 or absent: no limit). */
  timeLimitSeconds?: number;
  /** Threads computing the batch shards (default: one per core, up to the shard count). Results do not depend on it. */
  threads?: number;
  onEvent?: (event: TrainEvent) => void;
  /** Aborting finishes the current step, saves and returns with reason 'interrupted'. */
  signal?: AbortSignal;
}

const HISTORY_EVERY = 10;
const SAMPLE_LENGTH = 200;

export function bestPath(output: string): string {
  return output.endsWith('.json') ? `${output.slice(0, -5)}.best.json` : `${output}.best.json`;
}

export function modelConfigOf(options: TrainOptions, vocabSize: number): ModelConfig {
  return { cell: options.cell, layers: options.layers, hidden: options.hidden, vocab: vocabSize, dropout: options.dropout };
}

/** Refuses models that would allocate absurd amounts of memory before anything is allocated. */
function checkSize(options: TrainOptions, config: ModelConfig): void {
  const parameters = parameterCount(config);
  const gates = config.cell === 'lstm' ? 4 : config.cell === 'gru' ? 3 : 1;
  const passFloats = options.batch * options.seqLength * (config.layers * config.hidden * (3 * gates + 4) + 2 * config.vocab);
  if (parameters > LIMITS.parameters) {
    throw new CharrnnError(`a model of ${parameters.toLocaleString('en-US')} parameters is too large (limit ${LIMITS.parameters.toLocaleString('en-US')}); lower --hidden or --layers`, 2);
  }
  if (passFloats > LIMITS.passFloats) {
    throw new CharrnnError(`--batch ${options.batch} × --seq ${options.seqLength} with this model needs about ${Math.round((passFloats * 4) / 2 ** 30)} GiB of activations; lower --batch, --seq or --hidden`, 2);
  }
}

interface ResumePoint {
  state: TrainingState;
  tensors: Record<string, Float32Array>;
}

/** Threads that help by default: one per core (the step uses at most one per shard). */
function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

class TrainingSession {
  private readonly chunkInputs: Int32Array;
  private readonly chunkTargets: Int32Array;
  private readonly optimizer: Optimizer;
  private readonly generator: CharGenerator;
  private readonly rng: Rng;
  private readonly state: Omit<TrainingState, 'rng' | 'optimizer' | 'carried'>;
  private windowLoss = 0;
  private windowCount = 0;
  lastTrainLoss: number | null = null;

  /** Builds the model, its data-parallel step (starting worker threads) and the run state. */
  static async create(run: TrainRun, options: TrainOptions, resumeFrom?: ResumePoint): Promise<TrainingSession> {
    validateTrainOptions(options);
    const config = modelConfigOf(options, run.data.vocab.size);
    checkSize(options, config);
    // Fail on a too-short corpus before any thread starts.
    const { train, val } = splitTrainVal(run.data.ids, options.valFrac);
    const batcher = new StreamBatcher(train, options.batch, options.seqLength);
    prepareOutput(run.output);
    prepareOutput(bestPath(run.output));
    const model = new CharModel(config, run.kernels);
    const threads = run.threads ?? defaultThreads();
    const parallel = await DataParallelStep.create(model, options.batch, options.seqLength, Math.min(options.shards, options.batch), threads);
    return new TrainingSession(run, options, model, parallel, batcher, val, resumeFrom);
  }

  private constructor(
    private readonly run: TrainRun,
    options: TrainOptions,
    readonly model: CharModel,
    private readonly parallel: DataParallelStep,
    private readonly batcher: StreamBatcher,
    private readonly valIds: TokenIds,
    resumeFrom?: ResumePoint,
  ) {
    this.chunkInputs = new Int32Array(options.batch * options.seqLength);
    this.chunkTargets = new Int32Array(options.batch * options.seqLength);
    this.generator = new CharGenerator(model);
    const sizes = model.parameters().map((tensor) => tensor.length);
    const optimizerOptions = { kind: options.optimizer, momentum: options.momentum };
    if (resumeFrom) {
      model.load(resumeFrom.tensors);
      this.rng = Rng.fromState(resumeFrom.state.rng);
      this.optimizer = Optimizer.fromState(optimizerOptions, sizes, resumeFrom.state.optimizer);
      this.restoreCarried(resumeFrom.state.carried, options);
      const { rng: _rng, optimizer: _optimizer, carried: _carried, ...rest } = resumeFrom.state;
      this.state = { ...rest, options };
    } else {
      this.rng = new Rng(options.seed);
      model.initialize(this.rng, options.init);
      this.optimizer = new Optimizer(optimizerOptions, sizes);
      this.state = {
        options, corpus: run.data.corpus, iteration: 0, epoch: 0, chunk: 0, charsTrained: 0, elapsedSeconds: 0,
        history: [], bestValLoss: null, lastValLoss: null,
      };
    }
  }

  get threads(): number {
    return this.parallel.threads;
  }

  close(): void {
    this.parallel.close();
  }

  get options(): TrainOptions {
    return this.state.options;
  }

  private restoreCarried(carried: TrainingState['carried'], options: TrainOptions): void {
    const { layers, batch, hidden, cell } = options;
    const size = batch * hidden;
    const fits = carried.length === layers && carried.every((layer) => layer.h.length === size && (cell === 'lstm' ? layer.c?.length === size : layer.c === undefined));
    if (!fits) throw new CharrnnError(`the checkpoint's carried hidden state does not match its model (${layers} layers of --batch ${batch} × --hidden ${hidden}); the file is damaged`);
    this.parallel.restoreCarriedState(carried);
  }

  /** The target iteration count implied by --iters and --epochs, or null when only time limits the run. */
  targetIterations(): number | null {
    const { iterations, epochs } = this.options;
    const byEpochs = epochs > 0 ? epochs * this.batcher.chunksPerEpoch : Infinity;
    const target = Math.min(iterations > 0 ? iterations : Infinity, byEpochs);
    return Number.isFinite(target) ? target : null;
  }

  fractionalEpoch(): number {
    return this.state.epoch + this.state.chunk / this.batcher.chunksPerEpoch;
  }

  startEvent(resumed: boolean): TrainEvent {
    return {
      event: 'start', iteration: this.state.iteration, targetIterations: this.targetIterations(), epoch: this.fractionalEpoch(),
      chunksPerEpoch: this.batcher.chunksPerEpoch, parameters: parameterCount(this.model.config), vocab: this.model.config.vocab,
      trainChars: this.batcher.streamLength * this.options.batch, valChars: this.valIds.length, resumed, kernel: this.run.kernels.name, threads: this.threads,
    };
  }

  get iteration(): number {
    return this.state.iteration;
  }

  /** One optimizer step on the next chunk. Returns the chunk's mean loss. */
  async step(): Promise<number> {
    const { options, state, parallel } = this;
    if (state.chunk >= this.batcher.chunksPerEpoch) {
      state.chunk = 0;
      state.epoch++;
      parallel.resetState();
    }
    this.batcher.fillChunk(state.chunk, this.chunkInputs, this.chunkTargets);
    parallel.fill(this.chunkInputs, this.chunkTargets);
    const dropoutSeeds = options.dropout > 0 ? Array.from({ length: parallel.shardCount }, () => this.rng.nextUint32()) : null;
    const loss = await parallel.run(dropoutSeeds);
    const gradients = parallel.gradients();
    const norm = options.clip > 0 ? clipGradientsByGlobalNorm(gradients, options.clip) : globalNorm(gradients);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      throw new CharrnnError(`training diverged at iteration ${state.iteration + 1}: the ${Number.isFinite(loss) ? 'gradient norm' : 'loss'} is ${Number.isFinite(loss) ? norm : loss}; nothing from this step was saved and ${this.run.output} keeps the last good weights; try a lower --lr or a smaller --clip`);
    }
    if (options.clipValue > 0) clipGradientsElementwise(gradients, options.clipValue);
    this.optimizer.step(this.model.parameters(), gradients, this.learningRate());
    state.chunk++;
    state.iteration++;
    state.charsTrained += options.batch * options.seqLength;
    this.lastTrainLoss = loss;
    this.recordTrainLoss(loss);
    return loss;
  }

  learningRate(): number {
    const { learningRate, lrDecay, lrDecayEvery } = this.options;
    return learningRateAt(learningRate, this.state.epoch, lrDecay, lrDecayEvery);
  }

  private recordTrainLoss(loss: number): void {
    this.windowLoss += loss;
    this.windowCount++;
    if (this.state.iteration % HISTORY_EVERY === 0) this.flushHistory();
  }

  private flushHistory(valLoss?: number): void {
    const last = this.state.history[this.state.history.length - 1];
    const point: HistoryPoint | undefined = this.windowCount > 0
      ? { iteration: this.state.iteration, epoch: this.fractionalEpoch(), trainLoss: this.windowLoss / this.windowCount }
      : last?.iteration === this.state.iteration ? last : undefined;
    if (!point) return;
    if (valLoss !== undefined) point.valLoss = valLoss;
    if (point !== last) this.state.history.push(point);
    this.windowLoss = 0;
    this.windowCount = 0;
  }

  /** Validation loss; records it and whether it is the best so far. Null when there is no validation data. */
  async validate(): Promise<{ valLoss: number; best: boolean } | null> {
    const result = await this.parallel.evaluate(this.valIds);
    if (result.chars === 0) return null;
    const best = this.state.bestValLoss === null || result.loss < this.state.bestValLoss;
    if (best) this.state.bestValLoss = result.loss;
    this.state.lastValLoss = result.loss;
    this.flushHistory(result.loss);
    return { valLoss: result.loss, best };
  }

  get lastValLoss(): number | null {
    return this.state.lastValLoss;
  }

  sample(): string {
    const vocab = this.run.data.vocab;
    const sampleRng = new Rng((this.options.seed ^ this.state.iteration) >>> 0);
    const newline = vocab.idOf(10);
    this.generator.prime([newline >= 0 ? newline : 0]);
    const ids: number[] = [];
    for (let i = 0; i < SAMPLE_LENGTH; i++) ids.push(this.generator.next({ temperature: 1 }, sampleRng).id);
    return vocab.decode(Uint32Array.from(ids));
  }

  /** A checkpoint of the run as it stands, `secondsThisRun` into this invocation. */
  checkpoint(secondsThisRun: number): Checkpoint {
    // A finite loss can still come with an update that overflowed: never save such weights.
    for (const [name, tensor] of this.model.tensors) {
      if (!tensor.every(Number.isFinite)) {
        throw new CharrnnError(`training diverged by iteration ${this.state.iteration}: ${name} is no longer finite; nothing was saved and ${this.run.output} keeps the last good weights; try a lower --lr or a smaller --clip`);
      }
    }
    this.flushHistory();
    const training: TrainingState = {
      ...this.state,
      elapsedSeconds: this.state.elapsedSeconds + secondsThisRun,
      rng: this.rng.state(),
      optimizer: this.optimizer.state(),
      carried: this.parallel.carriedState(),
    };
    return {
      model: this.model.config,
      vocab: this.run.data.vocab.symbols,
      tensors: Object.fromEntries(tensorSpecs(this.model.config).map(({ name, shape }) => [name, { shape, data: this.model.tensors.get(name)! }])),
      training: encodeTrainingState(training),
    };
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function runSession(session: TrainingSession, run: TrainRun, resumed: boolean): Promise<TrainSummary> {
  const emit = run.onEvent ?? (() => {});
  const options = session.options;
  const target = session.targetIterations();
  const startIteration = session.iteration;
  if (target !== null && startIteration >= target) {
    throw new CharrnnError(`the run is already at iteration ${startIteration} of ${target}; pass a larger --iters (or --epochs) to train further`, 2);
  }
  emit(session.startEvent(resumed));
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let reason: StopReason = 'finished';
  const save = (best: boolean): void => {
    const checkpoint = session.checkpoint(elapsed());
    writeCheckpointAtomic(run.output, checkpoint);
    emit({ event: 'checkpoint', iteration: session.iteration, path: run.output, best: false });
    if (best) {
      writeCheckpointAtomic(bestPath(run.output), checkpoint);
      emit({ event: 'checkpoint', iteration: session.iteration, path: bestPath(run.output), best: true });
    }
  };
  const evaluateAndMaybeSave = async (forceSave: boolean): Promise<void> => {
    const validation = await session.validate();
    if (validation) {
      emit({ event: 'eval', iteration: session.iteration, epoch: session.fractionalEpoch(), valLoss: validation.valLoss, valBpc: validation.valLoss / Math.LN2, best: validation.best });
    }
    if (forceSave || validation?.best) save(validation?.best ?? false);
  };

  while (target === null || session.iteration < target) {
    if (run.signal?.aborted) {
      reason = 'interrupted';
      break;
    }
    if (run.timeLimitSeconds && elapsed() >= run.timeLimitSeconds) {
      reason = 'time';
      break;
    }
    const loss = await session.step();
    const iteration = session.iteration;
    const seconds = elapsed();
    const charsPerSecond = ((iteration - startIteration) * options.batch * options.seqLength) / seconds;
    const remaining = target === null ? null : ((target - iteration) * options.batch * options.seqLength) / charsPerSecond;
    const timeLeft = run.timeLimitSeconds ? run.timeLimitSeconds - seconds : null;
    const etaSeconds = remaining === null ? timeLeft : timeLeft === null ? remaining : Math.min(remaining, timeLeft);
    emit({ event: 'progress', iteration, targetIterations: target, epoch: session.fractionalEpoch(), trainLoss: loss, learningRate: session.learningRate(), charsPerSecond, elapsedSeconds: seconds, etaSeconds });
    const isLast = target !== null && iteration >= target;
    if (!isLast && options.evalEvery > 0 && iteration % options.evalEvery === 0) await evaluateAndMaybeSave(options.saveEvery > 0 && iteration % options.saveEvery === 0);
    else if (!isLast && options.saveEvery > 0 && iteration % options.saveEvery === 0) save(false);
    if (options.sampleEvery > 0 && iteration % options.sampleEvery === 0) emit({ event: 'sample', iteration, text: session.sample() });
    await nextTurn();
  }
  const seconds = elapsed();
  const chars = (session.iteration - startIteration) * options.batch * options.seqLength;
  await evaluateAndMaybeSave(true);
  const valLoss = session.lastValLoss;
  const summary: TrainSummary = {
    event: 'done', reason, iterations: session.iteration, chars, seconds, chars_per_s: seconds > 0 ? chars / seconds : 0,
    train_loss: session.lastTrainLoss, val_loss: valLoss, val_bpc: valLoss === null ? null : valLoss / Math.LN2, checkpoint: run.output,
  };
  emit(summary);
  return summary;
}

/** Trains a fresh model. */
export async function train(run: TrainRun, options: TrainOptions): Promise<TrainSummary> {
  const session = await TrainingSession.create(run, options);
  try {
    return await runSession(session, run, false);
  } finally {
    session.close();
  }
}

/** Continues a run exactly where its checkpoint left it (weights, optimizer, RNG, data position, hidden state). */
export async function resume(run: TrainRun, state: TrainingState, tensors: Record<string, Float32Array>): Promise<TrainSummary> {
  const session = await TrainingSession.create(run, state.options, { state, tensors });
  try {
    return await runSession(session, run, true);
  } finally {
    session.close();
  }
}
