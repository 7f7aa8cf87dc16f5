/** Every kernel backend available on this machine, so model tests run against each. */
import { createJsKernels } from '../../src/core/kernels-js.js';
import type { Kernels } from '../../src/core/kernels.js';
import { createWasmKernels, wasmSimdSupported } from '../../src/core/wasm/kernels-wasm.js';

export interface Backend {
  name: string;
  create: () => Kernels;
}

export function kernelBackends(): Backend[] {
  const backends: Backend[] = [{ name: 'js', create: createJsKernels }];
  if (wasmSimdSupported()) backends.push({ name: 'wasm', create: () => createWasmKernels() });
  return backends;
}
