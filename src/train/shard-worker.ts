/**
 * The shards of the batch one thread computes, and the worker threads that compute them off the main
 * thread. A worker attaches to the main thread's shared kernel memory, adopts its flat parameters in
 * place, lays out a training pass and an inference pass per shard, and then serves requests (a training
 * step, or one forward-only chunk of validation) signalled through Atomics on a small control block: no
 * messages and no copies per step. Inputs come from a chunk every thread reads; each shard's loss goes to
 * its own slot of a shared table.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { parameterLayout, type ModelConfig } from '../core/config.js';
import { KernelMemoryError } from '../core/kernels.js';
import type { CarriedState } from '../core/layers/layer.js';
import { CharModel, type InferencePass, type TrainingPass } from '../core/model.js';
import { Rng } from '../core/rng.js';
import { createWasmKernels } from '../core/wasm/kernels-wasm.js';
import { addGradients, sumWithinGroup } from './shard-sum.js';

/** What the threads share for a request: the chunk [steps, batch] (time-major); per shard, dropout seeds and losses. */
export interface StepTable {
  /** Total streams in the batch: the row stride of the chunk. */
  batch: number;
  /** First stream of each shard, then the batch size. */
  streamStarts: number[];
  inputs: Int32Array;
  targets: Int32Array;
  /** Training: each shard's dropout seed (read only when the request has dropout). */
  dropoutSeeds: Int32Array;
  /** Each shard's loss: the training loss share (sum / batch rows), or the summed validation loss. */
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
  const shardCount = streamStarts.length - 1;
  const buffers: StepTableBuffers = {
    batch,
    streamStarts,
    inputs: new SharedArrayBuffer(batch * seqLength * 4),
    targets: new SharedArrayBuffer(batch * seqLength * 4),
    dropoutSeeds: new SharedArrayBuffer(shardCount * 4),
    losses: new SharedArrayBuffer(shardCount * 8),
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

/**
 * The contiguous shards [first, end) of the batch that one thread computes, each in its own training
 * pass (whose carried state is the shard's) and inference pass (validation's). A shard's arithmetic
 * does not depend on which thread runs it, so neither do the results.
 */
export class ShardGroup {
  readonly passes: TrainingPass[];
  private readonly evaluationPasses: InferencePass[];

  constructor(
    private readonly model: CharModel,
    private readonly table: StepTable,
    readonly first: number,
    readonly end: number,
    seqLength: number,
  ) {
    const shards = Array.from({ length: end - first }, (_, index) => first + index);
    this.passes = shards.map((shard) => model.createTrainingPass(this.streamsOf(shard), seqLength));
    this.evaluationPasses = shards.map((shard) => model.createInferencePass(this.streamsOf(shard), seqLength));
  }

  /** Forward, loss and backward of the group's shards on the table's chunk, then its part of the gradient sum. */
  train(withDropout: boolean): void {
    const rows = this.table.batch * this.passes[0]!.seqLength;
    this.passes.forEach((pass, index) => {
      const shard = this.first + index;
      this.copyShardRows(shard, pass, pass.seqLength);
      pass.forward(withDropout ? new Rng(this.table.dropoutSeeds[shard]! >>> 0) : undefined);
      this.table.losses[shard] = pass.loss(rows);
      pass.zeroGradients();
      pass.backward();
    });
    const gradientsOf = (shard: number) => this.passes[shard - this.first]!.gradients;
    sumWithinGroup(this.table.losses.length, this.first, this.end, (into, from) =>
      addGradients(this.model.kernels, gradientsOf(into), gradientsOf(from)),
    );
  }

  /**
   * Forward only, over the first `steps` rows of the table's chunk: each shard's summed loss goes to
   * its slot. The carried state starts from zero on the first chunk and is carried between chunks.
   */
  evaluate(steps: number, firstChunk: boolean): void {
    this.evaluationPasses.forEach((pass, index) => {
      const shard = this.first + index;
      if (firstChunk) pass.resetCarried();
      this.copyShardRows(shard, pass, steps);
      pass.forward(steps);
      this.table.losses[shard] = pass.loss(steps) * pass.batch * steps;
    });
  }

  private streamsOf(shard: number): number {
    return this.table.streamStarts[shard + 1]! - this.table.streamStarts[shard]!;
  }

  /** The shard's streams of each of `steps` time steps of the chunk, into the pass's own [steps, B_shard] rows. */
  private copyShardRows(shard: number, pass: TrainingPass | InferencePass, steps: number): void {
    const { batch, inputs, targets } = this.table;
    const first = this.table.streamStarts[shard]!;
    // Element by element: a few streams per step, where views and set() would cost more (and make garbage).
    for (let t = 0; t < steps; t++) {
      for (let b = 0, from = t * batch + first, to = t * pass.batch; b < pass.batch; b++, from++, to++) {
        pass.inputs[to] = inputs[from]!;
        pass.targets[to] = targets[from]!;
      }
    }
  }
}

// Control block (Int32 slots): the main thread writes a request's fields, then bumps COMMAND.
const COMMAND = 0; // request counter
const DONE = 1; // the last request the worker finished
const KIND = 2;
const STEPS = 3; // evaluation: rows of the chunk in use
const FIRST_CHUNK = 4; // evaluation: 1 on a validation's first chunk
const DROPOUT = 5; // training: 1 when the shards draw dropout masks
const CONTROL_SLOTS = 6;

const REQUEST = { train: 1, evaluate: 2, stop: 3 } as const;

/** Atomics.waitAsync (ES2024, in Node since 16), which the ES2022 library types do not declare yet. */
type AsyncWait =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (
  Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): AsyncWait }
).waitAsync.bind(Atomics);

/** A wait ends after this long and looks again, so none outlives its worker for long; a death ends it at once. */
const WAIT_SLICE_MS = 250;

interface ShardWorkerData {
  memory: WebAssembly.Memory;
  config: ModelConfig;
  /** Byte offset of the model's flat parameters in `memory`. */
  parameters: number;
  seqLength: number;
  table: StepTableBuffers;
  first: number;
  end: number;
  control: SharedArrayBuffer;
}

/** Where a worker's training passes keep their flat gradients and carried state, by shard, as byte offsets. */
type PassLayout = Array<{ gradients: number; carried: Array<{ h: number; c?: number }> }>;

/** What a worker reports once started: where its passes are, or that kernel memory ran out laying them out. */
type StartReport =
  | { passes: PassLayout }
  | { outOfMemory: { requestedBytes: number; freeBytes: number; limitBytes: number } };

function describePasses(passes: TrainingPass[]): PassLayout {
  return passes.map((pass) => ({
    gradients: pass.gradients.byteOffset,
    carried: pass.carried.map((layer) => ({ h: layer.h.byteOffset, c: layer.c?.byteOffset })),
  }));
}

/** The main thread's view of one worker's training passes: the buffers it reduces, resets and saves. */
export interface RemotePass {
  /** Flat, with the model's parameter layout. */
  readonly gradients: Float32Array;
  readonly carried: CarriedState[];
}

function viewPasses(model: CharModel, layout: PassLayout, streams: number[]): RemotePass[] {
  const buffer = model.kernels.sharedMemory!.buffer;
  const { hidden } = model.config;
  return layout.map((pass, index) => {
    const size = streams[index]! * hidden;
    return {
      gradients: new Float32Array(buffer, pass.gradients, model.layout.size),
      carried: pass.carried.map((layer) => ({
        h: new Float32Array(buffer, layer.h, size),
        c: layer.c === undefined ? undefined : new Float32Array(buffer, layer.c, size),
      })),
    };
  });
}

/** Raised when a worker thread has died; the message says how (its error's message, or its exit code). */
export class WorkerDiedError extends Error {}

/** The main thread's handle on a worker thread computing shards [first, end). */
export class ShardWorker {
  private readonly control: Int32Array;
  private requests = 0;
  private stopping = false;
  /** Set when the worker dies; then every wait ends at once with it. */
  private death: string | null = null;
  private readonly died: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    control: SharedArrayBuffer,
    readonly passes: RemotePass[],
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
   * Starts a worker on `script` for shards [first, end); resolves once its passes are laid out. Rejects
   * with a KernelMemoryError when they do not fit, or a WorkerDiedError when the worker fails otherwise.
   */
  static async start(
    script: URL,
    model: CharModel,
    table: StepTableBuffers,
    first: number,
    end: number,
    seqLength: number,
  ): Promise<ShardWorker> {
    const memory = model.kernels.sharedMemory;
    if (!memory) throw new Error('worker threads need the wasm kernels (shared memory)');
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
    const { config } = model;
    const parameters = model.parameters.byteOffset;
    const data: ShardWorkerData = { memory, config, parameters, seqLength, table, first, end, control };
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
    const streams = Array.from(
      { length: end - first },
      (_, index) => table.streamStarts[first + index + 1]! - table.streamStarts[first + index]!,
    );
    return new ShardWorker(worker, control, viewPasses(model, report.passes, streams));
  }

  /** Asks for a training step on the worker's shards; returns at once. */
  beginTraining(withDropout: boolean): void {
    this.control[DROPOUT] = withDropout ? 1 : 0;
    this.send(REQUEST.train);
  }

  /** Asks for one forward-only chunk of `steps` rows on the worker's shards; returns at once. */
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

/** The worker's passes, or null (reported to the main thread) when kernel memory runs out laying them out. */
function layOutGroup(data: ShardWorkerData): ShardGroup | null {
  const parameters = new Float32Array(data.memory.buffer, data.parameters, parameterLayout(data.config).size);
  try {
    // The kernels reserve their workspace, and the group its passes, from the shared heap.
    const model = new CharModel(data.config, createWasmKernels(data.memory), parameters);
    return new ShardGroup(model, attachStepTable(data.table), data.first, data.end, data.seqLength);
  } catch (error) {
    if (!(error instanceof KernelMemoryError)) throw error;
    const { requestedBytes, freeBytes, limitBytes } = error;
    parentPort!.postMessage({ outOfMemory: { requestedBytes, freeBytes, limitBytes } } satisfies StartReport);
    return null;
  }
}

/** The worker's side: lay out the passes, report where they are, then serve requests until told to stop. */
export function runShardWorker(): void {
  const data = workerData as ShardWorkerData;
  const group = layOutGroup(data);
  if (group === null) return;
  const control = new Int32Array(data.control);
  const exitAt = testFailureAt('CHARRNN_TEST_WORKER_EXIT_AT');
  const throwAt = testFailureAt('CHARRNN_TEST_WORKER_THROW_AT');
  parentPort!.postMessage({ passes: describePasses(group.passes) } satisfies StartReport);
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
    } else group.evaluate(control[STEPS]!, control[FIRST_CHUNK] === 1);
    // An error above ends the thread: the main thread sees it die and reports the error's message.
    served = request;
    Atomics.store(control, DONE, request);
    Atomics.notify(control, DONE);
  }
}
