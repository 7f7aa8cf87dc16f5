/**
 * The parameter gradients of one training step, summed over every row of the batch in one fixed order
 * whichever passes (threads) the batch's streams were split over: time step by time step, and within a
 * step stream by stream. Each gradient is a sum the layers name (GradientSum); its rows are gathered
 * from the passes' buffers into row tables once, and every step the gathered kernels sum them.
 *
 * The work splits by the gradients' rows, not the batch's: part i of n computes a contiguous slice of
 * rows of every tensor, over all of the batch. The kernels sum each element's rows alike whatever the
 * slice (kernels.ts), so the gradients have the same bits for any number of parts, and no sum across
 * threads is left to do.
 */
import type { ParameterLayout, TensorLayout } from './config.js';
import type { Kernels, RowTable } from './kernels.js';
import type { GradientSum } from './layers/layer.js';

/** What the sums need of a pass: its streams, and its gradient sums (with or without dropout's inputs). */
export interface GradientSource {
  readonly batch: number;
  gradientSums(withDropout: boolean): ReadonlyMap<string, GradientSum>;
}

/** One tensor's sum, gathered: the rows of a, and of x (a weight's input) or the ids (a one-hot input). */
interface GatheredSum {
  tensor: TensorLayout;
  a: RowTable;
  x: { rows: RowTable } | { ids: Int32Array[]; columns: number } | null;
}

/** Rows of tensors are handed out in multiples of this (the matmul's 4-row micro-panels, twice). */
const ROW_GRAIN = 8;

export class WeightGradients {
  /** Gathered sums for a step without dropout, and (built on first use) with it. */
  private readonly gathered: Array<GatheredSum[] | null> = [null, null];
  /** The batch's input ids in row order, for the one-hot sums (refilled each step). */
  private readonly ids: Int32Array;

  /** `passes` hold the batch's streams in order; the gradients go to `gradients` (flat, with `layout`). */
  constructor(
    private readonly kernels: Kernels,
    private readonly layout: ParameterLayout,
    private readonly gradients: Float32Array,
    private readonly passes: readonly GradientSource[],
    private readonly seqLength: number,
  ) {
    const batch = passes.reduce((sum, pass) => sum + pass.batch, 0);
    this.ids = kernels.allocInt32(batch * seqLength);
  }

  /** Computes part `part` of `parts` of every gradient (all of them with the defaults), overwriting it. */
  compute(withDropout: boolean, part = 0, parts = 1): void {
    const sums = this.sumsFor(withDropout);
    for (const { tensor, a, x } of sums) {
      const [rows, columns = 1] = tensor.shape as [number, number?];
      const first = sliceStart(rows, part, parts);
      const count = sliceStart(rows, part + 1, parts) - first;
      if (count === 0) continue;
      const out = this.gradients.subarray(tensor.offset + first * columns, tensor.offset + (first + count) * columns);
      if (x === null) this.kernels.sumRowsOf(out, a, first, count, false);
      else if ('rows' in x) this.kernels.matmulAtBRows(out, a, first, x.rows, count, columns, false);
      else {
        this.gatherIds(x.ids);
        out.fill(0);
        this.kernels.scatterColumnsAddRows(out, a, first, this.ids, count, x.columns);
      }
    }
  }

  private sumsFor(withDropout: boolean): GatheredSum[] {
    const index = withDropout ? 1 : 0;
    this.gathered[index] ??= this.gather(withDropout);
    return this.gathered[index]!;
  }

  private gather(withDropout: boolean): GatheredSum[] {
    const perPass = this.passes.map((pass) => pass.gradientSums(withDropout));
    return this.layout.tensors.map((tensor) => {
      const sums = perPass.map((sums) => sums.get(tensor.name)!);
      const a = this.rowTable(
        sums.map((sum) => sum.a),
        sums[0]!.width,
      );
      const x = sums[0]!.x;
      if (x === null) return { tensor, a, x: null };
      if ('ids' in x) {
        const ids = sums.map((sum) => (sum.x as { ids: Int32Array }).ids);
        return { tensor, a, x: { ids, columns: x.columns } };
      }
      const values = sums.map((sum) => (sum.x as { values: Float32Array }).values);
      return { tensor, a, x: { rows: this.rowTable(values, x.width) } };
    });
  }

  /** The batch's rows of one matrix per pass ([T*B_pass, width] each), in row order: by step, then by stream. */
  private rowTable(matrices: Float32Array[], width: number): RowTable {
    const parts = matrices.map((values, index) => ({ values, streams: this.passes[index]!.batch }));
    return this.kernels.rowTable(parts, width, this.seqLength);
  }

  /** The passes' input ids ([T*B_pass] each) in row order. */
  private gatherIds(perPass: Int32Array[]): void {
    let to = 0;
    for (let t = 0; t < this.seqLength; t++) {
      perPass.forEach((ids, index) => {
        const streams = this.passes[index]!.batch;
        for (let stream = 0; stream < streams; stream++) this.ids[to++] = ids[t * streams + stream]!;
      });
    }
  }
}

/** The first row of part `part` of `parts` of `rows` rows, in multiples of ROW_GRAIN (the last part takes the rest). */
function sliceStart(rows: number, part: number, parts: number): number {
  if (part >= parts) return rows;
  return Math.min(rows, Math.round((part * rows) / parts / ROW_GRAIN) * ROW_GRAIN);
}
