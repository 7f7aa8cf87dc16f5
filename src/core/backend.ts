/** Choosing a kernel backend: the fastest one that works on this machine, or the one asked for. */
import { CharrnnError } from '../errors.js';
import { createJsKernels } from './kernels-js.js';
import type { Kernels } from './kernels.js';
import { createNativeKernels, nativeUnavailableReason } from './native/kernels-native.js';

export { nativeUnavailableReason };
import { createWasmKernels, type WasmVariant, wasmSimdSupported } from './wasm/kernels-wasm.js';

export type KernelChoice = 'auto' | 'js' | 'wasm' | 'native';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'js', 'wasm', 'native'];

/**
 * 'auto' is the native kernels where they load, else WebAssembly SIMD where this Node.js runs it, else
 * the plain-JS kernels (nativeUnavailableReason says why auto passed the native kernels over).
 */
export function createKernels(choice: KernelChoice): Kernels {
  if (choice === 'js') return createJsKernels();
  if (choice !== 'wasm') {
    const reason = nativeUnavailableReason();
    if (reason === null) return createNativeKernels();
    if (choice === 'native') {
      throw new CharrnnError(`--kernel native: ${reason}; build them with \`npm run build\` (needs a C compiler)`, 2);
    }
  }
  if (wasmSimdSupported()) return createWasmKernels();
  if (choice === 'wasm') {
    throw new CharrnnError('--kernel wasm: this Node.js cannot run WebAssembly SIMD; use --kernel js', 2);
  }
  return createJsKernels();
}

/**
 * The kernels named `name` (a Kernels' name: native-avx2, wasm-simd, ...) over `memory`: what a worker
 * thread creates to compute exactly as the main thread does.
 */
export function createKernelsNamed(name: string, memory: WebAssembly.Memory): Kernels {
  if (name.startsWith('native-')) return createNativeKernels(memory, name.slice('native-'.length));
  if (name.startsWith('wasm-')) return createWasmKernels(memory, name.slice('wasm-'.length) as WasmVariant);
  throw new Error(`no shared-memory kernels named ${name}`);
}
