/**
 * The native kernel backend: native/*.c built by scripts/build-native.mjs into one Node-API addon,
 * dist/native/charrnn-kernels.node, holding the kernels once per instruction set (AVX-512, AVX2+FMA,
 * SSE2 on x86-64; NEON on arm64). The addon binds them to the shared kernel memory (kernel-memory.ts)
 * by its base address, taken once, and they take byte offsets as the WebAssembly exports do, so
 * offset-kernels.ts serves both and worker threads attach to the memory the same way.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CharrnnError } from '../../errors.js';
import { createKernelMemory } from '../kernel-memory.js';
import type { Kernels } from '../kernels.js';
import { createOffsetKernels, type OffsetExports } from '../offset-kernels.js';

interface NativeAddon {
  /** The instruction sets this CPU runs, fastest first. */
  isas(): string[];
  /** The kernels of `isa` over the memory whose first bytes `view` covers. */
  bind(isa: string, view: Uint8Array): OffsetExports;
}

/** The environment variable that picks the instruction set instead of the fastest one. */
export const ISA_VARIABLE = 'CHARRNN_NATIVE_ISA';

/** Where the addon is: beside the bundle (dist/native/), or from the sources, in the built dist/. */
const ADDON_PLACES = ['native/charrnn-kernels.node', '../../../dist/native/charrnn-kernels.node'];

/** The addon, or why it cannot be used. */
type Loading = { addon: NativeAddon } | { reason: string };

// Per thread, written once: loading the addon, or why it failed.
let loading: Loading | undefined;

function loadAddon(): Loading {
  const path = ADDON_PLACES.map((place) => fileURLToPath(new URL(place, import.meta.url))).find(existsSync);
  if (!path) return { reason: 'the native kernels are not built' };
  try {
    return { addon: createRequire(import.meta.url)(path) as NativeAddon };
  } catch (error) {
    // Built for another architecture or C library, say.
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { reason: `the native kernels did not load (${why})` };
  }
}

function addon(): Loading {
  loading ??= loadAddon();
  return loading;
}

/** Why the native kernels cannot run here (not built, or not loadable), or null when they can. */
export function nativeUnavailableReason(): string | null {
  const loaded = addon();
  return 'reason' in loaded ? loaded.reason : null;
}

/** The instruction sets the native kernels run on this CPU, fastest first; none where they do not load. */
export function nativeIsas(): string[] {
  const loaded = addon();
  return 'addon' in loaded ? loaded.addon.isas() : [];
}

/** The instruction set to use: the one CHARRNN_NATIVE_ISA names, else the fastest. */
function chosenIsa(isas: string[]): string {
  const asked = process.env[ISA_VARIABLE];
  if (!asked) return isas[0]!;
  if (!isas.includes(asked)) {
    throw new CharrnnError(`${ISA_VARIABLE}=${asked}: this CPU runs the native kernels as ${isas.join(', ')}`, 2);
  }
  return asked;
}

/**
 * Native kernels over `memory` (a new one by default) for `isa` (by default CHARRNN_NATIVE_ISA's, else
 * the fastest this CPU runs). Throws when the addon is not loadable or the CPU lacks the instruction set.
 */
export function createNativeKernels(memory: WebAssembly.Memory = createKernelMemory(), isa?: string): Kernels {
  const loaded = addon();
  if ('reason' in loaded) throw new Error(loaded.reason);
  const isas = loaded.addon.isas();
  const chosen = isa ?? chosenIsa(isas);
  if (!isas.includes(chosen)) throw new Error(`this CPU has no ${chosen} for the native kernels (it has ${isas})`);
  const calls = loaded.addon.bind(chosen, new Uint8Array(memory.buffer, 0, 1));
  return createOffsetKernels(`native-${chosen}`, memory, calls);
}
