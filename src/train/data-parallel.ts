/**
 * One training step's forward and backward, data-parallel over fixed shards of the batch streams.
 * The batch is always cut into the same shards (an option saved with the run) and shard gradients are
 * summed in shard order, so the result does not depend on how many threads compute the shards.
 */
import type { LayerState } from '../core/layers/layer.js';
import type { CharModel, ModelPass } from '../core/model.js';
import { Rng } from '../core/rng.js';

export class DataParallelStep {
  readonly shards: ModelPass[];
  /** First stream of each shard, plus the batch size at the end. */
  private readonly streamStarts: number[];

  constructor(private readonly model: CharModel, readonly batch: number, readonly seqLength: number, shardCount: number) {
    this.streamStarts = Array.from({ length: shardCount + 1 }, (_, shard) => Math.round((shard * batch) / shardCount));
    this.shards = Array.from({ length: shardCount }, (_, shard) => model.createPass(this.streamStarts[shard + 1]! - this.streamStarts[shard]!, seqLength));
  }

  /** Copies a time-major [T, B] chunk into the shards' own [T, B_shard] inputs and targets. */
  fill(inputs: Int32Array, targets: Int32Array): void {
    this.shards.forEach((pass, shard) => {
      const first = this.streamStarts[shard]!;
      for (let t = 0; t < this.seqLength; t++) {
        const from = t * this.batch + first;
        pass.inputs.set(inputs.subarray(from, from + pass.batch), t * pass.batch);
        pass.targets.set(targets.subarray(from, from + pass.batch), t * pass.batch);
      }
    });
  }

  /**
   * Forward, loss and backward on every shard; leaves the summed gradients in `gradients()`.
   * `dropoutSeeds` (one per shard) seed each shard's dropout masks; null means no dropout.
   */
  run(dropoutSeeds: number[] | null): number {
    const rows = this.batch * this.seqLength;
    let loss = 0;
    this.shards.forEach((pass, shard) => {
      pass.forward(dropoutSeeds ? new Rng(dropoutSeeds[shard]!) : undefined);
      loss += pass.loss(rows);
      pass.zeroGradients();
      pass.backward();
    });
    this.reduceGradients();
    return loss;
  }

  /** The batch's gradients, in the model's parameter order (shard 0's buffers after the reduction). */
  gradients(): Float32Array[] {
    return [...this.shards[0]!.gradients.values()];
  }

  private reduceGradients(): void {
    const [first, ...rest] = this.shards;
    for (const [name, total] of first!.gradients) {
      for (const pass of rest) {
        const part = pass.gradients.get(name)!;
        for (let i = 0; i < total.length; i++) total[i] = total[i]! + part[i]!;
      }
    }
  }

  resetState(): void {
    for (const pass of this.shards) pass.resetState();
  }

  /** The carried state of the whole batch per layer ([B, H], streams in order), as saved in checkpoints. */
  carriedState(): LayerState[] {
    const { hidden, layers } = this.model.config;
    return Array.from({ length: layers }, (_, layer) => {
      const h = new Float32Array(this.batch * hidden);
      const c = this.shards[0]!.state[layer]!.c ? new Float32Array(this.batch * hidden) : undefined;
      this.shards.forEach((pass, shard) => {
        const offset = this.streamStarts[shard]! * hidden;
        h.set(pass.state[layer]!.h, offset);
        c?.set(pass.state[layer]!.c!, offset);
      });
      return { h, c };
    });
  }

  restoreCarriedState(carried: LayerState[]): void {
    const { hidden } = this.model.config;
    this.shards.forEach((pass, shard) => {
      const from = this.streamStarts[shard]! * hidden;
      const to = this.streamStarts[shard + 1]! * hidden;
      carried.forEach((layer, index) => {
        pass.state[index]!.h.set(layer.h.subarray(from, to));
        pass.state[index]!.c?.set(layer.c!.subarray(from, to));
      });
    });
  }
}
