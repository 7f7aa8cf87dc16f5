/**
 * What the WebAssembly kernels are wherever they run: the variants in the order that Node
 * (kernels-wasm.ts) and a browser (web/kernels.ts) both try them, so that both pick the same one on one
 * CPU and compute the same bits, and a module's exports as the Kernels interface. No Node built-ins.
 */
import type { Kernels } from '../kernels.js';
import { createOffsetKernels, type OffsetExports } from '../offset-kernels.js';
import { RELAXED_SIMD_WASM, SIMD_WASM } from './kernels-binary.js';

/** Which build of the module: relaxed-SIMD fused multiply-add, or plain SIMD multiply then add. */
export type WasmVariant = 'relaxed-simd' | 'simd';

/** Fastest first: relaxed SIMD where the engine runs it, else plain SIMD. */
export const WASM_VARIANTS: readonly WasmVariant[] = ['relaxed-simd', 'simd'];

const MODULES: Record<WasmVariant, string> = { 'relaxed-simd': RELAXED_SIMD_WASM, simd: SIMD_WASM };

/** The `variant` module's bytes, from its base64 text (kernels-binary.ts). */
export function variantBytes(variant: WasmVariant): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(MODULES[variant]), (char) => char.charCodeAt(0));
}

const IMPORT_SECTION = 2;
const MEMORY_IMPORT = 2;
/** The bit of a memory's limits flags that marks it shared. */
const SHARED_LIMITS = 0x02;

/**
 * A copy of a module's bytes with its memory import unshared, for a browser page, which has no shared
 * memory without cross-origin isolation. The kernels use no atomics, so that one flag is all that differs:
 * the same code, so the same bits. Throws for a module laid out otherwise (scripts/build-wasm.mjs makes
 * one import, env.memory).
 */
export function withUnsharedMemory(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = Uint8Array.from(bytes);
  let at = 8; // past the magic and the version
  const unsigned = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = out[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < out.length) {
    const section = out[at++];
    const size = unsigned();
    if (section !== IMPORT_SECTION) {
      at += size;
      continue;
    }
    const skipName = (): void => {
      const length = unsigned();
      at += length;
    };
    unsigned(); // the import count: the memory must come first
    skipName(); // its module's name, env
    skipName(); // its own, memory
    if (out[at++] !== MEMORY_IMPORT) break;
    out[at] = out[at]! & ~SHARED_LIMITS;
    return out;
  }
  throw new Error('the kernels module does not import its memory first; see scripts/build-wasm.mjs');
}

/** The Kernels over an instance of a `variant` module and its memory, named `wasm-<variant>`. */
export function wasmKernelsOf(exports: unknown, memory: WebAssembly.Memory, variant: WasmVariant): Kernels {
  return createOffsetKernels(`wasm-${variant}`, memory, exports as OffsetExports);
}
