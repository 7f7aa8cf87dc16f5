/** Choosing a kernel backend: the fastest one that works on this machine, or the one asked for. */
import { CharrnnError } from '../errors.js';
import { createJsKernels } from './kernels-js.js';
import type { Kernels } from './kernels.js';

export type KernelChoice = 'auto' | 'js' | 'wasm';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'js', 'wasm'];

export async function createKernels(choice: KernelChoice): Promise<Kernels> {
  if (choice === 'js') return createJsKernels();
  if (choice === 'wasm') throw new CharrnnError('--kernel wasm is not available in this build; use --kernel js', 2);
  return createJsKernels();
}
