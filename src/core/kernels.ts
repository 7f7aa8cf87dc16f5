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
 */
export interface Kernels {
  readonly name: string;
  /** The shared memory every buffer lives in, when the backend has one: worker threads attach to it. */
  readonly sharedMemory?: WebAssembly.Memory;

  alloc(length: number): Float32Array;
  allocInt32(length: number): Int32Array;

  /** out[m,n] (+)= Σk a[m,k]·b[n,k]  (activations × a PyTorch weight [out,in] transposed). */
  matmulABt(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  /** out[m,n] (+)= Σk a[m,k]·b[k,n]  (output gradient × weight: the input gradient). */
  matmulAB(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;
  /** out[m,n] (+)= Σk a[k,m]·b[k,n]  (gradientᵀ × activations: a weight gradient summed over k rows). */
  matmulAtB(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, accumulate: boolean): void;

  /** out[cols, rows] = a[rows, cols]ᵀ (a recurrent weight laid out for a·b products over many steps). */
  transpose(out: Float32Array, a: Float32Array, rows: number, cols: number): void;

  /** out[r,:] = bias for each of the rows (out is rows × width). */
  broadcastRows(out: Float32Array, bias: Float32Array, rows: number, width: number): void;
  /** out[:] (+)= Σr a[r,:]  (a bias gradient). */
  sumRows(out: Float32Array, a: Float32Array, rows: number, width: number, accumulate: boolean): void;
  /** out[r,:] += weight[:, ids[r]]  for weight of shape [width, columns]: a one-hot input projection. */
  gatherColumnsAdd(out: Float32Array, weight: Float32Array, ids: Int32Array, rows: number, width: number, columns: number): void;
  /** gradWeight[:, ids[r]] += dOut[r,:]  (the backward of gatherColumnsAdd), rows in order. */
  scatterColumnsAdd(gradWeight: Float32Array, dOut: Float32Array, ids: Int32Array, rows: number, width: number, columns: number): void;

  /** Vanilla RNN: h = tanh(pre) elementwise over n values (h may alias pre). */
  tanhForward(h: Float32Array, pre: Float32Array, n: number): void;
  /** dPre = dh · (1 − h²)  (dPre may alias dh). */
  tanhBackward(dPre: Float32Array, dh: Float32Array, h: Float32Array, n: number): void;

  /**
   * LSTM step over `batch` rows. `gates` [batch, 4H] holds the summed pre-activations (i,f,g,o) and is
   * overwritten by the activations; writes c = f·cPrev + i·g, cTanh = tanh(c), h = o·cTanh.
   */
  lstmForward(gates: Float32Array, cPrev: Float32Array, c: Float32Array, cTanh: Float32Array, h: Float32Array, batch: number, hidden: number): void;
  /**
   * LSTM step backward. `dh` is the total gradient reaching h; `dc` on entry the gradient reaching c
   * from the next step, on return the gradient for cPrev. Writes the pre-activation gradients dGates [batch, 4H].
   */
  lstmBackward(gates: Float32Array, cPrev: Float32Array, cTanh: Float32Array, dh: Float32Array, dc: Float32Array, dGates: Float32Array, batch: number, hidden: number): void;

  /**
   * GRU step (PyTorch form). `xGates` [batch, 3H] = W_ih·x + b_ih and is overwritten by the activations
   * r, z, n; `hGates` [batch, 3H] = W_hh·hPrev + b_hh is kept (its n block is needed backward).
   * n = tanh(x_n + r·h_n), h = (1 − z)·n + z·hPrev.
   */
  gruForward(xGates: Float32Array, hGates: Float32Array, hPrev: Float32Array, h: Float32Array, batch: number, hidden: number): void;
  /**
   * GRU step backward from dh (total gradient reaching h). Writes dxGates (gradient of the x-side
   * pre-activations) and dhGates (of the h-side pre-activations, n block scaled by r), and ADDS the
   * direct path dh·z into dhPrev (the caller then adds dhGates·W_hh).
   */
  gruBackward(gates: Float32Array, hGates: Float32Array, hPrev: Float32Array, dh: Float32Array, dxGates: Float32Array, dhGates: Float32Array, dhPrev: Float32Array, batch: number, hidden: number): void;

  /**
   * Softmax cross-entropy over `rows` rows of `vocab` logits. Returns the summed loss (nats, in double
   * precision); writes dLogits = (softmax − onehot(target))·scale (dLogits may alias logits).
   */
  softmaxCrossEntropy(logits: Float32Array, targets: Int32Array, dLogits: Float32Array, rows: number, vocab: number, scale: number): number;
}
