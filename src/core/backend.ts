/** Choosing a kernel backend: the fastest one that works on this machine, or the one asked for. */
import { CharrnnError } from '../errors.js';
import { createJsKernels } from './kernels-js.js';
import type { Kernels } from './kernels.js';
import { createWasmKernels, wasmSimdSupported } from './wasm/kernels-wasm.js';

export type KernelChoice = 'auto' | 'js' | 'wasm';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'js', 'wasm'];

/** 'auto' is WebAssembly SIMD where this Node.js runs it, else the plain-JS kernels. */
export function createKernels(choice: KernelChoice): Kernels {
  if (choice === 'js') return createJsKernels();
  if (wasmSimdSupported()) return createWasmKernels();
  if (choice === 'wasm') {
    throw new CharrnnError('--kernel wasm: this Node.js cannot run WebAssembly SIMD; use --kernel js', 2);
  }
  return createJsKernels();
}
