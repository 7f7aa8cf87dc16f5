/**
 * Training's entry points: trainModel (a new run, or a fine-tune) here and resumeTraining (resume.ts)
 * check a call's options once, against the tables in options.ts, read the corpus, and set the run up
 * (size checks, data, outputs, threads, fresh or resumed state) for the loop (loop.ts). Training emits
 * events and never prints; the CLI (or any library user) renders them.
 */
import { bestPath, prepareOutput } from '../checkpoint/io.js';
import { checkRunFiles } from '../checkpoint/run-files.js';
import { lockRunOutputs } from '../checkpoint/run-lock.js';
import { createKernels } from '../core/backend.js';
import { parameterCount, type ModelConfig } from '../core/config.js';
import type { Kernels } from '../core/kernels.js';
import { CharrnnError } from '../errors.js';
import { checkSettings } from '../settings.js';
import { readCorpus, trainDataFor, type Corpus, type TrainData } from './corpus.js';
import type { TrainingEngine } from './engine.js';
import { chooseEngine, type EngineChoice } from './engine-choice.js';
import type { StartEvent, TrainEvent, TrainSummary } from './events.js';
import { fineTuneStart, type InitialWeights } from './fine-tune.js';
import { trainLoop } from './loop.js';
import {
  newRunOptions,
  RUN_SETTINGS,
  type NewRunOptions,
  type RunOptionNamer,
  type RunSettings,
  type TrainOptions,
} from './options.js';
import { restoreLearner, RunState, startLearner } from './run-state.js';
import {
  buildModel,
  checkSize,
  checkStreamsPerProcess,
  cutData,
  fixScheduleLength,
  startEngine,
  targetIterations,
} from './run-setup.js';
import type { TrainingState } from './state.js';

/** The settings of one call (output, timeLimitSeconds, kernel, threads: see RUN_SETTINGS), and where events go. */
export interface RunControl extends Partial<RunSettings> {
  onEvent?: (event: TrainEvent) => void;
  signal?: AbortSignal;
  /**
   * How errors about the run's options and settings name them: `options.hidden` and `control.output` by
   * default (the CLI says `--hidden` and `--output`).
   */
  optionName?: RunOptionNamer;
  /**
   * Where the caller writes the run's log (the library never writes it): checked with the run's other
   * files, so it is never the corpus, a checkpoint, or the checkpoint the run starts from.
   */
  log?: string;
}

/** The library's names: a run's options under `options.`, the settings of the call under `control.`. */
const trainModelName: RunOptionNamer = (option) => (option in RUN_SETTINGS ? `control.${option}` : `options.${option}`);

/**
 * `checkpoints/<corpus name without its extension>.json`; a hidden corpus (`.notes.txt`) still gives a
 * visible checkpoint (`notes.json`), which `sample` and `eval` find without -c.
 */
export function defaultOutputPath(source: string): string {
  const name = source === '-' ? 'stdin' : (source.split(/[\\/]/).pop() ?? '');
  const base = name.replace(/^\.+/, '').replace(/\.[^.]*$/, '') || 'corpus';
  return `checkpoints/${base}.json`;
}

/**
 * Trains a new model on a corpus (a Corpus, or a path read once the options are checked, in their
 * `encoding`); resolves when it finishes, runs out of time or is aborted. `options.preset` starts from a
 * named recipe. With `initFrom` it fine-tunes that checkpoint's model: its shape and weights, with
 * everything else fresh.
 */
export async function trainModel(
  corpus: Corpus | string,
  options: NewRunOptions = {},
  control: RunControl = {},
): Promise<TrainSummary> {
  const { onEvent, signal, optionName = trainModelName, log, ...settings } = control;
  const run = newRunOptions(options, optionName);
  checkSettings(RUN_SETTINGS, settings, optionName);
  const source = typeof corpus === 'string' ? corpus : corpus.source;
  const output = settings.output ?? defaultOutputPath(source);
  checkRunFiles({ corpus: source, initFrom: run.options.initFrom, checkpoint: output, log });
  const engine = await chooseEngine(settings, null, optionName);
  const text = typeof corpus === 'string' ? readCorpus(corpus, run.options.encoding) : corpus;
  const kernels = createKernels(settings.kernel ?? 'auto');
  const { timeLimitSeconds, threads } = settings;
  const request = { kernels, output, timeLimitSeconds, threads, engine };
  const events = { onEvent, signal };
  if (run.options.initFrom === undefined) {
    return setUpAndTrain({ ...request, ...events, data: trainDataFor(text, text.vocab) }, run.options, null);
  }
  const start = fineTuneStart(run, text, optionName);
  return setUpAndTrain({ ...request, ...events, data: start.data, initialWeights: start.weights }, start.options, null);
}

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
  /** What trains the run (chooseEngine); charrnn's own engine when absent. */
  engine?: EngineChoice;
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

/** A checkpoint's run to continue: its `training` section and its weights. */
export interface SavedRun {
  training: TrainingState;
  tensors: Record<string, Float32Array>;
}

export function modelConfigOf(options: TrainOptions, vocabSize: number): ModelConfig {
  const { cell, layers, hidden, dropout } = options;
  return { cell, layers, hidden, vocab: vocabSize, dropout };
}

/**
 * Sets a run up, fresh (`saved` null) or continuing a checkpoint's run exactly where it stopped (weights,
 * optimizer, RNG, data position, hidden state), and runs the loop.
 */
export async function setUpAndTrain(
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
  const engineChoice = request.engine ?? { kind: 'charrnn' };
  checkStreamsPerProcess(options, engineChoice);
  // Only machine 0 of a run on several writes: checkpoints and events (the others compute their share).
  const writes = engineChoice.kind === 'charrnn' || engineChoice.world.machine === 0;
  // Outputs are checked before any thread starts: a file or a new path (the library checked them against its inputs).
  if (writes) {
    prepareOutput(request.output);
    prepareOutput(bestPath(request.output));
  }
  const lock = writes ? lockRunOutputs([request.output, bestPath(request.output)]) : null;
  const building = { kernels: request.kernels, threads: request.threads, engine: engineChoice.kind };
  const { model, parallel, generator } = await buildModel(config, options, building).catch((error) => {
    lock?.release();
    throw error;
  });
  let engine: TrainingEngine | undefined;
  try {
    const learner = saved
      ? restoreLearner(model, saved.training, saved.tensors)
      : startLearner(model, options, request.initialWeights?.tensors);
    const carried = saved?.training.carried ?? null;
    engine = await startEngine(engineChoice, { model, parallel, batcher, learner, options, carried, validationIds });
    // The other machines report only that they have joined (the start event); machine 0 reports the run.
    const onEvent = request.onEvent ?? (() => {});
    const emit = (event: TrainEvent) => {
      if (writes || event.event === 'start') onEvent(event);
    };
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
      engine: engine.kind,
      device: engine.device,
      kernel: engine.description,
      threads: engine.threads,
      processes: engine.processes,
    };
    emit(start);
    return await trainLoop({
      options,
      model,
      engine,
      learner,
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
      writes,
    });
  } finally {
    (engine ?? parallel)?.close();
    lock?.release();
  }
}
