/**
 * What a training run reports, in order: one `start`, then per iteration a `progress` and, when due,
 * `eval`, `checkpoint` and `sample`, and last a `done`. Events carry facts; rates and estimates (chars/s,
 * ETA) are the display's to derive from `charsPerIteration`, `elapsedSeconds` and the limits.
 */
import type { EngineKind } from './options.js';
import type { Origin } from './state.js';

export interface StartEvent {
  event: 'start';
  /** Iterations already done (0 for a fresh run). */
  iteration: number;
  /** The iteration the run stops at, from --iters and --epochs; null when only time limits it. */
  targetIterations: number | null;
  epoch: number;
  chunksPerEpoch: number;
  /** Characters one iteration trains on: --batch × --seq. */
  charsPerIteration: number;
  /** This invocation's time limit (--time), or null. */
  timeLimitSeconds: number | null;
  parameters: number;
  vocab: number;
  trainChars: number;
  /** Characters each validation covers: the start of the held-out text, up to `valChars` of the options. */
  valChars: number;
  /** Characters held out for validation in all (--val-frac of the corpus). */
  heldOutChars: number;
  resumed: boolean;
  /** Where a fine-tuned run's first weights came from (train --init-from); null for a run from fresh weights. */
  origin: Origin | null;
  /** What trains the run, and where: charrnn's kernels ("native-avx512"), or PyTorch's device ("cuda:0"). */
  engine: EngineKind;
  device: string;
  /** What computes, as the start line names it: the kernels, or "torch 2.11.0 cuda:0". */
  kernel: string;
  /** Threads computing a step, in each process. */
  threads: number;
  /** Processes computing a step, over every machine (1 for charrnn). */
  processes: number;
}

export interface ProgressEvent {
  event: 'progress';
  iteration: number;
  targetIterations: number | null;
  epoch: number;
  /** Mean loss (nats/char) of this iteration's batch. */
  trainLoss: number;
  learningRate: number;
  /** Seconds since this invocation started training. */
  elapsedSeconds: number;
}

export interface EvalEvent {
  event: 'eval';
  iteration: number;
  epoch: number;
  valLoss: number;
  valBpc: number;
  /** The lowest validation loss of the run so far (then the best checkpoint is saved). */
  best: boolean;
}

export interface CheckpointEvent {
  event: 'checkpoint';
  iteration: number;
  path: string;
  best: boolean;
}

export interface SampleEvent {
  event: 'sample';
  iteration: number;
  text: string;
}

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

export type TrainEvent = StartEvent | ProgressEvent | EvalEvent | CheckpointEvent | SampleEvent | TrainSummary;
