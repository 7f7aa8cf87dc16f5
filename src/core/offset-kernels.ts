/**
 * Kernels over byte offsets into one shared kernel memory (kernel-memory.ts): the face both fast
 * backends share. The WebAssembly module's exports and the native addon's bound kernels take the same
 * arguments (byte offsets, sizes, 0/1 flags, their own scratch), so one wrapper serves both.
 */
import { reserve } from './kernel-memory.js';
import type { Kernels, RowTable } from './kernels.js';

/** The kernels of a fast backend, every buffer a byte offset into the kernel memory. */
export interface OffsetExports {
  workspaceBytes(): number;
  matmulAB(out: number, a: number, b: number, m: number, n: number, k: number, accumulate: number, work: number): void;
  matmulAtB(out: number, a: number, b: number, m: number, n: number, k: number, accumulate: number, work: number): void;
  matmulABt(out: number, a: number, b: number, m: number, n: number, k: number, accumulate: number, work: number): void;
  rowsScratchBytes(m: number, n: number): number;
  matmulAtBRows(
    out: number,
    aRows: number,
    first: number,
    bRows: number,
    count: number,
    m: number,
    n: number,
    accumulate: number,
    work: number,
    scratch: number,
  ): void;
  sumRowsOf(out: number, rows: number, first: number, width: number, count: number, accumulate: number): void;
  scatterColumnsAddRows(
    gradWeight: number,
    dRows: number,
    first: number,
    ids: number,
    width: number,
    columns: number,
    count: number,
    scratch: number,
  ): void;
  transpose(out: number, a: number, rows: number, cols: number): void;
  broadcastRows(out: number, bias: number, rows: number, width: number): void;
  sumRows(out: number, a: number, rows: number, width: number, accumulate: number): void;
  gatherColumnsAdd(
    out: number,
    weight: number,
    ids: number,
    rows: number,
    width: number,
    columns: number,
    scratch: number,
  ): void;
  gatherRowsAdd(out: number, table: number, ids: number, rows: number, width: number): void;
  scatterColumnsAdd(
    gradWeight: number,
    dOut: number,
    ids: number,
    rows: number,
    width: number,
    columns: number,
    scratch: number,
  ): void;
  tanhForward(h: number, pre: number, n: number): void;
  tanhBackward(dPre: number, dh: number, h: number, n: number): void;
  lstmForward(gates: number, cPrev: number, c: number, cTanh: number, h: number, batch: number, hidden: number): void;
  lstmBackward(
    gates: number,
    cPrev: number,
    cTanh: number,
    dh: number,
    dc: number,
    dGates: number,
    batch: number,
    hidden: number,
  ): void;
  gruForward(xGates: number, hGates: number, hPrev: number, h: number, batch: number, hidden: number): void;
  gruBackward(
    gates: number,
    hGates: number,
    hPrev: number,
    dh: number,
    dxGates: number,
    dhGates: number,
    dhPrev: number,
    batch: number,
    hidden: number,
  ): void;
  softmaxCrossEntropy(
    logits: number,
    targets: number,
    dLogits: number,
    rows: number,
    vocab: number,
    scale: number,
    rowLosses: number,
  ): number;
}

/**
 * A row table of these backends: in an i32 array in the shared memory, the batch's stream count, then
 * per stream the byte offset of its row at step 0 and the bytes from one step's row to the next.
 */
interface OffsetRowTable extends RowTable {
  readonly streamTable: Int32Array;
  readonly rows: number;
}

function streamTableOf(table: RowTable): OffsetRowTable {
  if (!(table as Partial<OffsetRowTable>).streamTable) {
    throw new Error('row table not built by the offset kernels (use kernels.rowTable)');
  }
  return table as OffsetRowTable;
}

/**
 * The Kernels named `name` over `calls`, every buffer reserved from `memory`. Each instance (one per
 * thread) reserves its own scratch there.
 */
export function createOffsetKernels(name: string, memory: WebAssembly.Memory, calls: OffsetExports): Kernels {
  // Packed matmul panels, and scratch grown on demand for a transposed weight (the one-hot kernels) or
  // gathered rows (matmulAtBRows), used by one call at a time.
  const work = reserve(memory, calls.workspaceBytes());
  let scratch = { at: 0, floats: 0 };
  const scratchFor = (floats: number): number => {
    if (floats > scratch.floats) scratch = { at: reserve(memory, floats * 4), floats };
    return scratch.at;
  };
  const flag = (value: boolean) => (value ? 1 : 0);

  return {
    name,
    sharedMemory: memory,
    // reserve() may grow the memory, so it must run before memory.buffer is read.
    alloc: (length) => {
      const offset = reserve(memory, length * 4);
      return new Float32Array(memory.buffer, offset, length);
    },
    allocInt32: (length) => {
      const offset = reserve(memory, length * 4);
      return new Int32Array(memory.buffer, offset, length);
    },

    matmulABt: (out, a, b, m, n, k, accumulate) =>
      calls.matmulABt(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate), work),
    matmulAB: (out, a, b, m, n, k, accumulate) =>
      calls.matmulAB(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate), work),
    matmulAtB: (out, a, b, m, n, k, accumulate) =>
      calls.matmulAtB(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate), work),
    // Built once per training run and reused every step: two numbers per stream, whatever the steps.
    rowTable: (parts, width, steps): OffsetRowTable => {
      const streams = parts.reduce((sum, part) => sum + part.streams, 0);
      const at = reserve(memory, (1 + 2 * streams) * 4); // before reading memory.buffer, which it may grow
      const streamTable = new Int32Array(memory.buffer, at, 1 + 2 * streams);
      streamTable[0] = streams;
      let stream = 0;
      for (const { values, streams: partStreams } of parts) {
        for (let r = 0; r < partStreams; r++, stream++) {
          streamTable[1 + 2 * stream] = values.byteOffset + r * width * 4;
          streamTable[2 + 2 * stream] = partStreams * width * 4;
        }
      }
      return { parts, width, steps, streamTable, rows: steps * streams };
    },
    matmulAtBRows: (out, aRows, first, bRows, m, n, accumulate) => {
      const [a, b] = [streamTableOf(aRows), streamTableOf(bRows)];
      if (a.rows !== b.rows) throw new Error(`matmulAtBRows: ${a.rows} rows of a, ${b.rows} of b`);
      const scratchAt = scratchFor(calls.rowsScratchBytes(m, n) / 4);
      const [aAt, bAt] = [a.streamTable.byteOffset, b.streamTable.byteOffset];
      calls.matmulAtBRows(out.byteOffset, aAt, first, bAt, a.rows, m, n, flag(accumulate), work, scratchAt);
    },
    sumRowsOf: (out, rows, first, width, accumulate) => {
      const table = streamTableOf(rows);
      calls.sumRowsOf(out.byteOffset, table.streamTable.byteOffset, first, width, table.rows, flag(accumulate));
    },
    scatterColumnsAddRows: (gradWeight, dRows, first, ids, width, columns) => {
      const table = streamTableOf(dRows);
      calls.scatterColumnsAddRows(
        gradWeight.byteOffset,
        table.streamTable.byteOffset,
        first,
        ids.byteOffset,
        width,
        columns,
        table.rows,
        scratchFor(width * columns),
      );
    },
    transpose: (out, a, rows, cols) => calls.transpose(out.byteOffset, a.byteOffset, rows, cols),

    broadcastRows: (out, bias, rows, width) => calls.broadcastRows(out.byteOffset, bias.byteOffset, rows, width),
    sumRows: (out, a, rows, width, accumulate) =>
      calls.sumRows(out.byteOffset, a.byteOffset, rows, width, flag(accumulate)),
    gatherColumnsAdd: (out, weight, ids, rows, width, columns) =>
      calls.gatherColumnsAdd(
        out.byteOffset,
        weight.byteOffset,
        ids.byteOffset,
        rows,
        width,
        columns,
        scratchFor(width * columns),
      ),
    gatherRowsAdd: (out, table, ids, rows, width) =>
      calls.gatherRowsAdd(out.byteOffset, table.byteOffset, ids.byteOffset, rows, width),
    scatterColumnsAdd: (gradWeight, dOut, ids, rows, width, columns) =>
      calls.scatterColumnsAdd(
        gradWeight.byteOffset,
        dOut.byteOffset,
        ids.byteOffset,
        rows,
        width,
        columns,
        scratchFor(width * columns),
      ),

    tanhForward: ({ pre, h }, n) => calls.tanhForward(h.byteOffset, pre.byteOffset, n),
    tanhBackward: ({ dh, h, dPre }, n) => calls.tanhBackward(dPre.byteOffset, dh.byteOffset, h.byteOffset, n),
    lstmForward: ({ gates, cPrev, c, cTanh, h }, batch, hidden) =>
      calls.lstmForward(
        gates.byteOffset,
        cPrev.byteOffset,
        c.byteOffset,
        cTanh.byteOffset,
        h.byteOffset,
        batch,
        hidden,
      ),
    lstmBackward: ({ gates, cPrev, cTanh, dh, dc, dGates }, batch, hidden) =>
      calls.lstmBackward(
        gates.byteOffset,
        cPrev.byteOffset,
        cTanh.byteOffset,
        dh.byteOffset,
        dc.byteOffset,
        dGates.byteOffset,
        batch,
        hidden,
      ),
    gruForward: ({ xGates, hGates, hPrev, h }, batch, hidden) =>
      calls.gruForward(xGates.byteOffset, hGates.byteOffset, hPrev.byteOffset, h.byteOffset, batch, hidden),
    gruBackward: ({ gates, hGates, hPrev, dh, dxGates, dhGates, dhPrev }, batch, hidden) =>
      calls.gruBackward(
        gates.byteOffset,
        hGates.byteOffset,
        hPrev.byteOffset,
        dh.byteOffset,
        dxGates.byteOffset,
        dhGates.byteOffset,
        dhPrev.byteOffset,
        batch,
        hidden,
      ),
    softmaxCrossEntropy: (logits, targets, dLogits, rows, vocab, scale, rowLosses) =>
      calls.softmaxCrossEntropy(
        logits.byteOffset,
        targets.byteOffset,
        dLogits.byteOffset,
        rows,
        vocab,
        scale,
        rowLosses ? rowLosses.byteOffset : 0,
      ),
  };
}
