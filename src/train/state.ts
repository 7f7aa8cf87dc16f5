/**
 * The `training` section of a checkpoint: everything an exact resume needs (options, position in
 * the data, carried hidden state, optimizer and RNG state, history), and its validation against the model.
 */
import { isObject } from '../checkpoint/json.js';
import { decodeTensor, encodeTensor } from '../checkpoint/tensor-codec.js';
import { shapeSize, tensorSpecs, type ModelConfig } from '../core/config.js';
import type { CarriedState } from '../core/layers/layer.js';
import { BUFFER_NAMES, type OptimizerState } from '../core/optim.js';
import { Rng, type RngState } from '../core/rng.js';
import { CharrnnError } from '../errors.js';
import { settingsOf } from '../settings.js';
import { ENGINE_KINDS, TRAIN_OPTIONS, type EngineKind, type TrainOptions } from './options.js';

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

/** Where a fine-tuned run's first weights came from (`train --init-from`). */
export interface Origin {
  /** Absolute path of the checkpoint the run started from. */
  checkpoint: string;
  /** The iterations that checkpoint had trained, or null when it recorded no training (an imported model). */
  iteration: number | null;
  /** The corpus that checkpoint was trained on, or null when unknown or stdin. */
  corpus: string | null;
}

/** What trained a run's latest iterations: the engine and where it computed. */
export interface TrainedOn {
  engine: EngineKind;
  /** charrnn's kernels ("native-avx512"), PyTorch's device ("cuda:0"); null in files from before engines. */
  device: string | null;
}

export interface TrainingState extends TrainedOn {
  options: TrainOptions;
  corpus: CorpusIdentity;
  /** Absent for a run that started from fresh weights. */
  origin?: Origin;
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
  /** The iteration a cosine schedule ends at, once fixed (from --iters/--epochs, or the speed under --time). */
  scheduleLength: number | null;
}

export function encodeTrainingState(state: TrainingState): Record<string, unknown> {
  return {
    ...state,
    optimizer: {
      kind: state.optimizer.kind,
      step: state.optimizer.step,
      buffers: Object.fromEntries(
        Object.entries(state.optimizer.buffers).map(([name, list]) => [
          name,
          list.map((data) => encodeTensor({ shape: [data.length], data })),
        ]),
      ),
    },
    carried: state.carried.map((layer) => ({
      h: encodeTensor({ shape: [layer.h.length], data: layer.h }),
      ...(layer.c ? { c: encodeTensor({ shape: [layer.c.length], data: layer.c }) } : {}),
    })),
  };
}

/** Ends every complaint about the training section: only resuming is lost. */
const DAMAGED = 'the training state is damaged, so the checkpoint cannot be resumed, but it can still be sampled';

/** The model settings that the options repeat; they must agree. */
const MODEL_OPTIONS = ['cell', 'layers', 'hidden', 'dropout'] as const;

/** Optimizer buffers that accumulate squared gradients: a negative value would turn the weights into NaN. */
const SQUARE_BUFFERS: ReadonlySet<string> = new Set(['sum', 'square_avg', 'exp_avg_sq']);

const HISTORY_POINT = '{"iteration", "epoch", "trainLoss", "valLoss"?} of finite numbers';
const RNG_STATE = '{"algorithm": "xoshiro128**", "s": four uint32 words, not all 0}';

/** A short rendering of a JSON value for a message. */
function preview(value: unknown): string {
  if (typeof value === 'number') return String(value);
  const json = JSON.stringify(value);
  if (json.length <= 60) return json;
  return Array.isArray(value) ? `a list of ${value.length}` : `${json.slice(0, 57)}...`;
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/** Reads one checkpoint's training section against its model, naming the first field that is wrong. */
class TrainingReader {
  constructor(
    private readonly source: string,
    private readonly model: ModelConfig,
  ) {}

  state(value: unknown): TrainingState {
    const block = this.object(value, 'training');
    const options = this.options(block.options);
    return {
      ...this.trainedOn(block),
      options,
      corpus: this.corpus(block.corpus),
      ...(block.origin === undefined ? {} : { origin: this.origin(block.origin) }),
      iteration: this.count(block.iteration, 'training.iteration'),
      epoch: this.count(block.epoch, 'training.epoch'),
      chunk: this.count(block.chunk, 'training.chunk'),
      charsTrained: this.count(block.charsTrained, 'training.charsTrained'),
      elapsedSeconds: this.finite(block.elapsedSeconds, 'training.elapsedSeconds'),
      history: this.history(block.history),
      bestValLoss: this.finiteOrNull(block.bestValLoss, 'training.bestValLoss'),
      lastValLoss: this.finiteOrNull(block.lastValLoss, 'training.lastValLoss'),
      scheduleLength: this.lengthOrNull(block.scheduleLength, 'training.scheduleLength'),
      rng: this.rng(block.rng),
      optimizer: this.optimizer(block.optimizer, options),
      carried: this.carried(block.carried, options),
    };
  }

  private fail(field: string, value: unknown, expected: string): never {
    const found = value === undefined ? 'is missing' : `is ${preview(value)}`;
    throw new CharrnnError(`${this.source}: ${field} ${found}; expected ${expected}`);
  }

  private object(value: unknown, field: string): Record<string, unknown> {
    return isObject(value) ? value : this.fail(field, value, 'an object');
  }

  private count(value: unknown, field: string): number {
    return isCount(value) ? value : this.fail(field, value, 'a whole number ≥ 0');
  }

  private finite(value: unknown, field: string): number {
    return isFiniteNumber(value) ? value : this.fail(field, value, 'a finite number');
  }

  /** Absent in checkpoints from before schedules: null, as for a length not fixed yet. */
  private lengthOrNull(value: unknown, field: string): number | null {
    if (value === undefined || value === null) return null;
    return isCount(value) && value > 0 ? value : this.fail(field, value, 'a whole number ≥ 1, or null');
  }

  private finiteOrNull(value: unknown, field: string): number | null {
    return value === null || isFiniteNumber(value) ? value : this.fail(field, value, 'a finite number or null');
  }

  /** A flat tensor of `length` finite values; `meaning` says where that length comes from. */
  private tensor(value: unknown, field: string, length: number, meaning: string): Float32Array {
    const shape = isObject(value) ? value.shape : undefined;
    if (!Array.isArray(shape) || shape.length !== 1 || shape[0] !== length) {
      this.fail(`${field}.shape`, shape, `[${length}] (${meaning})`);
    }
    const { data } = decodeTensor(value, `${this.source}: ${field}`);
    const bad = firstNonFinite(data);
    if (bad >= 0) this.fail(`${field}[${bad}]`, data[bad], 'finite numbers');
    return data;
  }

  /** The recorded options, with what an option added since the file was written implies, checked as flags are. */
  private options(value: unknown): TrainOptions {
    const recorded = this.object(value, 'training.options');
    const options: Record<string, unknown> = {};
    for (const [name, setting] of settingsOf(TRAIN_OPTIONS)) {
      const given = recorded[name];
      // Every version-1 file records each option but those added since (which have a legacy value) and
      // those a run may leave unset (initFrom): a file without one is damaged.
      const required = setting.legacy === undefined && setting.default !== undefined;
      if (given === undefined && required) this.fail(`training.options.${name}`, given, setting.kind.expected);
      if (given !== undefined && !setting.kind.accepts(given)) {
        this.fail(`training.options.${name}`, given, setting.kind.expected);
      }
      options[name] = given ?? setting.legacy ?? setting.default;
    }
    for (const name of MODEL_OPTIONS) {
      if (options[name] !== this.model[name]) {
        const expected = `${preview(this.model[name])}, as model.${name} says (is it another model's training state?)`;
        this.fail(`training.options.${name}`, options[name], expected);
      }
    }
    return options as unknown as TrainOptions;
  }

  /** Absent in files from before the PyTorch engine: charrnn's, on kernels not recorded. */
  private trainedOn(block: Record<string, unknown>): TrainedOn {
    const { engine, device } = block;
    if (engine !== undefined && !(ENGINE_KINDS as readonly unknown[]).includes(engine)) {
      this.fail('training.engine', engine, `one of ${ENGINE_KINDS.join(', ')}`);
    }
    if (device !== undefined && device !== null && !(typeof device === 'string' && device !== '')) {
      this.fail('training.device', device, 'the device or kernels it trained on');
    }
    return { engine: (engine as EngineKind | undefined) ?? 'charrnn', device: (device as string | undefined) ?? null };
  }

  private corpus(value: unknown): CorpusIdentity {
    const corpus = this.object(value, 'training.corpus');
    const { path, chars, fingerprint } = corpus;
    if (!(path === null || (typeof path === 'string' && path !== ''))) {
      this.fail('training.corpus.path', path, 'a file path, or null for stdin');
    }
    if (!(typeof fingerprint === 'string' && /^[0-9a-f]{1,64}$/.test(fingerprint))) {
      this.fail('training.corpus.fingerprint', fingerprint, 'a hexadecimal string');
    }
    const count = this.count(chars, 'training.corpus.chars');
    return { path: path as string | null, chars: count, fingerprint: fingerprint as string };
  }

  private origin(value: unknown): Origin {
    const origin = this.object(value, 'training.origin');
    const { checkpoint, iteration, corpus } = origin;
    if (!(typeof checkpoint === 'string' && checkpoint !== '')) {
      this.fail('training.origin.checkpoint', checkpoint, 'the path of the checkpoint the run started from');
    }
    if (!(iteration === null || isCount(iteration))) {
      this.fail('training.origin.iteration', iteration, 'a whole number ≥ 0, or null');
    }
    if (!(corpus === null || (typeof corpus === 'string' && corpus !== ''))) {
      this.fail('training.origin.corpus', corpus, 'a file path, or null');
    }
    return { checkpoint: checkpoint as string, iteration: iteration as number | null, corpus: corpus as string | null };
  }

  private history(value: unknown): HistoryPoint[] {
    if (!Array.isArray(value)) return this.fail('training.history', value, 'a list of points');
    return value.map((point: unknown, i) => {
      const fits =
        isObject(point) &&
        isCount(point.iteration) &&
        isFiniteNumber(point.epoch) &&
        point.epoch >= 0 &&
        isFiniteNumber(point.trainLoss) &&
        (point.valLoss === undefined || isFiniteNumber(point.valLoss));
      if (!fits) this.fail(`training.history[${i}]`, point, HISTORY_POINT);
      const { iteration, epoch, trainLoss, valLoss } = point as unknown as HistoryPoint;
      return valLoss === undefined ? { iteration, epoch, trainLoss } : { iteration, epoch, trainLoss, valLoss };
    });
  }

  private rng(value: unknown): RngState {
    try {
      return Rng.fromState(value).state();
    } catch {
      return this.fail('training.rng', value, RNG_STATE);
    }
  }

  private optimizer(value: unknown, options: TrainOptions): OptimizerState {
    const optimizer = this.object(value, 'training.optimizer');
    const kind = options.optimizer;
    if (optimizer.kind !== kind) {
      this.fail('training.optimizer.kind', optimizer.kind, `"${kind}", as training.options.optimizer says`);
    }
    const step = this.count(optimizer.step, 'training.optimizer.step');
    const saved = this.object(optimizer.buffers, 'training.optimizer.buffers');
    const names = BUFFER_NAMES[kind];
    const extra = Object.keys(saved).find((name) => !names.includes(name));
    if (extra !== undefined) {
      const expected = `no such buffer (${kind} keeps ${names.join(' and ')})`;
      this.fail(`training.optimizer.buffers.${extra}`, saved[extra], expected);
    }
    const buffers = Object.fromEntries(names.map((name) => [name, this.buffer(saved[name], name)]));
    return { kind, step, buffers };
  }

  /** One optimizer buffer: a tensor per parameter tensor, of its size. */
  private buffer(value: unknown, name: string): Float32Array[] {
    const field = `training.optimizer.buffers.${name}`;
    const specs = tensorSpecs(this.model);
    if (!Array.isArray(value) || value.length !== specs.length) {
      this.fail(field, value, `a list of ${specs.length}, one per parameter tensor`);
    }
    return specs.map((spec, i) => {
      const data = this.tensor(value[i], `${field}[${i}]`, shapeSize(spec.shape), `the size of ${spec.name}`);
      const negative = SQUARE_BUFFERS.has(name) ? data.findIndex((x) => x < 0) : -1;
      if (negative >= 0) this.fail(`${field}[${i}][${negative}]`, data[negative], 'a sum of squares, never negative');
      return data;
    });
  }

  private carried(value: unknown, options: TrainOptions): CarriedState[] {
    const { layers, hidden, cell } = this.model;
    if (!Array.isArray(value) || value.length !== layers) {
      this.fail('training.carried', value, `one state per layer, ${layers} in all`);
    }
    const size = options.batch * hidden;
    const meaning = `batch ${options.batch} × hidden ${hidden}`;
    return value.map((layer: unknown, i) => {
      const field = `training.carried[${i}]`;
      const state = this.object(layer, field);
      const h = this.tensor(state.h, `${field}.h`, size, meaning);
      if (cell === 'lstm') return { h, c: this.tensor(state.c, `${field}.c`, size, meaning) };
      if (state.c !== undefined) this.fail(`${field}.c`, state.c, `none: a ${cell} carries no cell state`);
      return { h };
    });
  }
}

/**
 * Decodes and checks the training section of `source` against its model: options, optimizer buffers,
 * carried state, RNG, corpus identity, history and counters. A problem is one line naming the file and
 * the field, and saying the weights can still be sampled.
 */
export function decodeTrainingState(json: unknown, model: ModelConfig, source: string): TrainingState {
  try {
    return new TrainingReader(source, model).state(json);
  } catch (error) {
    if (error instanceof CharrnnError) throw new CharrnnError(`${error.message}; ${DAMAGED}`);
    throw error;
  }
}

/** FNV-1a (32-bit) over the ids: cheap, and enough to notice an edited corpus. */
export function fingerprint(ids: ArrayLike<number>): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) hash = Math.imul(hash ^ ids[i]!, 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}
