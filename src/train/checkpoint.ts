/**
 * A checkpoint with its training section decoded: what the library loads, resumes and fine-tunes from,
 * and what the loop saves. The file format itself is checkpoint/format.ts, which keeps that section as
 * plain data; state.ts decodes and checks it against the model.
 */
import type { CheckpointFile } from '../checkpoint/format.js';
import { readCheckpoint } from '../checkpoint/io.js';
import { CharrnnError } from '../errors.js';
import { decodeTrainingState, encodeTrainingState, type TrainingState } from './state.js';

export interface Checkpoint extends Omit<CheckpointFile, 'training'> {
  /**
   * Everything an exact resume needs (see src/train/state.ts), checked against the model; absent in
   * sampling-only files.
   */
  training?: TrainingState;
  /**
   * Set instead of `training` when the file's training section is damaged: one line naming the file, the
   * field and what was expected. The weights are intact, so the checkpoint can still be sampled.
   */
  trainingDamage?: string;
}

/** Decodes a file's training section; a damaged one becomes `trainingDamage`, the weights stay usable. */
export function decodeCheckpoint(file: CheckpointFile, source: string): Checkpoint {
  const { training, ...rest } = file;
  if (training === undefined) return rest;
  try {
    return { ...rest, training: decodeTrainingState(training, file.model, source) };
  } catch (error) {
    if (error instanceof CharrnnError) return { ...rest, trainingDamage: error.message };
    throw error;
  }
}

/** The file a checkpoint is saved as: its training section encoded as plain data. */
export function encodeCheckpoint(checkpoint: Checkpoint): CheckpointFile {
  const { training, trainingDamage: _damage, ...rest } = checkpoint;
  return training === undefined ? rest : { ...rest, training: encodeTrainingState(training) };
}

/** Reads and checks a checkpoint file ('-' for stdin), its training section decoded. */
export function loadCheckpoint(path: string): Checkpoint {
  return decodeCheckpoint(readCheckpoint(path), path === '-' ? 'stdin' : path);
}
