/**
 * The WebAssembly SIMD kernel backend. Buffers live in one shared WebAssembly.Memory, so kernel calls
 * pass byte offsets (no copies), growing the memory never detaches earlier views, and worker threads
 * can instantiate the same module over the same memory.
 */
import { setFlagsFromString } from 'node:v8';
import { createJsKernels } from '../kernels-js.js';
import type { Kernels } from '../kernels.js';
import { RELAXED_SIMD_WASM, SIMD_WASM } from './kernels-binary.js';

interface WasmExports {
  matmulAB(out: number, a: number, b: number, m: number, n: number, k: number, accumulate: number): void;
  matmulAtB(out: number, a: number, b: number, m: number, n: number, k: number, accumulate: number): void;
  matmulABtDots(out: number, a: number, b: number, m: number, n: number, k: number, accumulate: number): void;
  transpose(out: number, a: number, rows: number, cols: number): void;
  tanhForward(h: number, pre: number, n: number): void;
  tanhBackward(dPre: number, dh: number, h: number, n: number): void;
  lstmForward(gates: number, cPrev: number, c: number, cTanh: number, h: number, batch: number, hidden: number): void;
  lstmBackward(gates: number, cPrev: number, cTanh: number, dh: number, dc: number, dGates: number, batch: number, hidden: number): void;
  gruForward(xGates: number, hGates: number, hPrev: number, h: number, batch: number, hidden: number): void;
  gruBackward(gates: number, hGates: number, hPrev: number, dh: number, dxGates: number, dhGates: number, dhPrev: number, batch: number, hidden: number): void;
  softmaxCrossEntropy(logits: number, targets: number, dLogits: number, rows: number, vocab: number, scale: number): number;
}

const PAGE_BYTES = 65536;
const INITIAL_PAGES = 32;
const MAXIMUM_PAGES = 65536; // 4 GiB
/** Our buffers start above the module's own static data; the word below holds the bump pointer. */
const HEAP_START = 1 << 20;
const BUMP_POINTER_AT = HEAP_START - 8;
const ALIGN = 64;
/** Below this many rows a·bᵀ runs as dot products; above it bᵀ is packed once and the blocked a·b kernel runs. */
const DOT_PRODUCT_ROWS = 8;

let compiled: { module: WebAssembly.Module; relaxed: boolean } | null | undefined;

/** Compiles the module once per thread: relaxed-SIMD FMA where V8 accepts it, plain SIMD otherwise. */
function compileModule(): { module: WebAssembly.Module; relaxed: boolean } | null {
  if (compiled !== undefined) return compiled;
  // Relaxed SIMD is behind a flag in Node 20; Liftoff (the baseline compiler) would keep long calls ~4x slower.
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  setFlagsFromString('--no-liftoff');
  compiled = null;
  for (const [base64, relaxed] of [[RELAXED_SIMD_WASM, true], [SIMD_WASM, false]] as const) {
    const bytes = Buffer.from(base64, 'base64');
    if (!WebAssembly.validate(bytes)) continue;
    try {
      compiled = { module: new WebAssembly.Module(bytes), relaxed };
      break;
    } catch {
      // Try the next variant.
    }
  }
  return compiled;
}

export function wasmSimdSupported(): boolean {
  return compileModule() !== null;
}

/** A fresh shared memory for one model (and the workers that share it). */
export function createKernelMemory(): WebAssembly.Memory {
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
  new Int32Array(memory.buffer)[BUMP_POINTER_AT >> 2] = HEAP_START;
  return memory;
}

/** WASM SIMD kernels over `memory` (a new one by default). Throws if this V8 cannot run them. */
export function createWasmKernels(memory: WebAssembly.Memory = createKernelMemory()): Kernels {
  const module = compileModule();
  if (!module) throw new Error('WebAssembly SIMD is not available in this Node.js');
  const wasm = new WebAssembly.Instance(module.module, { env: { memory, abort: () => { throw new Error('wasm abort'); } } }).exports as unknown as WasmExports;
  const reference = createJsKernels();
  const header = new Int32Array(memory.buffer, 0, HEAP_START >> 2);

  const reserve = (bytes: number): number => {
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    const start = Atomics.add(header, BUMP_POINTER_AT >> 2, size);
    const end = start + size;
    if (end > 2 ** 31 - ALIGN) throw new Error('out of kernel memory (2 GiB)');
    const shortfall = end - memory.buffer.byteLength;
    if (shortfall > 0) memory.grow(Math.ceil(shortfall / PAGE_BYTES));
    return start;
  };
  // Scratch for packing bᵀ in matmulABt; grows when a larger product comes along.
  let scratch = { at: 0, floats: 0 };
  const scratchFor = (floats: number): number => {
    if (floats > scratch.floats) scratch = { at: reserve(floats * 4), floats };
    return scratch.at;
  };
  const flag = (value: boolean) => (value ? 1 : 0);

  return {
    name: module.relaxed ? 'wasm-relaxed-simd' : 'wasm-simd',
    sharedMemory: memory,
    // reserve() may grow the memory, so it must run before memory.buffer is read.
    alloc: (length) => {
      const offset = reserve(length * 4);
      return new Float32Array(memory.buffer, offset, length);
    },
    allocInt32: (length) => {
      const offset = reserve(length * 4);
      return new Int32Array(memory.buffer, offset, length);
    },

    matmulABt(out, a, b, m, n, k, accumulate) {
      if (m < DOT_PRODUCT_ROWS) {
        wasm.matmulABtDots(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate));
        return;
      }
      const packed = scratchFor(n * k);
      wasm.transpose(packed, b.byteOffset, n, k);
      wasm.matmulAB(out.byteOffset, a.byteOffset, packed, m, n, k, flag(accumulate));
    },
    matmulAB: (out, a, b, m, n, k, accumulate) => wasm.matmulAB(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate)),
    matmulAtB: (out, a, b, m, n, k, accumulate) => wasm.matmulAtB(out.byteOffset, a.byteOffset, b.byteOffset, m, n, k, flag(accumulate)),
    transpose: (out, a, rows, cols) => wasm.transpose(out.byteOffset, a.byteOffset, rows, cols),

    broadcastRows: reference.broadcastRows,
    sumRows: reference.sumRows,
    gatherColumnsAdd: reference.gatherColumnsAdd,
    scatterColumnsAdd: reference.scatterColumnsAdd,

    tanhForward: (h, pre, n) => wasm.tanhForward(h.byteOffset, pre.byteOffset, n),
    tanhBackward: (dPre, dh, h, n) => wasm.tanhBackward(dPre.byteOffset, dh.byteOffset, h.byteOffset, n),
    lstmForward: (gates, cPrev, c, cTanh, h, batch, hidden) => wasm.lstmForward(gates.byteOffset, cPrev.byteOffset, c.byteOffset, cTanh.byteOffset, h.byteOffset, batch, hidden),
    lstmBackward: (gates, cPrev, cTanh, dh, dc, dGates, batch, hidden) =>
      wasm.lstmBackward(gates.byteOffset, cPrev.byteOffset, cTanh.byteOffset, dh.byteOffset, dc.byteOffset, dGates.byteOffset, batch, hidden),
    gruForward: (xGates, hGates, hPrev, h, batch, hidden) => wasm.gruForward(xGates.byteOffset, hGates.byteOffset, hPrev.byteOffset, h.byteOffset, batch, hidden),
    gruBackward: (gates, hGates, hPrev, dh, dxGates, dhGates, dhPrev, batch, hidden) =>
      wasm.gruBackward(gates.byteOffset, hGates.byteOffset, hPrev.byteOffset, dh.byteOffset, dxGates.byteOffset, dhGates.byteOffset, dhPrev.byteOffset, batch, hidden),
    softmaxCrossEntropy: (logits, targets, dLogits, rows, vocab, scale) =>
      wasm.softmaxCrossEntropy(logits.byteOffset, targets.byteOffset, dLogits.byteOffset, rows, vocab, scale),
  };
}
