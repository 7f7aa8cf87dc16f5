/**
 * The parts of setting a run up that the entry points (trainer.ts) call: the size check, the data cut
 * into training streams and held-out text, the stopping point, the schedule's length, and the model with
 * its threads.
 */
import { availableParallelism } from 'node:os';
import { parameterCount, type ModelConfig } from '../core/config.js';
import { CharGenerator } from '../core/generate.js';
import { explainKernelMemory, type Kernels } from '../core/kernels.js';
import type { CarriedState } from '../core/layers/layer.js';
import { CharModel } from '../core/model.js';
import { passFloats } from '../core/pass-buffers.js';
import { splitTrainVal, StreamBatcher } from '../data/batches.js';
import type { TokenIds } from '../data/vocab.js';
import { CharrnnError } from '../errors.js';
import { DataParallelStep } from './data-parallel.js';
import { CharrnnEngine, type TrainingEngine } from './engine.js';
import type { EngineChoice } from './engine-choice.js';
import type { Learner, RunState } from './run-state.js';
import { TorchEngine } from './torch-engine.js';
import { LIMITS, type EngineKind, type TrainOptions } from './options.js';
import { startingThreads } from './working-directory.js';

/**
 * The model, charrnn's data-parallel step (starting the worker threads, which validate too) unless another
 * engine trains it, and the sample generator.
 */
export async function buildModel(
  config: ModelConfig,
  options: TrainOptions,
  request: { kernels: Kernels; threads?: number; engine: EngineKind },
) {
  let parallel: DataParallelStep | null = null;
  try {
    const model = new CharModel(config, request.kernels);
    if (request.engine === 'charrnn') parallel = await startThreads(model, options, request.threads);
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
export function fixScheduleLength(
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

/** Refuses a PyTorch run with more processes than the batch has streams: each trains a share of them. */
export function checkStreamsPerProcess(options: TrainOptions, engine: EngineChoice): void {
  if (engine.kind !== 'torch') return;
  const processes = engine.world.processes * engine.world.machines;
  if (options.batch >= processes) return;
  throw new CharrnnError(
    `--batch ${options.batch} has fewer streams than the run's ${processes} processes, each of which trains ` +
      'a share of them; raise --batch, or lower --nproc or --nnodes',
    2,
  );
}

/** Refuses models that would allocate absurd amounts of memory before anything is allocated. */
export function checkSize(options: TrainOptions, config: ModelConfig): void {
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

export interface RunData {
  batcher: StreamBatcher;
  /** The corpus's last --val-frac, never trained on. */
  heldOut: TokenIds;
  /** What each validation covers: the first `valChars` of the held-out text (all with 0), the same every time. */
  validationIds: TokenIds;
}

export function cutData(ids: TokenIds, options: TrainOptions): RunData {
  const { train, val: heldOut } = splitTrainVal(ids, options.valFrac);
  const batcher = new StreamBatcher(train, options.batch, options.seqLength);
  return { batcher, heldOut, validationIds: validationPart(heldOut, options) };
}

/** What each validation of a run covers: the first `valChars` of its held-out text (all with 0). */
export function validationPart(heldOut: TokenIds, options: Pick<TrainOptions, 'valChars'>): TokenIds {
  return options.valChars > 0 ? heldOut.subarray(0, options.valChars) : heldOut;
}

/** The iteration --iters and --epochs stop at (whichever comes first), or null when neither limits the run. */
export function targetIterations(options: TrainOptions, chunksPerEpoch: number): number | null {
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

/** What an engine starts from: the model with its first weights, the optimizer, and the data it validates on. */
export interface EngineStart {
  model: CharModel;
  /** charrnn's threads, started by buildModel (null for another engine). */
  parallel: DataParallelStep | null;
  /** The training text's streams, whose chunks the steps train on. */
  batcher: StreamBatcher;
  learner: Learner;
  options: TrainOptions;
  /** A resumed run's carried state of every stream; null for zeros. */
  carried: CarriedState[] | null;
  validationIds: TokenIds;
}

/** The chosen engine, started from the run's weights, optimizer and carried state. */
export async function startEngine(choice: EngineChoice, start: EngineStart): Promise<TrainingEngine> {
  const { model, parallel, batcher, learner, options, carried } = start;
  if (choice.kind === 'torch') return TorchEngine.create({ ...choice, ...start });
  if (carried) parallel!.restoreCarriedState(carried);
  return new CharrnnEngine(model, parallel!, batcher, learner, options);
}
