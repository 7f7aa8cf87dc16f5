/**
 * How the main thread and a worker thread talk during training, both sides: a small control block of
 * Int32 slots in shared memory, written and woken with Atomics, so a step sends no messages and copies
 * nothing. The main thread writes a request's fields and bumps COMMAND; the worker serves it (its
 * StreamGroup does the work) and stores its number in DONE. Only start-up goes by message: the worker
 * reports that it is ready, or that kernel memory ran out setting up.
 */
import { parentPort, Worker } from 'node:worker_threads';
import type { ModelConfig } from '../core/config.js';
import { KernelMemoryError } from '../core/kernels.js';
import type { CharModel } from '../core/model.js';
import { passPlaces, type PassMemory, type PassPlaces, type StepTableBuffers } from './shared-memory.js';
import type { StreamGroup } from './stream-group.js';

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

/** What a worker is handed when it starts (its workerData). */
export interface StepWorkerData {
  memory: WebAssembly.Memory;
  /** The main thread's kernels (their name): a worker computes with the same backend and instruction set. */
  kernel: string;
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

/** The main thread's side: its handle on the worker thread doing part `part` of each step. */
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
   * Starts a worker on `script` for part `part` of each step, over the passes at `memories`; resolves
   * once it is ready. Rejects with a KernelMemoryError when its own buffers do not fit, or a
   * WorkerDiedError when it fails otherwise.
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
    const data: StepWorkerData = {
      memory,
      kernel: model.kernels.name,
      config: model.config,
      parameters: model.parameters.byteOffset,
      gradients: gradients.byteOffset,
      seqLength,
      table,
      places: passPlaces(memories),
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

/** The worker's side, at start: tells the main thread it is ready, or that kernel memory ran out setting up. */
export function reportStart(outOfMemory: KernelMemoryError | null): void {
  if (outOfMemory === null) parentPort!.postMessage({ ready: true } satisfies StartReport);
  else {
    const { requestedBytes, freeBytes, limitBytes } = outOfMemory;
    parentPort!.postMessage({ outOfMemory: { requestedBytes, freeBytes, limitBytes } } satisfies StartReport);
  }
}

/** The worker's side, then: serves requests on `control` with `group` until told to stop. */
export function serveRequests(control: Int32Array, group: StreamGroup): void {
  let served = 0;
  for (;;) {
    Atomics.wait(control, COMMAND, served);
    const request = Atomics.load(control, COMMAND);
    if (request === served) continue;
    const kind = control[KIND];
    if (kind === REQUEST.stop) return;
    if (kind === REQUEST.train) group.train(control[DROPOUT] === 1);
    else if (kind === REQUEST.gradients) group.sumGradients(control[DROPOUT] === 1);
    else group.evaluate(control[STEPS]!, control[FIRST_CHUNK] === 1);
    // An error above ends the thread: the main thread sees it die and reports the error's message.
    served = request;
    Atomics.store(control, DONE, request);
    Atomics.notify(control, DONE);
  }
}
