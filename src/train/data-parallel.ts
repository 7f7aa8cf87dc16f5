/**
 * One training step's forward and backward, and validation's forward passes, data-parallel over fixed
 * shards of the batch streams. The batch is always cut into the same shards (an option saved with the
 * run); each thread computes a contiguous group of them, shard gradients are summed in a fixed tree
 * (shard-sum.ts) and shard losses added in shard order, so weights and losses do not depend on how many
 * threads run.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CarriedState } from '../core/layers/layer.js';
import type { CharModel } from '../core/model.js';
import type { TokenIds } from '../data/vocab.js';
import { CharrnnError } from '../errors.js';
import { fillStreams, type EvalResult } from './evaluate.js';
import { addGradients, sumAcrossGroups } from './shard-sum.js';
import { createStepTable, ShardGroup, ShardWorker, WorkerDiedError, type StepTable } from './shard-worker.js';

/** The worker threads' script, dist/worker.js beside this bundle; none when running from sources. */
function workerScript(): URL | null {
  const script = new URL('./worker.js', import.meta.url);
  return import.meta.url.endsWith('.js') && existsSync(fileURLToPath(script)) ? script : null;
}

/** How many threads can actually work: workers need their script and the wasm kernels' shared memory. */
function usableThreads(model: CharModel, requested: number, shardCount: number): number {
  if (requested <= 1 || shardCount <= 1 || !model.kernels.sharedMemory || workerScript() === null) return 1;
  return Math.min(requested, shardCount);
}

/** The first shard of each of `threads` balanced contiguous groups, then the shard count. */
function groupStarts(shardCount: number, threads: number): number[] {
  return Array.from({ length: threads + 1 }, (_, group) => Math.round((group * shardCount) / threads));
}

export class DataParallelStep {
  private constructor(
    private readonly model: CharModel,
    readonly batch: number,
    readonly seqLength: number,
    private readonly table: StepTable,
    /** Shards [0, local.end) run on this thread, the rest on the workers in order. */
    private readonly local: ShardGroup,
    private readonly workers: ShardWorker[],
    /** The first shard of each thread's group, then the shard count. */
    private readonly groupStarts: number[],
  ) {}

  /** Lays out the shards and starts `threads` − 1 worker threads (fewer when fewer can work). */
  static async create(
    model: CharModel,
    batch: number,
    seqLength: number,
    shardCount: number,
    threads: number,
  ): Promise<DataParallelStep> {
    const streamStarts = Array.from({ length: shardCount + 1 }, (_, shard) => Math.round((shard * batch) / shardCount));
    const { table, buffers } = createStepTable(batch, seqLength, streamStarts);
    const groups = groupStarts(shardCount, usableThreads(model, threads, shardCount));
    const local = new ShardGroup(model, table, 0, groups[1]!, seqLength);
    const script = workerScript();
    const started = await Promise.allSettled(
      groups
        .slice(1, -1)
        .map((first, index) => ShardWorker.start(script!, model, buffers, first, groups[index + 2]!, seqLength)),
    );
    const workers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      for (const worker of workers) worker.stop();
      throw workerFailure((failure as PromiseRejectedResult).reason);
    }
    return new DataParallelStep(model, batch, seqLength, table, local, workers, groups);
  }

  /** Threads computing shards: this one and the workers. */
  get threads(): number {
    return 1 + this.workers.length;
  }

  get shardCount(): number {
    return this.table.losses.length;
  }

  /** Takes a time-major [T, B] chunk of inputs and targets for the next step. */
  fill(inputs: Int32Array, targets: Int32Array): void {
    this.table.inputs.set(inputs);
    this.table.targets.set(targets);
  }

  /**
   * Forward, loss and backward on every shard (workers and this thread at once); leaves the summed
   * gradients in `gradients()` and resolves to the batch's mean loss. `dropoutSeeds` (one per shard)
   * seed each shard's dropout masks; null means no dropout. Rejects with a CharrnnError if a worker dies.
   */
  async run(dropoutSeeds: number[] | null): Promise<number> {
    if (dropoutSeeds) this.table.dropoutSeeds.set(dropoutSeeds);
    await this.onAllThreads(
      (worker) => worker.beginTraining(dropoutSeeds !== null),
      () => this.local.train(dropoutSeeds !== null),
    );
    const gradients = this.shardGradients();
    sumAcrossGroups(this.groupStarts, (into, from) =>
      addGradients(this.model.kernels, gradients[into]!, gradients[from]!),
    );
    return sumInShardOrder(this.table.losses);
  }

  /** The batch's gradients, flat with the model's parameter layout (shard 0's buffer after the reduction). */
  gradients(): Float32Array {
    return this.local.passes[0]!.gradients;
  }

  /**
   * Validation loss over `ids` on every thread, forward only: the text is cut into `batch` contiguous
   * streams (as training does) run in chunks of up to `seqLength` steps from a zero state, and the loss
   * is averaged over every prediction. Each shard's summed loss per chunk is added in chunk and shard
   * order, so the result is the same for any thread count. Does not touch the training state.
   */
  async evaluate(ids: TokenIds): Promise<EvalResult> {
    const { batch } = this;
    const streamLength = Math.floor((ids.length - 1) / batch);
    if (streamLength < 1) return { chars: 0, loss: NaN, bpc: NaN };
    let totalLoss = 0;
    for (let position = 0; position < streamLength; position += this.seqLength) {
      const steps = Math.min(this.seqLength, streamLength - position);
      fillStreams(ids, { batch, streamLength, position, steps }, this.table.inputs, this.table.targets);
      const firstChunk = position === 0;
      await this.onAllThreads(
        (worker) => worker.beginEvaluation(steps, firstChunk),
        () => this.local.evaluate(steps, firstChunk),
      );
      totalLoss += sumInShardOrder(this.table.losses);
    }
    const chars = streamLength * batch;
    const loss = totalLoss / chars;
    return { chars, loss, bpc: loss / Math.LN2 };
  }

  /** Starts the workers' part, does this thread's part meanwhile, and waits for every worker. */
  private async onAllThreads(begin: (worker: ShardWorker) => void, localPart: () => void): Promise<void> {
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

  private shardGradients(): Float32Array[] {
    return [...this.local.passes, ...this.workers.flatMap((worker) => worker.passes)].map((pass) => pass.gradients);
  }

  private shardStates(): CarriedState[][] {
    return [...this.local.passes, ...this.workers.flatMap((worker) => worker.passes)].map((pass) => pass.carried);
  }

  resetState(): void {
    for (const state of this.shardStates()) {
      for (const layer of state) {
        layer.h.fill(0);
        layer.c?.fill(0);
      }
    }
  }

  /** The carried state of the whole batch per layer ([B, H], streams in order), as saved in checkpoints. */
  carriedState(): CarriedState[] {
    const { hidden, layers } = this.model.config;
    const states = this.shardStates();
    return Array.from({ length: layers }, (_, layer) => {
      const h = new Float32Array(this.batch * hidden);
      const c = states[0]![layer]!.c ? new Float32Array(this.batch * hidden) : undefined;
      states.forEach((state, shard) => {
        const offset = this.table.streamStarts[shard]! * hidden;
        h.set(state[layer]!.h, offset);
        c?.set(state[layer]!.c!, offset);
      });
      return { h, c };
    });
  }

  restoreCarriedState(carried: CarriedState[]): void {
    const { hidden } = this.model.config;
    this.shardStates().forEach((state, shard) => {
      const from = this.table.streamStarts[shard]! * hidden;
      const to = this.table.streamStarts[shard + 1]! * hidden;
      carried.forEach((layer, depth) => {
        state[depth]!.h.set(layer.h.subarray(from, to));
        state[depth]!.c?.set(layer.c!.subarray(from, to));
      });
    });
  }

  /** Ends the worker threads. */
  close(): void {
    for (const worker of this.workers) worker.stop();
  }
}

function sumInShardOrder(losses: Float64Array): number {
  let sum = 0;
  for (const loss of losses) sum += loss;
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
