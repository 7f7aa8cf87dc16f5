/**
 * The kernel interface: every matrix product and fused gate of the model goes through it, so a
 * faster backend (WASM SIMD) slots in without touching model code.
 *
 * Conventions shared by every implementation:
 * - Matrices are dense row-major Float32Array views, rows packed (leading dimension = column count).
 *   Pass `buffer.subarray(...)` for a slice; never a copy.
 * - Buffers the kernels touch must come from `alloc`/`allocInt32` of the same backend (for WASM
 *   they live in its linear memory so calls pass pointers, not copies).
 * - `accumulate` true adds into `out`; false overwrites it.
 * - Every kernel computes each output row alone: a row's values do not depend on how many rows the
 *   call has or where the row sits among them (the products sum each element in one fixed order), so
 *   a batch split among threads computes the same bits as the whole batch on one.
 * - The fused cell kernels take one time step's buffers by name; their plain-JS reference math sits
 *   beside the cell that uses them (src/core/layers/rnn.ts, lstm.ts, gru.ts).
 */
import { CharrnnError } from '../errors.js';

/** Part of a batch's rows: `streams` of its streams at every step, time-major ([steps·streams, width]). */
export interface RowPart {
  readonly values: Float32Array;
  readonly streams: number;
}

/**
 * The rows of a batch split into parts (one per thread), in the batch's order: step by step, and within
 * a step part by part, stream by stream. What the weight-gradient kernels sum over. Built once by
 * `rowTable`; it holds no view per row, so its size does not grow with the steps.
 */
export interface RowTable {
  readonly parts: readonly RowPart[];
  readonly width: number;
  readonly steps: number;
}

/** Rows in a table: steps × the batch's streams. */
export function rowCount(table: RowTable): number {
  return table.steps * table.parts.reduce((sum, part) => sum + part.streams, 0);
}

// The fused cell kernels' step buffers, one time step each (the plain-JS reference of each kernel sits
// in its cell's file: layers/rnn.ts, lstm.ts, gru.ts).

/** One forward step over n values: h = tanh(pre) (h may be pre). */
export interface TanhForwardStep {
  pre: Float32Array;
  h: Float32Array;
}

/** One backward step over n values: dPre = dh · (1 − h²) (dPre may be dh). */
export interface TanhBackwardStep {
  dh: Float32Array;
  h: Float32Array;
  dPre: Float32Array;
}

/** One forward step's buffers: gates [B, 4H] (pre-activations in, activations out), the rest [B, H]. */
export interface LstmForwardStep {
  gates: Float32Array;
  cPrev: Float32Array;
  c: Float32Array;
  cTanh: Float32Array;
  h: Float32Array;
}

/** One backward step's buffers: `dc` carries dc_t in and dc_{t-1} out; dGates [B, 4H] is written. */
export interface LstmBackwardStep {
  gates: Float32Array;
  cPrev: Float32Array;
  cTanh: Float32Array;
  dh: Float32Array;
  dc: Float32Array;
  dGates: Float32Array;
}

/**
 * One forward step's buffers: xGates [B, 3H] holds x_t^g and is overwritten by the activations r, z, n;
 * hGates [B, 3H] holds h_t^g and is kept (its n block is needed backward); hPrev and h are [B, H].
 */
export interface GruForwardStep {
  xGates: Float32Array;
  hGates: Float32Array;
  hPrev: Float32Array;
  h: Float32Array;
}

/**
 * One backward step's buffers: `gates` the activations r, z, n and `hGates` the h-side pre-activations
 * of that step, dh the total gradient reaching h_t. Writes dxGates and dhGates [B, 3H] and ADDS the
 * direct path dh·z into dhPrev (the caller then adds W_hhᵀ·dhGates).
 */
export interface GruBackwardStep {
  gates: Float32Array;
  hGates: Float32Array;
  hPrev: Float32Array;
  dh: Float32Array;
  dxGates: Float32Array;
  dhGates: Float32Array;
  dhPrev: Float32Array;
}

export interface Kernels {
  readonly name: string;
  /** The shared memory every buffer lives in, when the backend has one: worker threads attach to it. */
  readonly sharedMemory?: WebAssembly.Memory;

  /** A new zeroed buffer; throws KernelMemoryError (nothing reserved) when the backend's memory is spent. */
  alloc(length: number): Float32Array;
  allocInt32(length: number): Int32Array;

  /** out[m,n] (+)= Σk a[m,k]·b[n,k]  (activations × a PyTorch weight [out,in] transposed). */
  matmulABt(
    out: Float32Array,
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    accumulate: boolean,
  ): void;
  /** out[m,n] (+)= Σk a[m,k]·b[k,n]  (output gradient × weight: the input gradient). */
  matmulAB(
    out: Float32Array,
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    accumulate: boolean,
  ): void;
  /** out[m,n] (+)= Σk a[k,m]·b[k,n]  (gradientᵀ × activations: a weight gradient summed over k rows). */
  matmulAtB(
    out: Float32Array,
    a: Float32Array,
    b: Float32Array,
    m: number,
    n: number,
    k: number,
    accumulate: boolean,
  ): void;

  /** The rows of `parts` (rows of `width` values, `steps` steps each) as a table for the *Rows kernels. */
  rowTable(parts: readonly RowPart[], width: number, steps: number): RowTable;
  /**
   * out[i,j] (+)= Σp aRows_p[first + i]·bRows_p[j] for i < m, j < n, over the tables' rows p in order: a
   * weight gradient (or the slice of its rows from `first`) summed over rows gathered from many buffers.
   * Each element sums its rows in the same order and blocks whatever m and first are, so slices of a
   * product computed apart (on different threads) equal the whole product computed at once.
   */
  matmulAtBRows(
    out: Float32Array,
    aRows: RowTable,
    first: number,
    bRows: RowTable,
    m: number,
    n: number,
    accumulate: boolean,
  ): void;
  /** out[j] (+)= Σp rows_p[first + j] for j < width, rows in order (a bias gradient, or a slice of one). */
  sumRowsOf(out: Float32Array, rows: RowTable, first: number, width: number, accumulate: boolean): void;
  /**
   * gradWeight[i, ids[p]] += dRows_p[first + i] for i < width, rows in order: scatterColumnsAdd over
   * gathered rows, into gradWeight [width, columns] (the slice of a one-hot weight's gradient from row `first`).
   */
  scatterColumnsAddRows(
    gradWeight: Float32Array,
    dRows: RowTable,
    first: number,
    ids: Int32Array,
    width: number,
    columns: number,
  ): void;

  /** out[cols, rows] = a[rows, cols]ᵀ (a recurrent weight laid out for a·b products over many steps). */
  transpose(out: Float32Array, a: Float32Array, rows: number, cols: number): void;

  /** out[r,:] = bias for each of the rows (out is rows × width). */
  broadcastRows(out: Float32Array, bias: Float32Array, rows: number, width: number): void;
  /** out[:] (+)= Σr a[r,:]  (a bias gradient). */
  sumRows(out: Float32Array, a: Float32Array, rows: number, width: number, accumulate: boolean): void;
  /** out[r,:] += weight[:, ids[r]]  for weight of shape [width, columns]: a one-hot input projection. */
  gatherColumnsAdd(
    out: Float32Array,
    weight: Float32Array,
    ids: Int32Array,
    rows: number,
    width: number,
    columns: number,
  ): void;
  /**
   * out[r,:] += table[ids[r], :]  for table of shape [ids' range, width]: an embedding lookup, the one-hot
   * projection through a kept transposed weight (one add per element, so the bits equal gatherColumnsAdd's).
   */
  gatherRowsAdd(out: Float32Array, table: Float32Array, ids: Int32Array, rows: number, width: number): void;
  /** gradWeight[:, ids[r]] += dOut[r,:]  (the backward of gatherColumnsAdd), rows in order. */
  scatterColumnsAdd(
    gradWeight: Float32Array,
    dOut: Float32Array,
    ids: Int32Array,
    rows: number,
    width: number,
    columns: number,
  ): void;

  /** Vanilla RNN step over n values: h = tanh(pre) (h may alias pre). Reference: tanhForwardReference, rnn.ts. */
  tanhForward(step: TanhForwardStep, n: number): void;
  /** dPre = dh · (1 − h²) (dPre may alias dh). Reference: tanhBackwardReference, rnn.ts. */
  tanhBackward(step: TanhBackwardStep, n: number): void;

  /** LSTM step over `batch` rows. Reference: lstmForwardReference in layers/lstm.ts, which documents it. */
  lstmForward(step: LstmForwardStep, batch: number, hidden: number): void;
  /** LSTM step backward. Reference: lstmBackwardReference in layers/lstm.ts. */
  lstmBackward(step: LstmBackwardStep, batch: number, hidden: number): void;

  /** GRU step (PyTorch form). Reference: gruForwardReference in layers/gru.ts. */
  gruForward(step: GruForwardStep, batch: number, hidden: number): void;
  /** GRU step backward. Reference: gruBackwardReference in layers/gru.ts. */
  gruBackward(step: GruBackwardStep, batch: number, hidden: number): void;

  /**
   * Softmax cross-entropy over `rows` rows of `vocab` logits. Returns the summed loss (nats, in double
   * precision); writes dLogits = (softmax − onehot(target))·scale (dLogits may alias logits), and each
   * row's loss into `rowLosses` when given (in this backend's memory).
   */
  softmaxCrossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    dLogits: Float32Array,
    rows: number,
    vocab: number,
    scale: number,
    rowLosses?: Float64Array,
  ): number;
}

const mebibytes = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** The backend's memory cannot hold a requested buffer. Nothing was reserved: every earlier buffer stays valid. */
export class KernelMemoryError extends CharrnnError {
  constructor(
    readonly requestedBytes: number,
    readonly freeBytes: number,
    readonly limitBytes: number,
  ) {
    super(`out of kernel memory: ${mebibytes(requestedBytes)} MiB requested, ${mebibytes(freeBytes)} MiB free`);
    this.name = 'KernelMemoryError';
  }
}

/**
 * `error` as the user should see it: a KernelMemoryError becomes a CharrnnError saying what needed the
 * memory (`what`) and how to need less (`remedy`); anything else is returned as it is.
 */
export function explainKernelMemory(error: unknown, what: string, remedy: string): unknown {
  if (!(error instanceof KernelMemoryError)) return error;
  const { requestedBytes, freeBytes, limitBytes } = error;
  return new CharrnnError(
    `${what} needs ${mebibytes(requestedBytes)} MiB more kernel memory, but only ${mebibytes(freeBytes)} MiB ` +
      `of the ${mebibytes(limitBytes)} MiB heap are free; ${remedy}`,
  );
}

/** Runs `allocate`, explaining a shortage of kernel memory as explainKernelMemory does. */
export function allocating<T>(what: string, remedy: string, allocate: () => T): T {
  try {
    return allocate();
  } catch (error) {
    throw explainKernelMemory(error, what, remedy);
  }
}
