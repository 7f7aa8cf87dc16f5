/**
 * What the training loop drives: an engine that holds the model's training state where it computes and,
 * per iteration, trains one step; validates; agrees with the other processes of a run on when to stop; and
 * hands its weights, optimizer state and carried state back before a checkpoint or a sample. Two engines
 * implement it: charrnn's own (this file: the threads of data-parallel.ts, the clip and the optimizer of
 * core/optim.ts) and PyTorch's (torch-engine.ts, a step server per process). The loop, the data, the
 * schedule, the events and the checkpoint are the same for both.
 */
import type { CarriedState } from '../core/layers/layer.js';
import type { CharModel } from '../core/model.js';
import { clipGradientsByGlobalNorm, clipGradientsElementwise, globalNorm } from '../core/optim.js';
import type { Rng } from '../core/rng.js';
import type { StreamBatcher } from '../data/batches.js';
import type { TokenIds } from '../data/vocab.js';
import type { DataParallelStep } from './data-parallel.js';
import type { EvalResult } from './evaluate.js';
import type { StopReason } from './events.js';
import type { EngineKind, TrainOptions } from './options.js';
import type { Learner } from './run-state.js';

/** One iteration's chunk and how to train on it. */
export interface StepRequest {
  /** Which chunk of the epoch: each engine reads the batch's ids where it keeps the training text. */
  chunk: number;
  learningRate: number;
  /** A new epoch: the carried state starts from zero. */
  resetState: boolean;
  /** Draws this step's dropout seeds; null without dropout. */
  dropoutRng: Rng | null;
}

/**
 * A step's batch-mean loss and its gradients' global norm before clipping. Either not finite ends the run, saving
 * nothing: charrnn's engine made no update, PyTorch's may have (it does not wait for the device to know).
 */
export interface StepResult {
  loss: number;
  norm: number;
}

/** What every process of a run agrees on before a step: whether to stop (the strongest reason any gives), and rank 0's
 * schedule length. */
export interface Agreement {
  stop: StopReason | null;
  scheduleLength: number | null;
}

/** What `pull` brings back besides the weights. */
export interface PullRequest {
  /** The optimizer state, into `learner.optimizer`. */
  optimizer: boolean;
  /** The carried state of every stream, returned. */
  carried: boolean;
}

export interface TrainingEngine {
  readonly kind: EngineKind;
  /** Where it computes: charrnn's kernels ("native-avx512"), or PyTorch's device ("cuda:0"). */
  readonly device: string;
  /** What the start line names: the kernels, or "torch 2.11.0 cuda:0". */
  readonly description: string;
  /** Threads computing a step (in each process, for PyTorch). */
  readonly threads: number;
  /** Processes computing a step, over every machine. */
  readonly processes: number;
  /**
   * Starts a step (forward, loss, backward, clip and update); resolves to the results of the steps finished since
   * the last call, oldest first. charrnn's engine finishes each step before it resolves; PyTorch's answers a step
   * with the previous one's result, so that its device never waits for the host between steps.
   */
  step(request: StepRequest): Promise<StepResult[]>;
  /** The results of the steps still unreported, once they are finished. */
  settle(): Promise<StepResult[]>;
  /** Validation loss over `ids`, cut into the batch's streams as validationChunks does. */
  evaluate(ids: TokenIds): Promise<EvalResult>;
  /** This process's reason to stop (or none) and its schedule length, agreed with every other process. */
  agree(stop: StopReason | null, scheduleLength: number | null): Promise<Agreement>;
  /**
   * Brings the weights into `model.parameters`, and, as asked, the optimizer state into the learner and the
   * carried state back (null when not asked).
   */
  pull(request: PullRequest): Promise<CarriedState[] | null>;
  close(): void;
}

/** charrnn's own engine: the data-parallel step on this process's threads, then clip and update, in place. */
export class CharrnnEngine implements TrainingEngine {
  readonly kind = 'charrnn';
  readonly processes = 1;

  constructor(
    private readonly model: CharModel,
    private readonly parallel: DataParallelStep,
    private readonly batcher: StreamBatcher,
    private readonly learner: Learner,
    private readonly options: TrainOptions,
  ) {}

  get device(): string {
    return this.model.kernels.name;
  }

  get description(): string {
    return this.model.kernels.name;
  }

  get threads(): number {
    return this.parallel.threads;
  }

  async step(request: StepRequest): Promise<StepResult[]> {
    return [await this.train(request)];
  }

  /** Every step is finished and reported when `step` resolves. */
  async settle(): Promise<StepResult[]> {
    return [];
  }

  private async train({ chunk, learningRate, resetState, dropoutRng }: StepRequest): Promise<StepResult> {
    const { parallel, options } = this;
    if (resetState) parallel.resetState();
    parallel.fill(this.batcher, chunk);
    const dropoutSeeds = dropoutRng ? drawSeeds(dropoutRng, options.batch) : null;
    const loss = await parallel.run(dropoutSeeds);
    // Clip to a global norm (whose value also shows divergence), then each element.
    const gradients = parallel.gradients();
    const norm = options.clip > 0 ? clipGradientsByGlobalNorm(gradients, options.clip) : globalNorm(gradients);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) return { loss, norm };
    if (options.clipValue > 0) clipGradientsElementwise(gradients, options.clipValue);
    this.learner.optimizer.update(this.model.parameters, gradients, learningRate);
    return { loss, norm };
  }

  evaluate(ids: TokenIds): Promise<EvalResult> {
    return this.parallel.evaluate(ids);
  }

  async agree(stop: StopReason | null, scheduleLength: number | null): Promise<Agreement> {
    return { stop, scheduleLength };
  }

  /** The weights and the optimizer state are already in place. */
  async pull({ carried }: PullRequest): Promise<CarriedState[] | null> {
    return carried ? this.parallel.carriedState() : null;
  }

  close(): void {
    this.parallel.close();
  }
}

/** One dropout seed per stream. */
const drawSeeds = (rng: Rng, count: number): number[] => Array.from({ length: count }, () => rng.nextUint32());
