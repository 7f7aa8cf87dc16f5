/** Every kernel backend available on this machine, so model tests run against each. */
import { createJsKernels } from '../../src/core/kernels-js.js';
import type { Kernels } from '../../src/core/kernels.js';

export interface Backend {
  name: string;
  create: () => Kernels;
}

export function kernelBackends(): Backend[] {
  return [{ name: 'js', create: createJsKernels }];
}
