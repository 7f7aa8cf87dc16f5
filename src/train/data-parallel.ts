/**
 * One training step's forward and backward, data-parallel over fixed shards of the batch streams.
 * The batch is always cut into the same shards (an option saved with the run) and shard gradients are
 * summed in shard order, so the weights do not depend on how many threads compute the shards.
 */
import { fileURLToPath } from 'node:url';
import type { CarriedState } from '../core/layers/layer.js';
import type { CharModel, TrainingPass } from '../core/model.js';
import { Rng } from '../core/rng.js';
import { RemoteShard, type Shard } from './shard-worker.js';

/** The file a worker thread runs: this bundle itself (dist/cli.js or dist/index.js); none when running from sources. */
function bundleEntry(): string | null {
  const path = fileURLToPath(import.meta.url);
  return path.endsWith('.js') ? path : null;
}

/** How many threads can actually work: workers need the bundle and the wasm kernels' shared memory. */
export function usableThreads(model: CharModel, requested: number, shardCount: number): number {
  if (requested <= 1 || shardCount <= 1 || !model.kernels.sharedMemory || bundleEntry() === null) return 1;
  return Math.min(requested, shardCount);
}

export class DataParallelStep {
  private constructor(
    private readonly model: CharModel,
    readonly batch: number,
    readonly seqLength: number,
    /** First stream of each shard, plus the batch size at the end. */
    private readonly streamStarts: number[],
    /** Every shard in order; the first `locals.length` run on this thread. */
    private readonly shards: Shard[],
    private readonly locals: TrainingPass[],
    private readonly remotes: RemoteShard[],
    readonly threads: number,
  ) {}

  /** Lays out the shards; with threads > 1 the last shards go to worker threads (one each). */
  static async create(model: CharModel, batch: number, seqLength: number, shardCount: number, threads: number): Promise<DataParallelStep> {
    const streamStarts = Array.from({ length: shardCount + 1 }, (_, shard) => Math.round((shard * batch) / shardCount));
    const sizeOf = (shard: number) => streamStarts[shard + 1]! - streamStarts[shard]!;
    const usable = usableThreads(model, threads, shardCount);
    const localCount = usable === 1 ? shardCount : Math.ceil(shardCount / usable);
    const locals = Array.from({ length: localCount }, (_, shard) => model.createTrainingPass(sizeOf(shard), seqLength));
    const remotes = await Promise.all(
      Array.from({ length: shardCount - localCount }, (_, i) => RemoteShard.start(bundleEntry()!, model, sizeOf(localCount + i), seqLength)),
    );
    return new DataParallelStep(model, batch, seqLength, streamStarts, [...locals, ...remotes], locals, remotes, usable);
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** Copies a time-major [T, B] chunk into the shards' own [T, B_shard] inputs and targets. */
  fill(inputs: Int32Array, targets: Int32Array): void {
    this.shards.forEach((shard, index) => {
      const first = this.streamStarts[index]!;
      for (let t = 0; t < this.seqLength; t++) {
        const from = t * this.batch + first;
        shard.inputs.set(inputs.subarray(from, from + shard.batch), t * shard.batch);
        shard.targets.set(targets.subarray(from, from + shard.batch), t * shard.batch);
      }
    });
  }

  /**
   * Forward, loss and backward on every shard (workers and this thread at once); leaves the summed
   * gradients in `gradients()` and returns the batch's mean loss. `dropoutSeeds` (one per shard) seed
   * each shard's dropout masks; null means no dropout.
   */
  run(dropoutSeeds: number[] | null): number {
    const rows = this.batch * this.seqLength;
    const seed = (shard: number) => (dropoutSeeds ? dropoutSeeds[shard]! : null);
    this.remotes.forEach((remote, i) => remote.begin(seed(this.locals.length + i), rows));
    const losses = this.locals.map((pass, shard) => {
      const dropoutSeed = seed(shard);
      pass.forward(dropoutSeed === null ? undefined : new Rng(dropoutSeed));
      const loss = pass.loss(rows);
      pass.zeroGradients();
      pass.backward();
      return loss;
    });
    for (const remote of this.remotes) losses.push(remote.finish());
    this.reduceGradients();
    return losses.reduce((sum, loss) => sum + loss, 0);
  }

  /** The batch's gradients, flat with the model's parameter layout (shard 0's buffer after the reduction). */
  gradients(): Float32Array {
    return this.shards[0]!.gradients;
  }

  /** Adds every shard's gradients into shard 0's, in shard order. */
  private reduceGradients(): void {
    const [first, ...rest] = this.shards;
    const total = first!.gradients;
    for (const shard of rest) {
      const part = shard.gradients;
      for (let i = 0; i < total.length; i++) total[i] = total[i]! + part[i]!;
    }
  }

  resetState(): void {
    for (const shard of this.shards) {
      for (const layer of shard.carried) {
        layer.h.fill(0);
        layer.c?.fill(0);
      }
    }
  }

  /** The carried state of the whole batch per layer ([B, H], streams in order), as saved in checkpoints. */
  carriedState(): CarriedState[] {
    const { hidden, layers } = this.model.config;
    return Array.from({ length: layers }, (_, layer) => {
      const h = new Float32Array(this.batch * hidden);
      const c = this.shards[0]!.carried[layer]!.c ? new Float32Array(this.batch * hidden) : undefined;
      this.shards.forEach((shard, index) => {
        const offset = this.streamStarts[index]! * hidden;
        h.set(shard.carried[layer]!.h, offset);
        c?.set(shard.carried[layer]!.c!, offset);
      });
      return { h, c };
    });
  }

  restoreCarriedState(carried: CarriedState[]): void {
    const { hidden } = this.model.config;
    this.shards.forEach((shard, index) => {
      const from = this.streamStarts[index]! * hidden;
      const to = this.streamStarts[index + 1]! * hidden;
      carried.forEach((layer, depth) => {
        shard.carried[depth]!.h.set(layer.h.subarray(from, to));
        shard.carried[depth]!.c?.set(layer.c!.subarray(from, to));
      });
    });
  }

  /** Ends the worker threads. */
  close(): void {
    for (const remote of this.remotes) remote.stop();
  }
}
