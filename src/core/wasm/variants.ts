/**
 * What the WebAssembly kernels are wherever they run: the variants in the order that Node
 * (kernels-wasm.ts) and a browser (web/kernels.ts) both try them, so that both pick the same one on one
 * CPU and compute the same bits, and a module's exports as the Kernels interface. No Node built-ins.
 */
import type { Kernels } from '../kernels.js';
import { createOffsetKernels, type OffsetExports } from '../offset-kernels.js';

/** Which build of the module: relaxed-SIMD fused multiply-add, or plain SIMD multiply then add. */
export type WasmVariant = 'relaxed-simd' | 'simd';

/** Fastest first: relaxed SIMD where the engine runs it, else plain SIMD. */
export const WASM_VARIANTS: readonly WasmVariant[] = ['relaxed-simd', 'simd'];

/** A module's bytes from its base64 text (kernels-binary.ts). */
export function moduleBytes(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
}

/** The Kernels over an instance of a `variant` module and its memory, named `wasm-<variant>`. */
export function wasmKernelsOf(exports: unknown, memory: WebAssembly.Memory, variant: WasmVariant): Kernels {
  return createOffsetKernels(`wasm-${variant}`, memory, exports as OffsetExports);
}
