/**
 * The kernel memory of the WebAssembly and native backends: one shared WebAssembly.Memory per model,
 * from which every buffer is reserved by a bump allocator, so kernel calls pass byte offsets (no
 * copies), growing it never detaches earlier views (nor moves it: V8 reserves a shared memory's
 * maximum up front, which the native kernels rely on), and worker threads attach to the same memory:
 * the bump pointer lives in that memory, so no state is kept on the JS side. A browser's memory is
 * unshared and of fixed size (createFixedKernelMemory), with the same heap.
 */
import { KernelMemoryError } from './kernels.js';

const PAGE_BYTES = 65536;
/** Pages at creation and at most (4 GiB); the WebAssembly module declares the same (scripts/build-wasm.mjs). */
export const INITIAL_PAGES = 32;
export const MAXIMUM_PAGES = 65536;
/**
 * Our buffers start at 1 MiB, above the WebAssembly module's only static data (a 68-byte constant table
 * at 1024, rewritten with the same bytes whenever another thread instantiates the module). The two words
 * below hold the bump pointer and the heap's limit, so every thread sharing the memory sees both.
 */
const HEAP_START = 1 << 20;
const BUMP_POINTER_AT = HEAP_START - 8;
const HEAP_LIMIT_AT = HEAP_START - 4;
const ALIGN = 64;
/** Offsets handed to the kernels are i32: the heap stays below 2 GiB. */
const HEAP_LIMIT = 2 ** 31 - ALIGN;

/**
 * A fresh shared memory for one model (and the workers that share it). Its heap ends below 2 GiB, or
 * at `limitBytes` when that is lower (tests use a small one to run out on purpose).
 */
export function createKernelMemory(limitBytes = HEAP_LIMIT): WebAssembly.Memory {
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
  return withHeap(memory, limitBytes);
}

/**
 * A memory that is not shared, made at its full size: room for `heapBytes` of buffers. For a browser page,
 * which has no shared memory without cross-origin isolation. Growing an unshared memory detaches every view
 * of it, so this one never grows: a request past its end is a KernelMemoryError, as at any heap's limit.
 */
export function createFixedKernelMemory(heapBytes: number): WebAssembly.Memory {
  const bytes = Math.min(HEAP_START + Math.max(heapBytes, 0), HEAP_LIMIT);
  const pages = Math.max(INITIAL_PAGES, Math.ceil(bytes / PAGE_BYTES));
  return withHeap(new WebAssembly.Memory({ initial: pages, maximum: pages }), Math.min(pages * PAGE_BYTES, HEAP_LIMIT));
}

/** `memory` with an empty heap from HEAP_START to `limitBytes` (at least the start, at most below 2 GiB). */
function withHeap(memory: WebAssembly.Memory, limitBytes: number): WebAssembly.Memory {
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
export function reserve(memory: WebAssembly.Memory, bytes: number): number {
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
