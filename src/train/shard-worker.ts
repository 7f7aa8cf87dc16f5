/**
 * Worker threads for data-parallel training. A worker attaches to the main thread's shared kernel
 * memory, adopts its parameters in place, lays out its own pass for one shard of the batch, and then
 * runs forward + backward whenever the main thread signals, through Atomics on a small control block
 * (one round trip per training step, no messages, no copies).
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { parameterLayout, type ModelConfig } from '../core/config.js';
import type { CarriedState } from '../core/layers/layer.js';
import { CharModel, type TrainingPass } from '../core/model.js';
import { Rng } from '../core/rng.js';
import { createWasmKernels } from '../core/wasm/kernels-wasm.js';

export const SHARD_WORKER_MARK = 'charrnn-shard-worker';

// Control block: Int32 slots 0–7 (bytes 0–31), then Float64 slots 4–5 (bytes 32–47).
const COMMAND = 0; // bumped by the main thread for every request
const DONE = 1; // set by the worker to the request it finished
const FAILED = 2; // non-zero when the worker hit an error
const HAS_DROPOUT = 3;
const DROPOUT_SEED = 4;
const NORMALIZER = 4;
const LOSS = 5;
const CONTROL_BYTES = 48;
const STOP = -1;

interface ShardWorkerData {
  mark: typeof SHARD_WORKER_MARK;
  memory: WebAssembly.Memory;
  config: ModelConfig;
  /** Byte offset of the model's flat parameters in `memory`. */
  parameters: number;
  batch: number;
  seqLength: number;
  control: SharedArrayBuffer;
}

/** Where a worker's pass buffers live in the shared memory, so the main thread can fill and read them. */
interface PassLayout {
  inputs: number;
  targets: number;
  /** Byte offset of the pass's flat gradients. */
  gradients: number;
  carried: Array<{ h: number; c?: number }>;
}

/** The main thread's handle on a shard computed by a worker: the same buffers a local ModelPass has. */
export interface Shard {
  readonly batch: number;
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
  /** Flat, with the model's parameter layout. */
  readonly gradients: Float32Array;
  readonly carried: CarriedState[];
}

export class RemoteShard implements Shard {
  private readonly control: Int32Array;
  private readonly floats: Float64Array;
  private requests = 0;

  private constructor(
    private readonly worker: Worker,
    controlBuffer: SharedArrayBuffer,
    readonly batch: number,
    readonly inputs: Int32Array,
    readonly targets: Int32Array,
    readonly gradients: Float32Array,
    readonly carried: CarriedState[],
  ) {
    this.control = new Int32Array(controlBuffer);
    this.floats = new Float64Array(controlBuffer);
  }

  /** Starts a worker for `batch` streams of the model; resolves once its buffers are laid out. */
  static async start(entryFile: string, model: CharModel, batch: number, seqLength: number): Promise<RemoteShard> {
    const memory = model.kernels.sharedMemory;
    if (!memory) throw new Error('worker threads need the wasm kernels (shared memory)');
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const parameters = model.parameters.byteOffset;
    const { config } = model;
    const data: ShardWorkerData = { mark: SHARD_WORKER_MARK, memory, config, parameters, batch, seqLength, control };
    const worker = new Worker(entryFile, { workerData: data });
    const layout = await new Promise<PassLayout>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`shard worker exited with code ${code} before starting`)));
    });
    worker.removeAllListeners();
    worker.unref();
    const buffer = memory.buffer;
    const { hidden } = model.config;
    const gradients = new Float32Array(buffer, layout.gradients, model.layout.size);
    const carried = layout.carried.map((layer) => ({
      h: new Float32Array(buffer, layer.h, batch * hidden),
      c: layer.c === undefined ? undefined : new Float32Array(buffer, layer.c, batch * hidden),
    }));
    const rows = batch * seqLength;
    return new RemoteShard(worker, control, batch, new Int32Array(buffer, layout.inputs, rows), new Int32Array(buffer, layout.targets, rows), gradients, carried);
  }

  /** Asks the worker for forward, loss and backward of its shard; returns at once. */
  begin(dropoutSeed: number | null, normalizer: number): void {
    this.control[HAS_DROPOUT] = dropoutSeed === null ? 0 : 1;
    this.control[DROPOUT_SEED] = dropoutSeed ?? 0;
    this.floats[NORMALIZER] = normalizer;
    this.requests++;
    Atomics.store(this.control, COMMAND, this.requests);
    Atomics.notify(this.control, COMMAND);
  }

  /** Waits for the request begun last; returns the shard's loss contribution. */
  finish(): number {
    // Sleep only while DONE still holds the value just seen: reading it afresh for the wait could see
    // the worker's final store, whose notify has already gone, and sleep forever.
    for (let done = Atomics.load(this.control, DONE); done !== this.requests; done = Atomics.load(this.control, DONE)) {
      Atomics.wait(this.control, DONE, done);
    }
    if (this.control[FAILED]) throw new Error('a training worker thread failed');
    return this.floats[LOSS]!;
  }

  stop(): void {
    Atomics.store(this.control, COMMAND, STOP);
    Atomics.notify(this.control, COMMAND);
    void this.worker.terminate();
  }
}

/** True in a worker thread started by RemoteShard.start (the bundle re-runs itself as the worker). */
export function isShardWorker(): boolean {
  return parentPort !== null && (workerData as Partial<ShardWorkerData> | null)?.mark === SHARD_WORKER_MARK;
}

function describe(pass: TrainingPass): PassLayout {
  return {
    inputs: pass.inputs.byteOffset,
    targets: pass.targets.byteOffset,
    gradients: pass.gradients.byteOffset,
    carried: pass.carried.map((layer) => ({ h: layer.h.byteOffset, c: layer.c?.byteOffset })),
  };
}

/** The worker's side: lay out the pass, report where it is, then serve requests until told to stop. */
export function runShardWorker(): void {
  const data = workerData as ShardWorkerData;
  const kernels = createWasmKernels(data.memory);
  const parameters = new Float32Array(data.memory.buffer, data.parameters, parameterLayout(data.config).size);
  const pass = new CharModel(data.config, kernels, parameters).createTrainingPass(data.batch, data.seqLength);
  const control = new Int32Array(data.control);
  const floats = new Float64Array(data.control);
  parentPort!.postMessage(describe(pass));
  let served = 0;
  for (;;) {
    Atomics.wait(control, COMMAND, served);
    const request = Atomics.load(control, COMMAND);
    if (request === STOP) return;
    if (request === served) continue;
    try {
      pass.forward(control[HAS_DROPOUT] ? new Rng(control[DROPOUT_SEED]! >>> 0) : undefined);
      floats[LOSS] = pass.loss(floats[NORMALIZER]!);
      pass.zeroGradients();
      pass.backward();
    } catch {
      control[FAILED] = 1;
    }
    served = request;
    Atomics.store(control, DONE, request);
    Atomics.notify(control, DONE);
  }
}

