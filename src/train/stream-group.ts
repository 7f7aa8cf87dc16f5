/**
 * The part of a request each thread computes. The batch's streams are split into one contiguous group
 * per thread; a thread runs forward, loss and backward through time over its group in its own training
 * pass, then computes its slice of every parameter gradient over the whole batch (weight-gradients.ts),
 * reading the other threads' passes in the shared kernel memory. Validation runs each group forward in
 * its own inference pass. Inputs come from the chunk in the step table; each row's loss goes to its slot there.
 */
import type { CharModel } from '../core/model.js';
import type { InferencePass, TrainingPass } from '../core/passes.js';
import { Rng } from '../core/rng.js';
import { WeightGradients } from '../core/weight-gradients.js';
import { streamsOf, type PassMemory, type StepTable } from './shared-memory.js';

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
