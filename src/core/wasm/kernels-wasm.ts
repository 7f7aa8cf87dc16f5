/**
 * The WebAssembly SIMD kernel backend. Buffers live in one shared WebAssembly.Memory, so kernel calls
 * pass byte offsets (no copies), growing the memory never detaches earlier views, and worker threads
 * can instantiate the same module over the same memory: the bump pointer lives in that memory and
 * each instance reserves its own scratch, so no state is kept on the JS side.
 */
import { setFlagsFromString } from 'node:v8';
import { KernelMemoryError, type Kernels, type RowTable } from '../kernels.js';
import { RELAXED_SIMD_WASM, SIMD_WASM } from './kernels-binary.js';

interface WasmExports {
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
 * A row table of this backend: in an i32 array in the shared memory, the batch's stream count, then
 * per stream the byte offset of its row at step 0 and the bytes from one step's row to the next.
 */
interface WasmRowTable extends RowTable {
  readonly streamTable: Int32Array;
  readonly rows: number;
}

function streamTableOf(table: RowTable): WasmRowTable {
  if (!(table as Partial<WasmRowTable>).streamTable) {
    throw new Error('row table not built by the wasm kernels (use kernels.rowTable)');
  }
  return table as WasmRowTable;
}

const PAGE_BYTES = 65536;
const INITIAL_PAGES = 32;
const MAXIMUM_PAGES = 65536; // 4 GiB
/**
 * Our buffers start at 1 MiB, above the module's only static data (a 68-byte constant table at 1024,
 * rewritten with the same bytes whenever another thread instantiates the module). The two words below
 * hold the bump pointer and the heap's limit, so every thread sharing the memory sees both.
 */
const HEAP_START = 1 << 20;
const BUMP_POINTER_AT = HEAP_START - 8;
const HEAP_LIMIT_AT = HEAP_START - 4;
const ALIGN = 64;
/** Offsets handed to wasm are i32: the heap stays below 2 GiB. */
const HEAP_LIMIT = 2 ** 31 - ALIGN;

/** Which build of the module: relaxed-SIMD fused multiply-add, or plain SIMD multiply then add. */
export type WasmVariant = 'relaxed-simd' | 'simd';

// Per thread, each written once: the compiled module of each variant, or null where V8 rejects it.
const compiled = new Map<WasmVariant, WebAssembly.Module | null>();

function compileVariant(variant: WasmVariant): WebAssembly.Module | null {
  let module = compiled.get(variant);
  if (module !== undefined) return module;
  // Relaxed SIMD is behind a flag in Node 20. Without --no-liftoff a long kernel call can stay in
  // V8's baseline code, about 4x slower than TurboFan's (measured: 12 vs 50 GFLOP/s).
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  setFlagsFromString('--no-liftoff');
  const bytes = Buffer.from(variant === 'relaxed-simd' ? RELAXED_SIMD_WASM : SIMD_WASM, 'base64');
  module = null;
  if (WebAssembly.validate(bytes)) {
    try {
      module = new WebAssembly.Module(bytes);
    } catch {
      // Validated but not compiled: treat as unsupported.
    }
  }
  compiled.set(variant, module);
  return module;
}

/** The fastest variant this V8 runs, or null without WebAssembly SIMD. */
function bestVariant(): WasmVariant | null {
  if (compileVariant('relaxed-simd')) return 'relaxed-simd';
  if (compileVariant('simd')) return 'simd';
  return null;
}

export function wasmSimdSupported(): boolean {
  return bestVariant() !== null;
}

/**
 * A fresh shared memory for one model (and the workers that share it). Its heap ends below 2 GiB, or
 * at `limitBytes` when that is lower (tests use a small one to run out on purpose).
 */
export function createKernelMemory(limitBytes = HEAP_LIMIT): WebAssembly.Memory {
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
  const header = new Int32Array(memory.buffer, 0, HEAP_START >> 2);
  header[BUMP_POINTER_AT >> 2] = HEAP_START;
  header[HEAP_LIMIT_AT >> 2] = Math.min(Math.max(limitBytes, HEAP_START), HEAP_LIMIT);
  return memory;
}

/**
 * Reserves `bytes` (rounded up to 64) from the heap in `memory`, growing it when needed; returns the
 * byte offset. Safe across threads: the bump pointer moves by compare-and-swap in the shared memory,
 * and only when the whole request fits, so running out reserves nothing and breaks nothing.
 */
function reserve(memory: WebAssembly.Memory, bytes: number): number {
  const size = Math.ceil(bytes / ALIGN) * ALIGN;
  const header = new Int32Array(memory.buffer, 0, HEAP_START >> 2);
  const limit = Atomics.load(header, HEAP_LIMIT_AT >> 2);
  for (;;) {
    const start = Atomics.load(header, BUMP_POINTER_AT >> 2);
    const end = start + size;
    if (end > limit) throw new KernelMemoryError(size, limit - start, limit);
    if (Atomics.compareExchange(header, BUMP_POINTER_AT >> 2, start, end) !== start) continue;
    const shortfall = end - memory.buffer.byteLength;
    // Another thread may grow it at the same time; growing a little more than needed is harmless.
    if (shortfall > 0) memory.grow(Math.ceil(shortfall / PAGE_BYTES));
    return start;
  }
}

/**
 * WASM SIMD kernels over `memory` (a new one by default), in the fastest variant unless one is asked
 * for (tests run both). Throws if this V8 cannot run them.
 */
export function createWasmKernels(
  memory: WebAssembly.Memory = createKernelMemory(),
  variant: WasmVariant | null = bestVariant(),
): Kernels {
  const module = variant && compileVariant(variant);
  if (!module) throw new Error(`WebAssembly SIMD${variant ? ` (${variant})` : ''} is not available in this Node.js`);
  const wasm = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmExports;
  // This instance's own scratch: packed matmul panels, and one grown on demand for a transposed weight
  // (the one-hot kernels) or gathered rows (matmulAtBRows), used by one call at a time.
  const work = reserve(memory, wasm.workspaceBytes());
  let scratch = { at: 0, floats: 0 };
  const scratchFor = (floats: number): number => {
    if (floats > scratch.floats) scratch = { at: reserve(memory, floats * 4), floats };
    return scratch.at;
  };
  const flag = (value: boolean) => (value ? 1 : 0);

  return {
    name: `wasm-${variant}`,
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
      wasm.matmulABt(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate), work),
    matmulAB: (out, a, b, m, n, k, accumulate) =>
      wasm.matmulAB(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate), work),
    matmulAtB: (out, a, b, m, n, k, accumulate) =>
      wasm.matmulAtB(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate), work),
    // Built once per training run and reused every step: two numbers per stream, whatever the steps.
    rowTable: (parts, width, steps): WasmRowTable => {
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
      const scratchAt = scratchFor(wasm.rowsScratchBytes(m, n) / 4);
      const [aAt, bAt] = [a.streamTable.byteOffset, b.streamTable.byteOffset];
      wasm.matmulAtBRows(out.byteOffset, aAt, first, bAt, a.rows, m, n, flag(accumulate), work, scratchAt);
    },
    sumRowsOf: (out, rows, first, width, accumulate) => {
      const table = streamTableOf(rows);
      wasm.sumRowsOf(out.byteOffset, table.streamTable.byteOffset, first, width, table.rows, flag(accumulate));
    },
    scatterColumnsAddRows: (gradWeight, dRows, first, ids, width, columns) => {
      const table = streamTableOf(dRows);
      wasm.scatterColumnsAddRows(
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
    transpose: (out, a, rows, cols) => wasm.transpose(out.byteOffset, a.byteOffset, rows, cols),

    broadcastRows: (out, bias, rows, width) => wasm.broadcastRows(out.byteOffset, bias.byteOffset, rows, width),
    sumRows: (out, a, rows, width, accumulate) =>
      wasm.sumRows(out.byteOffset, a.byteOffset, rows, width, flag(accumulate)),
    gatherColumnsAdd: (out, weight, ids, rows, width, columns) =>
      wasm.gatherColumnsAdd(
        out.byteOffset,
        weight.byteOffset,
        ids.byteOffset,
        rows,
        width,
        columns,
        scratchFor(width * columns),
      ),
    scatterColumnsAdd: (gradWeight, dOut, ids, rows, width, columns) =>
      wasm.scatterColumnsAdd(
        gradWeight.byteOffset,
        dOut.byteOffset,
        ids.byteOffset,
        rows,
        width,
        columns,
        scratchFor(width * columns),
      ),

    tanhForward: ({ pre, h }, n) => wasm.tanhForward(h.byteOffset, pre.byteOffset, n),
    tanhBackward: ({ dh, h, dPre }, n) => wasm.tanhBackward(dPre.byteOffset, dh.byteOffset, h.byteOffset, n),
    lstmForward: ({ gates, cPrev, c, cTanh, h }, batch, hidden) =>
      wasm.lstmForward(gates.byteOffset, cPrev.byteOffset, c.byteOffset, cTanh.byteOffset, h.byteOffset, batch, hidden),
    lstmBackward: ({ gates, cPrev, cTanh, dh, dc, dGates }, batch, hidden) =>
      wasm.lstmBackward(
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
      wasm.gruForward(xGates.byteOffset, hGates.byteOffset, hPrev.byteOffset, h.byteOffset, batch, hidden),
    gruBackward: ({ gates, hGates, hPrev, dh, dxGates, dhGates, dhPrev }, batch, hidden) =>
      wasm.gruBackward(
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
      wasm.softmaxCrossEntropy(
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
