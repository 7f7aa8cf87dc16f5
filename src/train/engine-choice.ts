/**
 * Which engine trains a run, from the call's settings (RUN_SETTINGS) and, on resume, the engine the
 * checkpoint records; for PyTorch, the Python that has it and where the run's processes are.
 */
import { createServer } from 'node:net';
import { CharrnnError, EXIT } from '../errors.js';
import {
  DEFAULT_MASTER_PORT,
  type EngineKind,
  type RunOptionNamer,
  type RunSettings,
  type TorchDevice,
} from './options.js';
import { findTorchPython, type TorchPython } from './python.js';
import type { TorchWorld } from './torch-engine.js';

export type EngineChoice =
  | { kind: 'charrnn' }
  | { kind: 'torch'; python: TorchPython; device: TorchDevice; threads: number; world: TorchWorld };

/** The settings only the PyTorch engine takes. */
const TORCH_SETTINGS = ['device', 'python', 'processes', 'machines', 'machine', 'masterAddr', 'masterPort'] as const;

/**
 * The engine a run trains on: the one asked for, else the one its checkpoint records (`recorded`), else
 * charrnn's. PyTorch's needs a Python that imports torch: none found is one line, exit 1.
 */
export async function chooseEngine(
  settings: Partial<RunSettings>,
  recorded: EngineKind | null,
  nameOf: RunOptionNamer,
): Promise<EngineChoice> {
  const kind = settings.engine ?? recorded ?? 'charrnn';
  if (kind === 'charrnn') {
    const torchOnly = TORCH_SETTINGS.find((name) => settings[name] !== undefined);
    if (torchOnly !== undefined) {
      throw new CharrnnError(`${nameOf(torchOnly)} applies only to ${nameOf('engine')} torch`, EXIT.usage);
    }
    return { kind };
  }
  const processes = settings.processes ?? 1;
  const machines = settings.machines ?? 1;
  const machine = settings.machine ?? 0;
  if (machine >= machines) {
    throw new CharrnnError(
      `${nameOf('machine')} ${machine} is not one of ${nameOf('machines')} ${machines} (0 to ${machines - 1})`,
      EXIT.usage,
    );
  }
  const resumedOnTorch = settings.engine === undefined && recorded === 'torch';
  const python = findTorchPython({
    python: settings.python,
    environment: process.env,
    otherwise: resumedOnTorch ? `or pass ${nameOf('engine')} charrnn to continue this run on charrnn` : undefined,
  });
  const alone = machines === 1 && processes === 1;
  const masterPort = settings.masterPort ?? (machines === 1 && !alone ? await freePort() : DEFAULT_MASTER_PORT);
  const masterAddr = settings.masterAddr ?? '127.0.0.1';
  return {
    kind,
    python,
    device: settings.device ?? 'auto',
    // One thread per process unless asked: PyTorch's threads spin while they wait, and on a shared or small
    // CPU more of them train slower (2 cores under load: 3,422 chars/s on 1 thread, 422 on 2).
    threads: settings.threads ?? 1,
    world: { processes, machines, machine, masterAddr, masterPort },
  };
}

/** A TCP port free on this machine now, for the ranks of a one-machine run to meet on. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : DEFAULT_MASTER_PORT));
    });
  });
}
