/**
 * Training's entry points: set a run up (size checks, data, outputs, threads, fresh or resumed state)
 * and hand it to the loop (loop.ts). Training emits events and never prints; the CLI (or any library
 * user) renders them.
 */
import { availableParallelism } from 'node:os';
import { bestPath, prepareOutput } from '../checkpoint/io.js';
import { lockRunOutputs } from '../checkpoint/run-lock.js';
import { parameterCount, type ModelConfig } from '../core/config.js';
import { CharGenerator } from '../core/generate.js';
import { explainKernelMemory, type Kernels } from '../core/kernels.js';
import { CharModel } from '../core/model.js';
import { passFloats } from '../core/pass-buffers.js';
import { splitTrainVal, StreamBatcher } from '../data/batches.js';
import type { TokenIds } from '../data/vocab.js';
import { CharrnnError } from '../errors.js';
import type { TrainData } from './corpus.js';
import { DataParallelStep } from './data-parallel.js';
import type { StartEvent, TrainEvent, TrainSummary } from './events.js';
import { trainLoop } from './loop.js';
import { LIMITS, type TrainOptions } from './options.js';
import { startingThreads } from './working-directory.js';
import { restoreLearner, RunState, startLearner } from './run-state.js';
import type { Origin, TrainingState } from './state.js';

/** What a caller asks of a training run besides its options. */
export interface TrainRequest {
  data: TrainData;
  kernels: Kernels;
  /** Where checkpoints go; the best by validation loss goes beside it as <name>.best.json. */
  output: string;
  /** Stop after this many seconds of this invocation (0 or absent: no limit). */
  timeLimitSeconds?: number;
  /** Threads computing each step (default: one per core, up to one per stream). Results do not depend on it. */
  threads?: number;
  onEvent?: (event: TrainEvent) => void;
  /** Aborting finishes the current iteration, saves and returns with reason 'interrupted'. */
  signal?: AbortSignal;
  /** A new run's first weights, when it fine-tunes a checkpoint's (ignored on resume). */
  initialWeights?: InitialWeights;
  /**
   * Whether a best checkpoint already beside `output` is this run's: a resume that saves where it started.
   * Otherwise it is an earlier run's, and the first save removes it (see the loop's save).
   */
  ownsBestOutput?: boolean;
}

/** The weights a fine-tuning run starts from, shaped for its model, and where they came from. */
export interface InitialWeights {
  tensors: Record<string, Float32Array>;
  origin: Origin;
}

/** A checkpoint's run to continue: its `training` section and its weights. */
interface SavedRun {
  training: TrainingState;
  tensors: Record<string, Float32Array>;
}

/** Trains a fresh model. */
export async function train(request: TrainRequest, options: TrainOptions): Promise<TrainSummary> {
  return setUpAndTrain(request, options, null);
}

/** Continues a run exactly where its checkpoint left it (weights, optimizer, RNG, data position, hidden state). */
export async function resume(
  request: TrainRequest,
  training: TrainingState,
  tensors: Record<string, Float32Array>,
): Promise<TrainSummary> {
  return setUpAndTrain(request, training.options, { training, tensors });
}

export function modelConfigOf(options: TrainOptions, vocabSize: number): ModelConfig {
  const { cell, layers, hidden, dropout } = options;
  return { cell, layers, hidden, vocab: vocabSize, dropout };
}

async function setUpAndTrain(
  request: TrainRequest,
  options: TrainOptions,
  saved: SavedRun | null,
): Promise<TrainSummary> {
  const config = modelConfigOf(options, request.data.vocab.size);
  checkSize(options, config);
  // A too-short corpus or a run already at its target fails before any thread starts.
  const { batcher, heldOut, validationIds } = cutData(request.data.ids, options);
  const run = saved
    ? RunState.resumed(saved.training, options, batcher.chunksPerEpoch)
    : RunState.fresh(options, request.data.corpus, batcher.chunksPerEpoch, request.initialWeights?.origin);
  const target = targetIterations(options, batcher.chunksPerEpoch);
  if (target !== null && run.iteration >= target) {
    throw new CharrnnError(
      `the run is already at iteration ${run.iteration} of ${target}; ` +
        'pass a larger --iters (or --epochs) to train further',
      2,
    );
  }
  fixScheduleLength(run, saved?.training.options ?? null, target, request.timeLimitSeconds || null);
  // Outputs are checked before any thread starts: a file or a new path (the library checked them against its inputs).
  prepareOutput(request.output);
  prepareOutput(bestPath(request.output));
  const lock = lockRunOutputs([request.output, bestPath(request.output)]);
  const { model, parallel, generator } = await buildModel(config, options, request).catch((error) => {
    lock.release();
    throw error;
  });
  try {
    const learner = saved
      ? restoreLearner(model, parallel, saved.training, saved.tensors)
      : startLearner(model, options, request.initialWeights?.tensors);
    const emit = request.onEvent ?? (() => {});
    const start: StartEvent = {
      event: 'start',
      iteration: run.iteration,
      targetIterations: target,
      epoch: run.fractionalEpoch(),
      chunksPerEpoch: batcher.chunksPerEpoch,
      charsPerIteration: options.batch * options.seqLength,
      timeLimitSeconds: request.timeLimitSeconds || null,
      parameters: parameterCount(config),
      vocab: config.vocab,
      trainChars: batcher.streamLength * options.batch,
      valChars: validationIds.length,
      heldOutChars: heldOut.length,
      resumed: saved !== null,
      origin: run.origin ?? null,
      kernel: request.kernels.name,
      threads: parallel.threads,
    };
    emit(start);
    return await trainLoop({
      options,
      model,
      parallel,
      learner,
      batcher,
      validationIds,
      generator,
      vocab: request.data.vocab,
      run,
      targetIterations: target,
      output: request.output,
      bestOutput: bestPath(request.output),
      staleBestOutput: !request.ownsBestOutput,
      timeLimitSeconds: request.timeLimitSeconds || null,
      signal: request.signal,
      emit,
    });
  } finally {
    parallel.close();
    lock.release();
  }
}

/** The model, its data-parallel step (starting the worker threads, which validate too), and the sample generator. */
async function buildModel(config: ModelConfig, options: TrainOptions, request: TrainRequest) {
  let parallel: DataParallelStep | undefined;
  try {
    const model = new CharModel(config, request.kernels);
    parallel = await startThreads(model, options, request.threads);
    const generator = new CharGenerator(model);
    return { model, parallel, generator };
  } catch (error) {
    parallel?.close();
    throw explainKernelMemory(error, 'training this model', 'lower --batch, --seq, --hidden or --layers');
  }
}

/**
 * A cosine schedule runs over the run's length: --iters or --epochs when only they limit it; with --time
 * the loop fixes it once the speed is known. A resume that moves the stopping point starts a new length.
 */
function fixScheduleLength(
  run: RunState,
  savedOptions: TrainOptions | null,
  target: number | null,
  time: number | null,
) {
  if (run.options.lrSchedule !== 'cosine') return;
  const { iterations, epochs } = run.options;
  if (savedOptions && (savedOptions.iterations !== iterations || savedOptions.epochs !== epochs))
    run.scheduleLength = null;
  if (run.scheduleLength !== null || time !== null) return;
  if (target === null) {
    throw new CharrnnError("--lr-schedule cosine needs the run's length: give --iters, --epochs or --time", 2);
  }
  run.scheduleLength = target;
}

/** Refuses models that would allocate absurd amounts of memory before anything is allocated. */
function checkSize(options: TrainOptions, config: ModelConfig): void {
  const parameters = parameterCount(config);
  // The training passes and the validation passes (every thread's).
  const { batch, seqLength } = options;
  const activations = passFloats(config, batch, seqLength, true) + passFloats(config, batch, seqLength, false);
  if (parameters > LIMITS.parameters) {
    throw new CharrnnError(
      `a model of ${parameters.toLocaleString('en-US')} parameters is too large ` +
        `(limit ${LIMITS.parameters.toLocaleString('en-US')}); lower --hidden or --layers`,
      2,
    );
  }
  if (activations > LIMITS.passFloats) {
    throw new CharrnnError(
      `--batch ${batch} × --seq ${seqLength} with this model needs about ` +
        `${Math.round((activations * 4) / 2 ** 30)} GiB of activations; lower --batch, --seq or --hidden`,
      2,
    );
  }
}

interface RunData {
  batcher: StreamBatcher;
  /** The corpus's last --val-frac, never trained on. */
  heldOut: TokenIds;
  /** What each validation covers: the first `valChars` of the held-out text (all with 0), the same every time. */
  validationIds: TokenIds;
}

function cutData(ids: TokenIds, options: TrainOptions): RunData {
  const { train, val: heldOut } = splitTrainVal(ids, options.valFrac);
  const batcher = new StreamBatcher(train, options.batch, options.seqLength);
  const validationIds = options.valChars > 0 ? heldOut.subarray(0, options.valChars) : heldOut;
  return { batcher, heldOut, validationIds };
}

/** The iteration --iters and --epochs stop at (whichever comes first), or null when neither limits the run. */
function targetIterations(options: TrainOptions, chunksPerEpoch: number): number | null {
  const { iterations, epochs } = options;
  const byEpochs = epochs > 0 ? epochs * chunksPerEpoch : Infinity;
  const target = Math.min(iterations > 0 ? iterations : Infinity, byEpochs);
  return Number.isFinite(target) ? target : null;
}

/** The data-parallel forward and backward, and validation, on `threads` threads (default: one per core). */
function startThreads(model: CharModel, options: TrainOptions, threads: number | undefined): Promise<DataParallelStep> {
  const threadCount = threads ?? Math.max(1, availableParallelism());
  return startingThreads(() => DataParallelStep.create(model, options.batch, options.seqLength, threadCount));
}
