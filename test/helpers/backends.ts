/** Every kernel backend available on this machine, so kernel and model tests run against each. */
import { it } from 'vitest';
import { createKernelMemory } from '../../src/core/kernel-memory.js';
import { createJsKernels } from '../../src/core/kernels-js.js';
import type { Kernels } from '../../src/core/kernels.js';
import { createNativeKernels, nativeIsas, nativeUnavailableReason } from '../../src/core/native/kernels-native.js';
import { createWasmKernels, wasmSimdSupported } from '../../src/core/wasm/kernels-wasm.js';
import { WASM_VARIANTS } from '../../src/core/wasm/variants.js';

export interface Backend {
  name: string;
  /** New kernels, over `memory` when given (else a fresh memory, where the backend has one). */
  create: (memory?: WebAssembly.Memory) => Kernels;
}

/** The backends over the shared kernel memory: both WebAssembly builds, and the native kernels per instruction set. */
export function fastBackends(): Backend[] {
  const backends: Backend[] = [];
  if (wasmSimdSupported()) {
    for (const variant of WASM_VARIANTS) {
      backends.push({
        name: `wasm-${variant}`,
        create: (memory = createKernelMemory()) => createWasmKernels(memory, variant),
      });
    }
  }
  for (const isa of nativeIsas()) {
    backends.push({
      name: `native-${isa}`,
      create: (memory = createKernelMemory()) => createNativeKernels(memory, isa),
    });
  }
  return backends;
}

/** The plain-JS reference, then every fast backend. */
export function kernelBackends(): Backend[] {
  return [{ name: 'js', create: createJsKernels }, ...fastBackends()];
}

/** A skipped test naming why the native kernels are not tested here (not built, or not loadable); none if they are. */
export function reportNativeSkip(): void {
  const reason = nativeUnavailableReason();
  if (reason !== null) it.skip(`native kernels not tested: ${reason} (run \`npm run build\` with a C compiler)`);
}
