/**
 * The kernels a page computes with: WebAssembly SIMD in the variant Node picks on the same CPU (relaxed
 * SIMD where the browser runs it: WASM_VARIANTS' order), over an unshared memory of fixed size, which
 * every browser has; the plain-JS kernels where there is no WebAssembly SIMD, or when asked for.
 */
import { CharrnnError, EXIT } from '../errors.js';
import { createFixedKernelMemory } from '../core/kernel-memory.js';
import { createJsKernels } from '../core/kernels-js.js';
import type { Kernels } from '../core/kernels.js';
import {
  WASM_VARIANTS,
  type WasmVariant,
  variantBytes,
  wasmKernelsOf,
  withUnsharedMemory,
} from '../core/wasm/variants.js';

export const WEB_KERNEL_CHOICES = ['auto', 'wasm', 'js'] as const;
/** 'auto': WebAssembly SIMD where the browser runs it, else plain JS. */
export type WebKernelChoice = (typeof WEB_KERNEL_CHOICES)[number];

/** The fastest variant this browser compiles, compiled; null without WebAssembly SIMD. */
async function compileFastest(): Promise<{ variant: WasmVariant; module: WebAssembly.Module } | null> {
  for (const variant of WASM_VARIANTS) {
    const bytes = withUnsharedMemory(variantBytes(variant));
    if (!WebAssembly.validate(bytes)) continue;
    try {
      return { variant, module: await WebAssembly.compile(bytes) };
    } catch {
      // Validated but not compiled: treat as unsupported.
    }
  }
  return null;
}

/** The kernels `choice` names; WebAssembly's with room for `heapBytes` of buffers, all a model will ever take. */
export async function createWebKernels(choice: WebKernelChoice, heapBytes: number): Promise<Kernels> {
  if (choice === 'js') return createJsKernels();
  const compiled = await compileFastest();
  if (!compiled) {
    if (choice === 'auto') return createJsKernels();
    throw new CharrnnError("kernel wasm: this browser cannot run WebAssembly SIMD; use kernel 'js'", EXIT.usage);
  }
  const memory = createFixedKernelMemory(heapBytes);
  const instance = await WebAssembly.instantiate(compiled.module, { env: { memory } });
  return wasmKernelsOf(instance.exports, memory, compiled.variant);
}
