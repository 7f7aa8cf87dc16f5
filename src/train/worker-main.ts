/**
 * The script of a training worker thread (bundled as dist/worker.js): attaches to the memory the main
 * thread laid out (shared-memory.ts), adopting the flat parameters and the passes in place, reports
 * ready, then serves its part of each request until stopped (step-protocol.ts).
 */
import { workerData } from 'node:worker_threads';
import { createKernelsNamed } from '../core/backend.js';
import { parameterLayout } from '../core/config.js';
import { KernelMemoryError } from '../core/kernels.js';
import { CharModel } from '../core/model.js';
import { attachStepTable, viewPasses } from './shared-memory.js';
import { reportStart, serveRequests, type StepWorkerData } from './step-protocol.js';
import { attachStreamGroup, type StreamGroup } from './stream-group.js';

/** The worker's share of each step; throws a KernelMemoryError when kernel memory runs out setting up. */
function attachGroup(data: StepWorkerData): StreamGroup {
  const { size } = parameterLayout(data.config);
  const parameters = new Float32Array(data.memory.buffer, data.parameters, size);
  const gradients = new Float32Array(data.memory.buffer, data.gradients, size);
  // The kernels reserve their workspace, and the weight gradients their row tables, from the shared heap.
  const model = new CharModel(data.config, createKernelsNamed(data.kernel, data.memory), parameters);
  const table = attachStepTable(data.table);
  const memories = viewPasses(model, table, data.places, data.seqLength);
  return attachStreamGroup(model, table, memories, gradients, data.part, data.seqLength).group;
}

function runWorker(data: StepWorkerData): void {
  let group: StreamGroup;
  try {
    group = attachGroup(data);
  } catch (error) {
    if (!(error instanceof KernelMemoryError)) throw error;
    reportStart(error);
    return;
  }
  reportStart(null);
  serveRequests(new Int32Array(data.control), group);
}

runWorker(workerData as StepWorkerData);
