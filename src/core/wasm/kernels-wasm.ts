/**
 * The WebAssembly SIMD kernel backend in Node: the module compiled from kernels.as.ts, instantiated over
 * the shared kernel memory (kernel-memory.ts), so worker threads instantiate the same module over the
 * same memory; variants.ts names the variants and turns the exports into the Kernels interface.
 */
import { setFlagsFromString } from 'node:v8';
import { createKernelMemory } from '../kernel-memory.js';
import type { Kernels } from '../kernels.js';
import { variantBytes, WASM_VARIANTS, type WasmVariant, wasmKernelsOf } from './variants.js';

export type { WasmVariant };

// Per thread, each written once: the compiled module of each variant, or null where V8 rejects it.
const compiled = new Map<WasmVariant, WebAssembly.Module | null>();

function compileVariant(variant: WasmVariant): WebAssembly.Module | null {
  let module = compiled.get(variant);
  if (module !== undefined) return module;
  // Relaxed SIMD is behind a flag in Node 20. Without --no-liftoff a long kernel call can stay in
  // V8's baseline code, about 4x slower than TurboFan's (measured: 12 vs 50 GFLOP/s).
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  setFlagsFromString('--no-liftoff');
  const bytes = variantBytes(variant);
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
  return WASM_VARIANTS.find((variant) => compileVariant(variant) !== null) ?? null;
}

export function wasmSimdSupported(): boolean {
  return bestVariant() !== null;
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
  return wasmKernelsOf(new WebAssembly.Instance(module, { env: { memory } }).exports, memory, variant);
}
