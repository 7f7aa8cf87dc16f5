/**
 * What the threads of a data-parallel step share, and where it lives. The step table (plain shared
 * buffers): the chunk every thread reads its streams from, each stream's dropout seed, each row's loss.
 * The passes (in the kernels' shared WASM memory): each thread's training pass and inference pass, laid
 * out once by the main thread and viewed in place by every worker, so a step copies nothing between threads.
 */
import type { CharModel } from '../core/model.js';
import { passFloats } from '../core/pass-buffers.js';

/**
 * What the threads share for a request: the chunk [steps, batch] (time-major); per stream, dropout
 * seeds; per row, losses.
 */
export interface StepTable {
  /** Total streams in the batch: the row stride of the chunk. */
  batch: number;
  /** First stream of each thread's group, then the batch size. */
  streamStarts: number[];
  inputs: Int32Array;
  targets: Int32Array;
  /** Training: each stream's dropout seed (read only when the request has dropout). */
  dropoutSeeds: Int32Array;
  /** Each row's loss (nats), time-major [steps, batch] like the chunk. */
  losses: Float64Array;
}

/** The buffers a step table lives in, as handed to a worker. */
export interface StepTableBuffers {
  batch: number;
  streamStarts: number[];
  inputs: SharedArrayBuffer;
  targets: SharedArrayBuffer;
  dropoutSeeds: SharedArrayBuffer;
  losses: SharedArrayBuffer;
}

export function createStepTable(
  batch: number,
  seqLength: number,
  streamStarts: number[],
): { table: StepTable; buffers: StepTableBuffers } {
  const buffers: StepTableBuffers = {
    batch,
    streamStarts,
    inputs: new SharedArrayBuffer(batch * seqLength * 4),
    targets: new SharedArrayBuffer(batch * seqLength * 4),
    dropoutSeeds: new SharedArrayBuffer(batch * 4),
    losses: new SharedArrayBuffer(batch * seqLength * 8),
  };
  return { table: attachStepTable(buffers), buffers };
}

/** A worker's views of the step table the main thread created. */
export function attachStepTable(buffers: StepTableBuffers): StepTable {
  return {
    batch: buffers.batch,
    streamStarts: buffers.streamStarts,
    inputs: new Int32Array(buffers.inputs),
    targets: new Int32Array(buffers.targets),
    dropoutSeeds: new Int32Array(buffers.dropoutSeeds),
    losses: new Float64Array(buffers.losses),
  };
}

/** Streams in thread `part`'s group. */
export const streamsOf = (table: StepTable, part: number): number =>
  table.streamStarts[part + 1]! - table.streamStarts[part]!;

/** Each thread's pass memory (passFloats long each): its training pass, and its inference pass for validation. */
export type PassMemory = { training: Float32Array; inference: Float32Array };

/** The same as byte offsets in the shared kernel memory, as handed to a worker. */
export type PassPlaces = Array<{ training: number; inference: number }>;

/** Floats of thread `part`'s two passes. */
function passSizes(model: CharModel, table: StepTable, part: number, seqLength: number) {
  const streams = streamsOf(table, part);
  return {
    training: passFloats(model.config, streams, seqLength, true),
    inference: passFloats(model.config, streams, seqLength, false),
  };
}

/** Lays out every thread's training and inference pass in the kernel memory, all at once up front. */
export function layOutPasses(model: CharModel, table: StepTable, seqLength: number): PassMemory[] {
  return table.streamStarts.slice(0, -1).map((_, part) => {
    const floats = passSizes(model, table, part, seqLength);
    return { training: model.kernels.alloc(floats.training), inference: model.kernels.alloc(floats.inference) };
  });
}

/** Where the passes lie, to hand to a worker. */
export function passPlaces(memories: PassMemory[]): PassPlaces {
  return memories.map(({ training, inference }) => ({
    training: training.byteOffset,
    inference: inference.byteOffset,
  }));
}

/** A worker's views of the passes the main thread laid out at `places`. */
export function viewPasses(model: CharModel, table: StepTable, places: PassPlaces, seqLength: number): PassMemory[] {
  const memory = model.kernels.sharedMemory!.buffer;
  return places.map(({ training, inference }, part) => {
    const floats = passSizes(model, table, part, seqLength);
    return {
      training: new Float32Array(memory, training, floats.training),
      inference: new Float32Array(memory, inference, floats.inference),
    };
  });
}
