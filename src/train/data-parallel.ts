/**
 * One training step's forward and backward, and validation's forward passes, data-parallel over the
 * batch's streams: one contiguous group of streams per thread, each computing its part (stream-group.ts)
 * in the memory they share (shared-memory.ts), the workers woken through step-protocol.ts. Each row's
 * loss is added in row order, and each parameter gradient sums the whole batch's rows in one order
 * (whichever thread computes it), so weights and losses do not depend on how many threads run.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CarriedState } from '../core/layers/layer.js';
import type { CharModel } from '../core/model.js';
import type { TrainingPass } from '../core/passes.js';
import type { StreamBatcher } from '../data/batches.js';
import type { TokenIds } from '../data/vocab.js';
import { CharrnnError } from '../errors.js';
import { validationChunks, type EvalResult, type ValidationChunk } from './evaluate.js';
import { createStepTable, layOutPasses, type StepTable } from './shared-memory.js';
import { StepWorker, WorkerDiedError } from './step-protocol.js';
import { attachStreamGroup, type StreamGroup } from './stream-group.js';

/** The worker threads' script, dist/worker.js beside this bundle; none when running from sources. */
function workerScript(): URL | null {
  const script = new URL('./worker.js', import.meta.url);
  return import.meta.url.endsWith('.js') && existsSync(fileURLToPath(script)) ? script : null;
}

/** How many threads can actually work: workers need their script and the wasm kernels' shared memory. */
function usableThreads(model: CharModel, requested: number, batch: number): number {
  if (requested <= 1 || batch <= 1 || !model.kernels.sharedMemory || workerScript() === null) return 1;
  return Math.min(requested, batch);
}

/** The first stream of each of `threads` balanced contiguous groups, then the batch size. */
function groupStarts(batch: number, threads: number): number[] {
  return Array.from({ length: threads + 1 }, (_, group) => Math.round((group * batch) / threads));
}

export class DataParallelStep {
  private constructor(
    private readonly model: CharModel,
    readonly batch: number,
    readonly seqLength: number,
    private readonly table: StepTable,
    /** This thread's part (part 0). */
    private readonly local: StreamGroup,
    /** Every thread's training pass, in stream order: the carried state. */
    private readonly passes: TrainingPass[],
    /** The batch's parameter gradients, flat with the model's layout: each thread sums a slice. */
    private readonly gradientSums: Float32Array,
    private readonly workers: StepWorker[],
  ) {}

  /** Splits the batch's streams among `threads` threads (fewer when fewer can work) and starts the workers. */
  static async create(model: CharModel, batch: number, seqLength: number, threads: number): Promise<DataParallelStep> {
    const streamStarts = groupStarts(batch, usableThreads(model, threads, batch));
    const { table, buffers } = createStepTable(batch, seqLength, streamStarts);
    const memories = layOutPasses(model, table, seqLength);
    const gradients = model.kernels.alloc(model.layout.size);
    const { group, passes } = attachStreamGroup(model, table, memories, gradients, 0, seqLength);
    const script = workerScript();
    const start = (part: number) => StepWorker.start(script!, model, buffers, memories, gradients, part, seqLength);
    const started = await Promise.allSettled(memories.slice(1).map((_, index) => start(index + 1)));
    const workers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      for (const worker of workers) worker.stop();
      throw workerFailure((failure as PromiseRejectedResult).reason);
    }
    return new DataParallelStep(model, batch, seqLength, table, group, passes, gradients, workers);
  }

  /** Threads computing the step: this one and the workers. */
  get threads(): number {
    return 1 + this.workers.length;
  }

  /** Takes the batcher's chunk `chunk` (time-major [T, B] inputs and targets) for the next step. */
  fill(batcher: StreamBatcher, chunk: number): void {
    batcher.fillChunk(chunk, this.table.inputs, this.table.targets);
  }

  /**
   * Forward, loss and backward on every stream (workers and this thread at once), then every gradient
   * (each thread its slice); leaves them in `gradients()` and resolves to the batch's mean loss.
   * `dropoutSeeds` (one per stream) seed each stream's dropout masks; null means no dropout. Rejects with
   * a CharrnnError if a worker dies.
   */
  async run(dropoutSeeds: number[] | null): Promise<number> {
    const withDropout = dropoutSeeds !== null;
    if (dropoutSeeds) this.table.dropoutSeeds.set(dropoutSeeds);
    await this.onAllThreads(
      (worker) => worker.beginTraining(withDropout),
      () => this.local.train(withDropout),
    );
    await this.onAllThreads(
      (worker) => worker.beginGradients(),
      () => this.local.sumGradients(withDropout),
    );
    const rows = this.batch * this.seqLength;
    return sumInOrder(this.table.losses, rows) / rows;
  }

  /** The batch's gradients, flat with the model's parameter layout. */
  gradients(): Float32Array {
    return this.gradientSums;
  }

  /**
   * Validation loss over `ids` on every thread, forward only: the text is cut into `batch` contiguous
   * streams (as training does) run in chunks of up to `seqLength` steps from a zero state, and the loss
   * is averaged over every prediction. Each row's loss is added in chunk and row order, so the result
   * is the same for any thread count. Does not touch the training state.
   */
  async evaluate(ids: TokenIds): Promise<EvalResult> {
    const chunks = validationChunks(ids, this.batch, this.seqLength, this.table);
    let chunk = chunks.next();
    while (!chunk.done) chunk = chunks.next(await this.chunkLoss(chunk.value));
    return chunk.value;
  }

  /** One validation chunk on every thread: its rows' losses, added in row order. */
  private async chunkLoss({ steps, first }: ValidationChunk): Promise<number> {
    await this.onAllThreads(
      (worker) => worker.beginEvaluation(steps, first),
      () => this.local.evaluate(steps, first),
    );
    return sumInOrder(this.table.losses, steps * this.batch);
  }

  /** Starts the workers' part, does this thread's part meanwhile, and waits for every worker. */
  private async onAllThreads(begin: (worker: StepWorker) => void, localPart: () => void): Promise<void> {
    try {
      for (const worker of this.workers) begin(worker);
      localPart();
      // A dead worker fails this step; wait for all the others first, so none is left mid-request.
      const results = await Promise.allSettled(this.workers.map((worker) => worker.finished()));
      const failure = results.find((result) => result.status === 'rejected');
      if (failure) throw (failure as PromiseRejectedResult).reason;
    } catch (error) {
      throw workerFailure(error);
    }
  }

  resetState(): void {
    for (const pass of this.passes) pass.resetCarried();
  }

  /** The carried state of the whole batch per layer ([B, H], streams in order), as saved in checkpoints. */
  carriedState(): CarriedState[] {
    const { hidden, layers } = this.model.config;
    return Array.from({ length: layers }, (_, layer) => {
      const h = new Float32Array(this.batch * hidden);
      const c = this.passes[0]!.carried[layer]!.c ? new Float32Array(this.batch * hidden) : undefined;
      this.passes.forEach((pass, thread) => {
        const offset = this.table.streamStarts[thread]! * hidden;
        h.set(pass.carried[layer]!.h, offset);
        c?.set(pass.carried[layer]!.c!, offset);
      });
      return { h, c };
    });
  }

  restoreCarriedState(carried: CarriedState[]): void {
    const { hidden } = this.model.config;
    this.passes.forEach((pass, thread) => {
      const from = this.table.streamStarts[thread]! * hidden;
      const to = this.table.streamStarts[thread + 1]! * hidden;
      carried.forEach((layer, depth) => {
        pass.carried[depth]!.h.set(layer.h.subarray(from, to));
        pass.carried[depth]!.c?.set(layer.c!.subarray(from, to));
      });
    });
  }

  /** Ends the worker threads. */
  close(): void {
    for (const worker of this.workers) worker.stop();
  }
}

/** The first `count` losses added in order. */
function sumInOrder(losses: Float64Array, count: number): number {
  let sum = 0;
  for (let row = 0; row < count; row++) sum += losses[row]!;
  return sum;
}

/** A dead worker becomes a runtime error naming the cause; anything else passes through. */
function workerFailure(error: unknown): unknown {
  if (!(error instanceof WorkerDiedError)) return error;
  return new CharrnnError(
    `a training worker thread stopped: ${error.message}; ` +
      'nothing from this step was saved, the last checkpoint is intact',
  );
}
