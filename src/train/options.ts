/** Training options: the flags of `charrnn train`, their defaults, the presets, and validation. */
import type { CellType } from '../core/config.js';
import type { InitScheme } from '../core/model.js';
import type { OptimizerKind } from '../core/optim.js';
import { CharrnnError } from '../errors.js';

export interface TrainOptions {
  cell: CellType;
  hidden: number;
  layers: number;
  dropout: number;
  seqLength: number;
  batch: number;
  /**
   * The batch streams are always cut into this many shards whose gradients are summed in a fixed order,
   * so the weights do not depend on how many threads compute them (capped at --batch). At most one
   * thread per shard works: more shards let more cores help, at a small cost per core.
   */
  shards: number;
  optimizer: OptimizerKind;
  /** SGD momentum (ignored by the other optimizers). */
  momentum: number;
  learningRate: number;
  /** Multiply the learning rate by this every `lrDecayEvery` epochs (1 = no decay). */
  lrDecay: number;
  lrDecayEvery: number;
  /** Clip gradients to this global L2 norm (0 = off). */
  clip: number;
  /** Clamp each gradient element to ±clipValue (0 = off). */
  clipValue: number;
  valFrac: number;
  /** How the corpus bytes are read: strict UTF-8, or Latin-1 (every byte one character). */
  encoding: 'utf8' | 'latin1';
  seed: number;
  init: InitScheme;
  /** Stop after this many epochs / iterations (0 = no limit); iterations count from the start of the run. */
  epochs: number;
  iterations: number;
  /** Evaluate on validation data (and save) every N iterations (0 = only at the end). */
  evalEvery: number;
  saveEvery: number;
  /** Emit a short sample every N iterations (0 = never). */
  sampleEvery: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  cell: 'lstm',
  hidden: 128,
  layers: 2,
  dropout: 0,
  seqLength: 50,
  batch: 50,
  shards: 4,
  optimizer: 'adam',
  momentum: 0.9,
  learningRate: 2e-3,
  lrDecay: 1,
  lrDecayEvery: 1,
  clip: 5,
  clipValue: 0,
  valFrac: 0.1,
  encoding: 'utf8',
  seed: 1,
  init: 'pytorch',
  epochs: 50,
  iterations: 0,
  evalEvery: 1000,
  saveEvery: 1000,
  sampleEvery: 0,
};

export const PRESETS = {
  /** Karpathy's min-char-rnn gist: vanilla RNN, hidden 100, seq 25, one stream, Adagrad 0.1, clip ±5. */
  'min-char-rnn': {
    cell: 'rnn', hidden: 100, layers: 1, seqLength: 25, batch: 1, optimizer: 'adagrad', learningRate: 0.1,
    clip: 0, clipValue: 5, init: 'min-char-rnn',
  },
} satisfies Record<string, Partial<TrainOptions>>;

export type PresetName = keyof typeof PRESETS;

/** Upper bounds that keep a typo from allocating gigabytes or running for ever. */
export const LIMITS = { hidden: 8192, layers: 16, seqLength: 10_000, batch: 10_000, parameters: 250_000_000, passFloats: 400_000_000 } as const;

const isPositiveInteger = (value: number): boolean => Number.isInteger(value) && value > 0;
const isCount = (value: number): boolean => Number.isInteger(value) && value >= 0;

export function validateTrainOptions(options: TrainOptions): void {
  const fail = (flag: string, value: unknown, expected: string): never => {
    throw new CharrnnError(`--${flag} ${String(value)} is invalid: ${expected}`, 2);
  };
  const positive = (flag: string, value: number, max: number) => {
    if (!isPositiveInteger(value) || value > max) fail(flag, value, `expected a whole number from 1 to ${max}`);
  };
  positive('hidden', options.hidden, LIMITS.hidden);
  positive('layers', options.layers, LIMITS.layers);
  positive('seq', options.seqLength, LIMITS.seqLength);
  positive('batch', options.batch, LIMITS.batch);
  positive('shards', options.shards, 64);
  if (!(options.dropout >= 0 && options.dropout < 1)) fail('dropout', options.dropout, 'expected a probability in [0, 1)');
  if (!(options.momentum >= 0 && options.momentum < 1)) fail('momentum', options.momentum, 'expected a number in [0, 1)');
  if (!(options.learningRate > 0 && Number.isFinite(options.learningRate))) fail('lr', options.learningRate, 'expected a positive number');
  if (!(options.lrDecay > 0 && options.lrDecay <= 1)) fail('lr-decay', options.lrDecay, 'expected a factor in (0, 1]');
  if (!isPositiveInteger(options.lrDecayEvery)) fail('lr-decay-every', options.lrDecayEvery, 'expected a whole number of epochs ≥ 1');
  if (!(options.clip >= 0 && Number.isFinite(options.clip))) fail('clip', options.clip, 'expected a norm ≥ 0 (0 turns it off)');
  if (!(options.clipValue >= 0 && Number.isFinite(options.clipValue))) fail('clip-value', options.clipValue, 'expected a value ≥ 0 (0 turns it off)');
  if (!(options.valFrac >= 0 && options.valFrac < 1)) fail('val-frac', options.valFrac, 'expected a fraction in [0, 1)');
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > 0xffffffff) fail('seed', options.seed, 'expected a whole number from 0 to 4294967295');
  if (!isCount(options.epochs)) fail('epochs', options.epochs, 'expected a whole number (0 = no limit)');
  if (!isCount(options.iterations)) fail('iters', options.iterations, 'expected a whole number (0 = no limit)');
  if (!isCount(options.evalEvery)) fail('eval-every', options.evalEvery, 'expected a whole number of iterations (0 = only at the end)');
  if (!isCount(options.saveEvery)) fail('save-every', options.saveEvery, 'expected a whole number of iterations (0 = only at the end)');
  if (!isCount(options.sampleEvery)) fail('sample-every', options.sampleEvery, 'expected a whole number of iterations (0 = never)');
}
