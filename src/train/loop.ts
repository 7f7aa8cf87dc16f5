/**
 * The training loop, on one page and in nanoGPT's order: schedule, evaluation and checkpoint when due,
 * forward, loss, backward, clip, update, report. trainer.ts builds what it works with; run-state.ts
 * keeps the run's position, history and checkpoint contents.
 */
import { removeStaleBest, writeCheckpointAtomic } from '../checkpoint/io.js';
import { tensorSpecs } from '../core/config.js';
import type { CharGenerator } from '../core/generate.js';
import type { CarriedState } from '../core/layers/layer.js';
import type { CharModel } from '../core/model.js';
import { Rng } from '../core/rng.js';
import { iterationsForTime, learningRateAt, type LrSchedule } from '../core/schedule.js';
import type { TokenIds, Vocab } from '../data/vocab.js';
import { CharrnnError } from '../errors.js';
import { encodeCheckpoint, type Checkpoint } from './checkpoint.js';
import type { StepResult, TrainingEngine } from './engine.js';
import type { StopReason, TrainEvent, TrainSummary } from './events.js';
import type { TrainOptions } from './options.js';
import type { ChunkPosition, Learner, RunState } from './run-state.js';

/** Everything the loop works with, built by trainer.ts. */
export interface TrainingSetup {
  options: TrainOptions;
  model: CharModel;
  /** Trains a step, validates, and hands back its weights and state (charrnn's threads, or PyTorch's processes). */
  engine: TrainingEngine;
  learner: Learner;
  /** The held-out characters each validation covers (the same slice every time); every thread validates. */
  validationIds: TokenIds;
  generator: CharGenerator;
  vocab: Vocab;
  run: RunState;
  /** The iteration to stop at (from --iters and --epochs), or null when only time or a signal ends the run. */
  targetIterations: number | null;
  /** Checkpoint path; the best by validation loss goes beside it (bestPath). */
  output: string;
  bestOutput: string;
  /** Until the first save: a best checkpoint beside `output` would be an earlier run's (cleared by save). */
  staleBestOutput: boolean;
  timeLimitSeconds: number | null;
  signal?: AbortSignal;
  emit: (event: TrainEvent) => void;
  /** Whether this process writes the checkpoints (not a machine other than 0 of a run on several). */
  writes: boolean;
}

const SAMPLE_LENGTH = 200;

/** A step started whose result the engine has not yet given. */
interface LaunchedStep {
  position: ChunkPosition;
  learningRate: number;
}

/** Trains until the target iteration, the time limit or the signal; validates and saves at the end. */
export async function trainLoop(setup: TrainingSetup): Promise<TrainSummary> {
  const { options, engine, learner, run, targetIterations: target, emit } = setup;
  const firstIteration = run.iteration;
  const clock = new Stopwatch();
  // Steps the engine has started and not yet reported, oldest first: at most one, PyTorch's (engine.ts `step`).
  const launched: LaunchedStep[] = [];
  const report = (results: StepResult[]) => {
    for (const result of results) completeIteration(setup, clock, launched.shift()!, result, firstIteration);
  };
  let reason: StopReason | null;
  for (;;) {
    const iteration = run.iteration + launched.length;
    const isDue = (every: number) => every > 0 && iteration > firstIteration && iteration % every === 0;
    const isLast = target !== null && iteration >= target;
    // Schedule: the chunk this iteration trains on (after an epoch's last, the next one's first) and its learning rate.
    const previous = launched.at(-1)?.position;
    const position = previous ? run.chunkAfter(previous) : run.nextChunk();
    const learningRate = learningRateAt(scheduleOf(options, run.scheduleLength), iteration, position.epoch);
    // What reads the weights or the results waits for the steps still in flight.
    if ([options.evalEvery, options.saveEvery, options.sampleEvery].some(isDue)) report(await engine.settle());
    // Evaluation and checkpoint when due, for the iteration just done; after the last, they follow the loop.
    if (!isLast && isDue(options.evalEvery)) await validateAndSave(setup, clock, isDue(options.saveEvery));
    else if (!isLast && isDue(options.saveEvery)) await save(setup, clock, false);
    if (isDue(options.sampleEvery)) emit({ event: 'sample', iteration, text: await sample(setup) });
    // Every process stops at the same step: the first reason any of them has.
    const agreed = await engine.agree(stopReason(setup, isLast, clock), run.scheduleLength);
    run.scheduleLength = agreed.scheduleLength;
    reason = agreed.stop;
    if (reason !== null) break;
    // Forward, loss, backward, clip (to a global norm, whose value also shows divergence) and update.
    launched.push({ position, learningRate });
    const finished = await engine.step({
      chunk: position.chunk,
      learningRate,
      resetState: position.epoch !== (previous?.epoch ?? run.epoch), // each epoch starts from a zero hidden state
      dropoutRng: options.dropout > 0 ? learner.rng : null,
    });
    report(finished);
    await nextTurn();
  }
  report(await engine.settle());
  const seconds = clock.seconds();
  const chars = (run.iteration - firstIteration) * options.batch * options.seqLength;
  await validateAndSave(setup, clock, true);
  const valLoss = run.lastValLoss;
  const summary: TrainSummary = {
    event: 'done',
    reason,
    iterations: run.iteration,
    chars,
    seconds,
    chars_per_s: seconds > 0 ? chars / seconds : 0,
    train_loss: run.lastTrainLoss,
    val_loss: valLoss,
    val_bpc: valLoss === null ? null : valLoss / Math.LN2,
    checkpoint: setup.output,
  };
  emit(summary);
  return summary;
}

/** Records a finished step and reports it; a loss or norm that is not finite ends the run. */
function completeIteration(
  setup: TrainingSetup,
  clock: Stopwatch,
  { position, learningRate }: LaunchedStep,
  { loss, norm }: StepResult,
  firstIteration: number,
): void {
  const { run, options, targetIterations } = setup;
  if (!Number.isFinite(loss) || !Number.isFinite(norm)) throw divergence(run.iteration + 1, loss, norm, setup.output);
  run.completeIteration(position, loss, options.batch * options.seqLength);
  const at = { iteration: run.iteration, targetIterations, epoch: run.fractionalEpoch() };
  setup.emit({ event: 'progress', ...at, trainLoss: loss, learningRate, elapsedSeconds: clock.seconds() });
  if (run.scheduleLength === null) sizeScheduleFromSpeed(setup, clock, run.iteration - firstIteration);
}

/**
 * A cosine schedule limited only by --time gets its length once the speed is known (at least ten
 * iterations and a few seconds in): the iterations the time allows, fixed in the run state so a resumed
 * run follows the same schedule.
 */
function sizeScheduleFromSpeed(setup: TrainingSetup, clock: Stopwatch, done: number): void {
  const { run, timeLimitSeconds, targetIterations } = setup;
  const seconds = clock.seconds();
  if (setup.options.lrSchedule !== 'cosine' || timeLimitSeconds === null) return;
  if (done < 10 || seconds < Math.min(10, timeLimitSeconds / 20)) return;
  const byTime = iterationsForTime(run.iteration, timeLimitSeconds - seconds, seconds / done);
  run.scheduleLength = Math.min(byTime, targetIterations ?? Infinity);
}

/** Seconds since this invocation began setup. */
class Stopwatch {
  private readonly started = performance.now();

  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }
}

/** Lets signals and I/O through between iterations. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function stopReason(setup: TrainingSetup, isLast: boolean, clock: Stopwatch): StopReason | null {
  if (isLast) return 'finished';
  if (setup.signal?.aborted) return 'interrupted';
  if (setup.timeLimitSeconds && clock.seconds() >= setup.timeLimitSeconds) return 'time';
  return null;
}

/**
 * Validates on the held-out slice, reports it, and saves when `forceSave` or when it is the best so far
 * (then also as the best checkpoint). Without validation data only a forced save happens.
 */
async function validateAndSave(setup: TrainingSetup, clock: Stopwatch, forceSave: boolean): Promise<void> {
  const { run } = setup;
  const result = await setup.engine.evaluate(setup.validationIds);
  const best = result.chars > 0 && run.recordValidation(result.loss);
  if (result.chars > 0) {
    const epoch = run.fractionalEpoch();
    setup.emit({ event: 'eval', iteration: run.iteration, epoch, valLoss: result.loss, valBpc: result.bpc, best });
  }
  if (forceSave || best) await save(setup, clock, best);
}

/** The run's learning-rate schedule from its options, over its length where that is known. */
function scheduleOf(options: TrainOptions, scheduleLength: number | null): LrSchedule {
  const { lrSchedule, learningRate, minLearningRate, warmup, lrDecay, lrDecayEvery } = options;
  return {
    kind: lrSchedule,
    baseRate: learningRate,
    minRate: minLearningRate > 0 ? minLearningRate : learningRate / 10,
    warmup,
    decay: lrDecay,
    decayEvery: lrDecayEvery,
    totalIterations: scheduleLength ?? Infinity,
  };
}

/** Writes the checkpoint (atomically), and the best checkpoint too when `best`. */
async function save(setup: TrainingSetup, clock: Stopwatch, best: boolean): Promise<void> {
  const { run, emit } = setup;
  // Every process takes part in handing the state back; one writes it.
  const carried = await setup.engine.pull({ optimizer: true, carried: true });
  if (!setup.writes || carried === null) return;
  const checkpoint = encodeCheckpoint(assembleCheckpoint(setup, carried, clock.seconds()));
  writeCheckpointAtomic(setup.output, checkpoint);
  emit({ event: 'checkpoint', iteration: run.iteration, path: setup.output, best: false });
  if (best) {
    writeCheckpointAtomic(setup.bestOutput, checkpoint);
    emit({ event: 'checkpoint', iteration: run.iteration, path: setup.bestOutput, best: true });
  } else if (setup.staleBestOutput) {
    // This run now holds the checkpoint path; an earlier run's best copy beside it must not pass for its best.
    removeStaleBest(setup.bestOutput);
  }
  setup.staleBestOutput = false;
}

function assembleCheckpoint(setup: TrainingSetup, carried: CarriedState[], secondsThisRun: number): Checkpoint {
  const { model, run } = setup;
  // A finite loss can still come with an update that overflowed: never save such weights.
  for (const [name, tensor] of model.tensors) {
    if (!tensor.every(Number.isFinite)) {
      throw new CharrnnError(
        `training diverged by iteration ${run.iteration}: ${name} is no longer finite; nothing was saved and ` +
          `${setup.output} keeps the last good weights; try a lower --lr or a smaller --clip`,
      );
    }
  }
  const { engine } = setup;
  const trainedOn = { engine: engine.kind, device: engine.device };
  const trainingSection = run.trainingSection(setup.learner, carried, trainedOn, secondsThisRun);
  return {
    model: model.config,
    vocab: setup.vocab.symbols,
    tensors: Object.fromEntries(
      tensorSpecs(model.config).map(({ name, shape }) => [name, { shape, data: model.tensors.get(name)! }]),
    ),
    training: trainingSection,
  };
}

/** A short sample from the current weights, seeded by the run's seed and the iteration. */
async function sample(setup: TrainingSetup): Promise<string> {
  const { generator, vocab, run } = setup;
  await setup.engine.pull({ optimizer: false, carried: false });
  const rng = new Rng((setup.options.seed ^ run.iteration) >>> 0);
  const newline = vocab.idOf(10);
  generator.prime([Math.max(newline, 0)]); // a newline, or the first symbol where there is none
  const ids: number[] = [];
  for (let i = 0; i < SAMPLE_LENGTH; i++) ids.push(generator.next({ temperature: 1 }, rng).id);
  return vocab.decode(Uint32Array.from(ids));
}

function divergence(iteration: number, loss: number, norm: number, output: string): CharrnnError {
  const what = Number.isFinite(loss) ? `gradient norm is ${norm}` : `loss is ${loss}`;
  return new CharrnnError(
    `training diverged at iteration ${iteration}: the ${what}; nothing from this step was saved and ${output} keeps ` +
      'the last good weights; try a lower --lr or a smaller --clip',
  );
}
