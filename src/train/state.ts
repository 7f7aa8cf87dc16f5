/**
 * The `training` section of a checkpoint: everything an exact resume needs (options, position in
 * the data, carried hidden state, optimizer and RNG state, history), and its validation.
 */
import { decodeTensor, encodeTensor } from '../checkpoint/tensor-codec.js';
import type { CarriedState } from '../core/layers/layer.js';
import type { OptimizerState } from '../core/optim.js';
import type { RngState } from '../core/rng.js';
import { CharrnnError } from '../errors.js';
import type { TrainOptions } from './options.js';

export interface HistoryPoint {
  iteration: number;
  epoch: number;
  /** Mean training loss (nats/char) over the iterations since the previous point. */
  trainLoss: number;
  /** Validation loss (nats/char) where an evaluation happened at this iteration. */
  valLoss?: number;
}

export interface CorpusIdentity {
  /** Absolute path of the corpus, or null when it came from stdin. */
  path: string | null;
  chars: number;
  /** FNV-1a over the token ids, hex: resume refuses a corpus that changed. */
  fingerprint: string;
}

export interface TrainingState {
  options: TrainOptions;
  corpus: CorpusIdentity;
  /** Iterations done; the next one is iteration + 1. */
  iteration: number;
  /** Whole epochs done. */
  epoch: number;
  /** The next chunk of the epoch to train on. */
  chunk: number;
  charsTrained: number;
  elapsedSeconds: number;
  rng: RngState;
  optimizer: OptimizerState;
  /** The hidden (and cell) state carried into the next chunk, per layer. */
  carried: CarriedState[];
  history: HistoryPoint[];
  bestValLoss: number | null;
  lastValLoss: number | null;
}

export function encodeTrainingState(state: TrainingState): Record<string, unknown> {
  return {
    ...state,
    optimizer: {
      kind: state.optimizer.kind,
      step: state.optimizer.step,
      buffers: Object.fromEntries(Object.entries(state.optimizer.buffers).map(([name, list]) => [name, list.map((data) => encodeTensor({ shape: [data.length], data }))])),
    },
    carried: state.carried.map((layer) => ({ h: encodeTensor({ shape: [layer.h.length], data: layer.h }), ...(layer.c ? { c: encodeTensor({ shape: [layer.c.length], data: layer.c }) } : {}) })),
  };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function decodeTrainingState(json: Record<string, unknown>, source: string): TrainingState {
  const fail = (field: string, expected: string): never => {
    throw new CharrnnError(`${source}: training.${field} is invalid (${expected}); the checkpoint cannot be resumed, but it can still be sampled`);
  };
  const count = (field: string): number => {
    const value = json[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(field, 'expected a whole number ≥ 0');
    return value as number;
  };
  if (!isObject(json.options)) fail('options', 'expected an object');
  if (!isObject(json.corpus)) fail('corpus', 'expected an object');
  if (!isObject(json.rng)) fail('rng', 'expected an object');
  if (!isObject(json.optimizer)) fail('optimizer', 'expected an object');
  if (!Array.isArray(json.carried)) fail('carried', 'expected one state per layer');
  if (!Array.isArray(json.history)) fail('history', 'expected an array');
  const optimizer = json.optimizer as Record<string, unknown>;
  if (!isObject(optimizer.buffers) || typeof optimizer.step !== 'number') fail('optimizer', 'expected kind, step and buffers');
  const buffers = Object.fromEntries(
    Object.entries(optimizer.buffers as Record<string, unknown>).map(([name, list]) => {
      if (!Array.isArray(list)) fail(`optimizer.buffers.${name}`, 'expected a list of tensors');
      return [name, (list as unknown[]).map((tensor, i) => decodeTensor(tensor, `${source}: training.optimizer.buffers.${name}[${i}]`).data)];
    }),
  );
  const carried = (json.carried as unknown[]).map((layer, i) => {
    if (!isObject(layer)) return fail(`carried[${i}]`, 'expected {h, c?}');
    const h = decodeTensor(layer.h, `${source}: training.carried[${i}].h`).data;
    const c = layer.c === undefined ? undefined : decodeTensor(layer.c, `${source}: training.carried[${i}].c`).data;
    return { h, c };
  });
  const nullableNumber = (field: string): number | null => {
    const value = json[field];
    if (value !== null && typeof value !== 'number') fail(field, 'expected a number or null');
    return value as number | null;
  };
  return {
    options: json.options as unknown as TrainOptions,
    corpus: json.corpus as unknown as CorpusIdentity,
    iteration: count('iteration'),
    epoch: count('epoch'),
    chunk: count('chunk'),
    charsTrained: count('charsTrained'),
    elapsedSeconds: typeof json.elapsedSeconds === 'number' ? json.elapsedSeconds : fail('elapsedSeconds', 'expected a number'),
    rng: json.rng as unknown as RngState,
    optimizer: { kind: optimizer.kind as OptimizerState['kind'], step: optimizer.step as number, buffers },
    carried,
    history: json.history as HistoryPoint[],
    bestValLoss: nullableNumber('bestValLoss'),
    lastValLoss: nullableNumber('lastValLoss'),
  };
}

/** FNV-1a (32-bit) over the ids: cheap, and enough to notice an edited corpus. */
export function fingerprint(ids: ArrayLike<number>): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) hash = Math.imul(hash ^ ids[i]!, 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}
