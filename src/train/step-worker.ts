/**
 * The part of a training step each thread does, and the worker threads that do it off the main thread.
 * The batch's streams are split into one contiguous group per thread; a thread runs forward, loss and
 * backward through time over its group in its own training pass, then computes its slice of every
 * parameter gradient over the whole batch (weight-gradients.ts), reading the other threads' passes in
 * the shared kernel memory. Validation runs each group forward in its own inference pass.
 *
 * The main thread lays out every pass; a worker attaches to the shared memory, adopts the flat
 * parameters and the passes in place, and serves requests signalled through Atomics on a small control
 * block: no messages and no copies per step. Inputs come from a chunk every thread reads; each row's
 * loss goes to its slot of a shared table.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { parameterLayout, type ModelConfig } from '../core/config.js';
import { KernelMemoryError } from '../core/kernels.js';
import { CharModel } from '../core/model.js';
import { passFloats } from '../core/pass-buffers.js';
import type { InferencePass, TrainingPass } from '../core/passes.js';
import { Rng } from '../core/rng.js';
import { createWasmKernels } from '../core/wasm/kernels-wasm.js';
import { WeightGradients } from '../core/weight-gradients.js';

/** What the threads share for a request: the chunk [steps, batch] (time-major); per stream, dropout seeds; per row, losses. */
export interface StepTable {
  /** Total streams in the batch: the row stride of the chunk. */
  batch: number;
  /** First stream of each thread's group, then the batch size. */
  streamStarts: number[];
  inputs: Int32Array;
  targets: Int32Array;
  /** Training: each stream's dropout seed (read only when the request has dropout). */
  dropoutSeeds: Int32Array;
  /** Each row's loss (nats), time-major [steps, batch] like the chunk. */
  losses: Float64Array;
}

/** The buffers a step table lives in, as handed to a worker. */
interface StepTableBuffers {
  batch: number;
  streamStarts: number[];
  inputs: SharedArrayBuffer;
  targets: SharedArrayBuffer;
  dropoutSeeds: SharedArrayBuffer;
  losses: SharedArrayBuffer;
}

export function createStepTable(
  batch: number,
  seqLength: number,
  streamStarts: number[],
): { table: StepTable; buffers: StepTableBuffers } {
  const buffers: StepTableBuffers = {
    batch,
    streamStarts,
    inputs: new SharedArrayBuffer(batch * seqLength * 4),
    targets: new SharedArrayBuffer(batch * seqLength * 4),
    dropoutSeeds: new SharedArrayBuffer(batch * 4),
    losses: new SharedArrayBuffer(batch * seqLength * 8),
  };
  return { table: attachStepTable(buffers), buffers };
}

function attachStepTable(buffers: StepTableBuffers): StepTable {
  return {
    batch: buffers.batch,
    streamStarts: buffers.streamStarts,
    inputs: new Int32Array(buffers.inputs),
    targets: new Int32Array(buffers.targets),
    dropoutSeeds: new Int32Array(buffers.dropoutSeeds),
    losses: new Float64Array(buffers.losses),
  };
}

/** Each thread's pass memory (passFloats long each): its training pass, and its inference pass for validation. */
export type PassMemory = { training: Float32Array; inference: Float32Array };

/** The same as byte offsets in the shared kernel memory, as handed to a worker. */
type PassPlaces = Array<{ training: number; inference: number }>;

const streamsOf = (table: StepTable, part: number): number => table.streamStarts[part + 1]! - table.streamStarts[part]!;

/** Floats of thread `part`'s two passes. */
function passSizes(model: CharModel, table: StepTable, part: number, seqLength: number) {
  const streams = streamsOf(table, part);
  return {
    training: passFloats(model.config, streams, seqLength, true),
    inference: passFloats(model.config, streams, seqLength, false),
  };
}

/** Lays out every thread's training and inference pass in the kernel memory, all at once up front. */
export function layOutPasses(model: CharModel, table: StepTable, seqLength: number): PassMemory[] {
  return table.streamStarts.slice(0, -1).map((_, part) => {
    const floats = passSizes(model, table, part, seqLength);
    return { training: model.kernels.alloc(floats.training), inference: model.kernels.alloc(floats.inference) };
  });
}

/** A worker's views of the passes the main thread laid out at `places`. */
function viewPasses(model: CharModel, table: StepTable, places: PassPlaces, seqLength: number): PassMemory[] {
  const memory = model.kernels.sharedMemory!.buffer;
  return places.map(({ training, inference }, part) => {
    const floats = passSizes(model, table, part, seqLength);
    return {
      training: new Float32Array(memory, training, floats.training),
      inference: new Float32Array(memory, inference, floats.inference),
    };
  });
}

/**
 * Thread `part`'s share of every request: its group of streams [streamStarts[part], streamStarts[part+1])
 * in `pass` (training) and `evaluationPass` (validation), and its slice of the weight gradients. A
 * stream's arithmetic does not depend on which thread runs it, nor a gradient element's on which thread
 * sums it, so neither do the results.
 */
export class StreamGroup {
  private readonly firstStream: number;

  constructor(
    private readonly table: StepTable,
    readonly part: number,
    readonly pass: TrainingPass,
    private readonly evaluationPass: InferencePass,
    private readonly weightGradients: WeightGradients,
  ) {
    this.firstStream = table.streamStarts[part]!;
  }

  get parts(): number {
    return this.table.streamStarts.length - 1;
  }

  /** Forward, loss and backward through time of the group's streams on the table's chunk. */
  train(withDropout: boolean): void {
    const { pass, table } = this;
    this.copyRows(pass, pass.seqLength);
    pass.forward(withDropout ? this.dropoutRandoms() : undefined);
    pass.loss(table.batch * pass.seqLength);
    pass.backwardThroughTime();
    this.storeRowLosses(pass.rowLosses, pass.seqLength);
  }

  /** This thread's slice of every parameter gradient, over the whole batch (after every thread's train). */
  sumGradients(withDropout: boolean): void {
    this.weightGradients.compute(withDropout, this.part, this.parts);
  }

  /**
   * Forward only, over the first `steps` rows of the table's chunk: each row's loss goes to its slot.
   * The carried state starts from zero on the first chunk and is carried between chunks.
   */
  evaluate(steps: number, firstChunk: boolean): void {
    const pass = this.evaluationPass;
    if (firstChunk) pass.resetCarried();
    this.copyRows(pass, steps);
    pass.forward(steps);
    pass.loss(steps);
    this.storeRowLosses(pass.rowLosses, steps);
  }

  private dropoutRandoms(): Rng[] {
    const seeds = this.table.dropoutSeeds;
    return Array.from({ length: this.pass.batch }, (_, stream) => new Rng(seeds[this.firstStream + stream]! >>> 0));
  }

  /** The group's streams of each of `steps` time steps of the chunk, into the pass's own [steps, B_group] rows. */
  private copyRows(pass: TrainingPass | InferencePass, steps: number): void {
    const { batch, inputs, targets } = this.table;
    // Element by element: a few streams per step, where views and set() would cost more (and make garbage).
    for (let t = 0; t < steps; t++) {
      for (let b = 0, from = t * batch + this.firstStream, to = t * pass.batch; b < pass.batch; b++, from++, to++) {
        pass.inputs[to] = inputs[from]!;
        pass.targets[to] = targets[from]!;
      }
    }
  }

  private storeRowLosses(rowLosses: Float64Array, steps: number): void {
    const { batch, losses } = this.table;
    const streams = this.pass.batch;
    for (let t = 0; t < steps; t++) {
      for (let b = 0; b < streams; b++) losses[t * batch + this.firstStream + b] = rowLosses[t * streams + b]!;
    }
  }
}

/**
 * Thread `part`'s StreamGroup over the passes laid out in `memories`, summing its slice of the weight
 * gradients into `gradients`; and every thread's training pass (for the carried state).
 */
export function attachStreamGroup(
  model: CharModel,
  table: StepTable,
  memories: PassMemory[],
  gradients: Float32Array,
  part: number,
  seqLength: number,
): { group: StreamGroup; passes: TrainingPass[] } {
  const passes = memories.map(({ training }, thread) =>
    model.createTrainingPass(streamsOf(table, thread), seqLength, training),
  );
  const memory = memories[part]!.inference;
  const evaluationPass = model.createInferencePass(streamsOf(table, part), seqLength, { memory });
  const sums = new WeightGradients(model.kernels, model.layout, gradients, passes, seqLength);
  return { group: new StreamGroup(table, part, passes[part]!, evaluationPass, sums), passes };
}

// Control block (Int32 slots): the main thread writes a request's fields, then bumps COMMAND.
const COMMAND = 0; // request counter
const DONE = 1; // the last request the worker finished
const KIND = 2;
const STEPS = 3; // evaluation: rows of the chunk in use
const FIRST_CHUNK = 4; // evaluation: 1 on a validation's first chunk
const DROPOUT = 5; // training and gradients: 1 when the step draws dropout masks
const CONTROL_SLOTS = 6;

const REQUEST = { train: 1, gradients: 2, evaluate: 3, stop: 4 } as const;

/** Atomics.waitAsync (ES2024, in Node since 16), which the ES2022 library types do not declare yet. */
type AsyncWait =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (
  Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): AsyncWait }
).waitAsync.bind(Atomics);

/** A wait ends after this long and looks again, so none outlives its worker for long; a death ends it at once. */
const WAIT_SLICE_MS = 250;

interface StepWorkerData {
  memory: WebAssembly.Memory;
  config: ModelConfig;
  /** Byte offsets of the model's flat parameters, and of the step's flat gradients, in `memory`. */
  parameters: number;
  gradients: number;
  seqLength: number;
  table: StepTableBuffers;
  places: PassPlaces;
  part: number;
  control: SharedArrayBuffer;
}

/** What a worker reports once started: that it is ready, or that kernel memory ran out setting up. */
type StartReport = { ready: true } | { outOfMemory: { requestedBytes: number; freeBytes: number; limitBytes: number } };

/** Raised when a worker thread has died; the message says how (its error's message, or its exit code). */
export class WorkerDiedError extends Error {}

/** The main thread's handle on the worker thread doing part `part` of each step. */
export class StepWorker {
  private readonly control: Int32Array;
  private requests = 0;
  private stopping = false;
  /** Set when the worker dies; then every wait ends at once with it. */
  private death: string | null = null;
  private readonly died: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    control: SharedArrayBuffer,
  ) {
    this.control = new Int32Array(control);
    let markDied!: () => void;
    this.died = new Promise((resolve) => (markDied = resolve));
    // Whatever the cause (an error thrown in the worker, process.exit there, a crash), 'exit' follows.
    worker.on('error', (error) => {
      this.death ??= error instanceof Error ? error.message : String(error);
      markDied();
    });
    worker.on('exit', (code) => {
      if (!this.stopping) this.death ??= `it exited with code ${code}`;
      markDied();
    });
    worker.unref();
  }

  /**
   * Starts a worker on `script` for part `part` of each step, over the passes at `places`; resolves once
   * it is ready. Rejects with a KernelMemoryError when its own buffers do not fit, or a WorkerDiedError
   * when it fails otherwise.
   */
  static async start(
    script: URL,
    model: CharModel,
    table: StepTableBuffers,
    memories: PassMemory[],
    gradients: Float32Array,
    part: number,
    seqLength: number,
  ): Promise<StepWorker> {
    const memory = model.kernels.sharedMemory;
    if (!memory) throw new Error('worker threads need the wasm kernels (shared memory)');
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
    const { config } = model;
    const parameters = model.parameters.byteOffset;
    const places = memories.map(({ training, inference }) => ({
      training: training.byteOffset,
      inference: inference.byteOffset,
    }));
    const data: StepWorkerData = {
      memory,
      config,
      parameters,
      gradients: gradients.byteOffset,
      seqLength,
      table,
      places,
      part,
      control,
    };
    const worker = new Worker(script, { workerData: data });
    const report = await new Promise<StartReport>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', (error) => reject(new WorkerDiedError(error.message)));
      worker.once('exit', (code) => reject(new WorkerDiedError(`it exited with code ${code} while starting`)));
    });
    worker.removeAllListeners();
    if ('outOfMemory' in report) {
      void worker.terminate();
      const { requestedBytes, freeBytes, limitBytes } = report.outOfMemory;
      throw new KernelMemoryError(requestedBytes, freeBytes, limitBytes);
    }
    return new StepWorker(worker, control);
  }

  /** Asks for forward, loss and backward through time on the worker's streams; returns at once. */
  beginTraining(withDropout: boolean): void {
    this.control[DROPOUT] = withDropout ? 1 : 0;
    this.send(REQUEST.train);
  }

  /** Asks for the worker's slice of the weight gradients (once every thread's training part is done). */
  beginGradients(): void {
    this.send(REQUEST.gradients);
  }

  /** Asks for one forward-only chunk of `steps` rows on the worker's streams; returns at once. */
  beginEvaluation(steps: number, firstChunk: boolean): void {
    this.control[STEPS] = steps;
    this.control[FIRST_CHUNK] = firstChunk ? 1 : 0;
    this.send(REQUEST.evaluate);
  }

  private send(kind: number): void {
    if (this.death !== null) throw new WorkerDiedError(this.death);
    this.control[KIND] = kind;
    this.requests++;
    Atomics.store(this.control, COMMAND, this.requests);
    Atomics.notify(this.control, COMMAND);
  }

  /**
   * Resolves when the request begun last is done; rejects with WorkerDiedError as soon as the worker
   * dies. It waits without blocking the event loop, so the worker's 'exit' and signals still arrive.
   */
  async finished(): Promise<void> {
    this.worker.ref(); // a pending wait alone would not keep the process alive
    try {
      for (;;) {
        if (this.death !== null) throw new WorkerDiedError(this.death);
        // Wait only while DONE still holds the value just read, so a notify already gone is never waited for.
        const done = Atomics.load(this.control, DONE);
        if (done === this.requests) return;
        const wait = waitAsync(this.control, DONE, done, WAIT_SLICE_MS);
        if (wait.async) await Promise.race([wait.value, this.died]);
      }
    } finally {
      this.worker.unref();
    }
  }

  stop(): void {
    this.stopping = true;
    this.control[KIND] = REQUEST.stop;
    Atomics.add(this.control, COMMAND, 1);
    Atomics.notify(this.control, COMMAND);
    void this.worker.terminate();
  }
}

/** Test hooks: a worker exits (CHARRNN_TEST_WORKER_EXIT_AT) or throws (..._THROW_AT) at that training request. */
function testFailureAt(name: string): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

/** The worker's share of each step, or null (reported to the main thread) when kernel memory runs out setting up. */
function attachGroup(data: StepWorkerData): StreamGroup | null {
  const { size } = parameterLayout(data.config);
  const parameters = new Float32Array(data.memory.buffer, data.parameters, size);
  const gradients = new Float32Array(data.memory.buffer, data.gradients, size);
  try {
    // The kernels reserve their workspace, and the weight gradients their row tables, from the shared heap.
    const model = new CharModel(data.config, createWasmKernels(data.memory), parameters);
    const table = attachStepTable(data.table);
    const memories = viewPasses(model, table, data.places, data.seqLength);
    return attachStreamGroup(model, table, memories, gradients, data.part, data.seqLength).group;
  } catch (error) {
    if (!(error instanceof KernelMemoryError)) throw error;
    const { requestedBytes, freeBytes, limitBytes } = error;
    parentPort!.postMessage({ outOfMemory: { requestedBytes, freeBytes, limitBytes } } satisfies StartReport);
    return null;
  }
}

/** The worker's side: attach to the passes, report ready, then serve requests until told to stop. */
export function runStepWorker(): void {
  const data = workerData as StepWorkerData;
  const group = attachGroup(data);
  if (group === null) return;
  const control = new Int32Array(data.control);
  const exitAt = testFailureAt('CHARRNN_TEST_WORKER_EXIT_AT');
  const throwAt = testFailureAt('CHARRNN_TEST_WORKER_THROW_AT');
  parentPort!.postMessage({ ready: true } satisfies StartReport);
  let served = 0;
  let trainingSteps = 0;
  for (;;) {
    Atomics.wait(control, COMMAND, served);
    const request = Atomics.load(control, COMMAND);
    if (request === served) continue;
    const kind = control[KIND];
    if (kind === REQUEST.stop) return;
    if (kind === REQUEST.train) {
      trainingSteps++;
      if (trainingSteps === exitAt) process.exit(7);
      if (trainingSteps === throwAt) throw new Error(`test failure in a worker at training step ${throwAt}`);
      group.train(control[DROPOUT] === 1);
    } else if (kind === REQUEST.gradients) group.sumGradients(control[DROPOUT] === 1);
    else group.evaluate(control[STEPS]!, control[FIRST_CHUNK] === 1);
    // An error above ends the thread: the main thread sees it die and reports the error's message.
    served = request;
    Atomics.store(control, DONE, request);
    Atomics.notify(control, DONE);
  }
}
