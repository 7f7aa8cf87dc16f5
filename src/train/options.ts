/**
 * Every training option, declared once in TRAIN_OPTIONS: its name in the library (the key), its type
 * and valid values, its default, its command-line flag and help, and whether `resume` may change it.
 * The TrainOptions type, the defaults, validation, the train and resume flags and the library's
 * resume overrides are all derived from this table. RUN_SETTINGS does the same for the settings of one
 * call (time limit, output, kernel, threads, the engine and its processes), which are not part of a run's recipe.
 */
import { CELL_TYPES } from '../core/config.js';
import { KERNEL_CHOICES } from '../core/backend.js';
import type { InitScheme } from '../core/model.js';
import { OPTIMIZER_KINDS } from '../core/optim.js';
import { LR_SCHEDULE_KINDS } from '../core/schedule.js';
import { ENCODINGS } from '../data/corpus.js';
import { CharrnnError, EXIT } from '../errors.js';
import {
  BOOLEAN,
  checkSettings,
  choice,
  defaultsOf,
  definedOnly,
  MAX_COUNT,
  NONEMPTY_TEXT,
  PATH,
  realNumber,
  SEED,
  settingsOf,
  wholeNumber,
  type OptionNamer,
  type Setting,
  type SettingValues,
} from '../settings.js';

/** A training setting. `R`: whether `resume` may change it (true only where weights do not move). */
export interface SettingRow<T, R extends boolean = boolean> extends Setting<T> {
  readonly resumable: R;
  /** The value a checkpoint written before this setting existed implies. */
  readonly legacy?: T;
}

/** A row whose value type comes from its kind alone (so a default of 'lstm' does not widen it to string). */
function row<T, R extends boolean>(
  setting: Omit<SettingRow<T, R>, 'default' | 'legacy'> & { default: NoInfer<T>; legacy?: NoInfer<T> },
): SettingRow<T, R> {
  return setting;
}

/** Upper bounds that keep a typo from allocating gigabytes or running for ever. */
export const LIMITS = {
  hidden: 8192,
  layers: 16,
  seqLength: 10_000,
  batch: 10_000,
  threads: 256,
  processes: 256,
  machines: 1024,
  parameters: 250_000_000,
  passFloats: 400_000_000,
} as const;

const INIT_SCHEMES: readonly InitScheme[] = ['pytorch', 'min-char-rnn'];

/** What trains a run: charrnn's own kernels and threads, or PyTorch (train/engine.ts). */
export const ENGINE_KINDS = ['charrnn', 'torch'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];
const TORCH_DEVICES = ['auto', 'cpu', 'cuda', 'mps'] as const;
export type TorchDevice = (typeof TORCH_DEVICES)[number];
/** torch.distributed's customary port: every machine of a run must be given the same. */
export const DEFAULT_MASTER_PORT = 29500;
const EVERY = 'a whole number of iterations';

export const TRAIN_OPTIONS = {
  cell: row({ flag: 'model', kind: choice(CELL_TYPES), default: 'lstm', help: 'Cell type', resumable: false }),
  hidden: row({
    flag: 'hidden',
    kind: wholeNumber(1, LIMITS.hidden),
    default: 256,
    help: 'Hidden units per layer',
    resumable: false,
  }),
  layers: row({
    flag: 'layers',
    kind: wholeNumber(1, LIMITS.layers),
    default: 2,
    help: 'Stacked recurrent layers',
    resumable: false,
  }),
  dropout: row({
    flag: 'dropout',
    kind: realNumber({ min: 0, max: 1, maxOpen: true }, 'a probability in [0, 1)'),
    default: 0,
    help: 'Dropout between layers (training only)',
    resumable: false,
  }),
  seqLength: row({
    flag: 'seq',
    kind: wholeNumber(1, LIMITS.seqLength),
    default: 50,
    help: 'Characters per truncated-BPTT chunk',
    resumable: false,
  }),
  batch: row({
    flag: 'batch',
    kind: wholeNumber(1, LIMITS.batch),
    default: 25,
    help: 'Parallel streams per iteration',
    resumable: false,
  }),
  optimizer: row({
    flag: 'optim',
    kind: choice(OPTIMIZER_KINDS),
    default: 'adam',
    resumable: false,
    help: "Optimizer (PyTorch's update rules and defaults)",
  }),
  momentum: row({
    flag: 'momentum',
    kind: realNumber({ min: 0, max: 1, maxOpen: true }, 'a number in [0, 1)'),
    default: 0.9,
    help: 'SGD momentum (--optim sgd only)',
    resumable: false,
    legacy: 0,
  }),
  learningRate: row({
    flag: 'lr',
    kind: realNumber({ min: 0, minOpen: true }, 'a positive number'),
    default: 8e-3,
    help: 'Learning rate',
    resumable: false,
  }),
  lrDecay: row({
    flag: 'lr-decay',
    kind: realNumber({ min: 0, max: 1, minOpen: true }, 'a factor in (0, 1]'),
    default: 1,
    help: 'Multiply the learning rate by this every --lr-decay-every epochs',
    resumable: false,
  }),
  lrDecayEvery: row({
    flag: 'lr-decay-every',
    kind: wholeNumber(1, MAX_COUNT),
    default: 1,
    help: 'Epochs between learning-rate decays',
    resumable: false,
  }),
  lrSchedule: row({
    flag: 'lr-schedule',
    kind: choice(LR_SCHEDULE_KINDS),
    default: 'cosine',
    help:
      'How the learning rate moves: constant; step (times --lr-decay every --lr-decay-every epochs); cosine ' +
      '(down to --min-lr over the run: --iters, --epochs, or what --time allows)',
    defaultText: 'cosine (step when --lr-decay is given)',
    resumable: false,
    legacy: 'step',
  }),
  warmup: row({
    flag: 'warmup',
    kind: wholeNumber(0, MAX_COUNT),
    default: 0,
    help: 'Iterations over which the learning rate rises linearly to its scheduled value',
    resumable: false,
    legacy: 0,
  }),
  minLearningRate: row({
    flag: 'min-lr',
    kind: realNumber({ min: 0 }, 'a number ≥ 0 (0 = a tenth of --lr)'),
    default: 0,
    help: 'The rate cosine ends at (0 = a tenth of --lr)',
    defaultText: 'a tenth of --lr',
    resumable: false,
    legacy: 0,
  }),
  clip: row({
    flag: 'clip',
    kind: realNumber({ min: 0 }, 'a norm ≥ 0 (0 turns it off)'),
    default: 5,
    help: 'Clip gradients to this global L2 norm (0 = off)',
    resumable: false,
  }),
  clipValue: row({
    flag: 'clip-value',
    kind: realNumber({ min: 0 }, 'a value ≥ 0 (0 turns it off)'),
    default: 0,
    help: 'Clamp each gradient element to ±this (0 = off)',
    resumable: false,
  }),
  valFrac: row({
    flag: 'val-frac',
    kind: realNumber({ min: 0, max: 1, maxOpen: true }, 'a fraction in [0, 1)'),
    default: 0.1,
    help: 'Fraction of the corpus (its end) held out for validation',
    resumable: false,
  }),
  valChars: row({
    flag: 'val-size',
    kind: wholeNumber(0, MAX_COUNT, '0 = all'),
    default: 100_000,
    resumable: true,
    legacy: 0,
    help: 'Characters of held-out text each evaluation covers (0 = all)',
  }),
  encoding: row({
    flag: 'encoding',
    kind: choice(ENCODINGS),
    default: 'utf8',
    resumable: false,
    help: 'How to read the corpus bytes: strict UTF-8, or Latin-1 (every byte one character)',
  }),
  seed: row({
    flag: 'seed',
    kind: SEED,
    default: 1,
    help: 'Random seed (weights, dropout, samples)',
    resumable: false,
  }),
  init: row({
    flag: null,
    kind: choice(INIT_SCHEMES),
    default: 'pytorch',
    help: 'Weight initialization (a preset may change it)',
    resumable: false,
  }),
  initFrom: row<string | undefined, false>({
    flag: 'init-from',
    kind: PATH,
    default: undefined,
    defaultText: 'none',
    resumable: false,
    help:
      "Fine-tune: start from this checkpoint's weights (its cell, layers and hidden size), " +
      'with a fresh optimizer and data position',
  }),
  extendVocab: row({
    flag: 'extend-vocab',
    kind: BOOLEAN,
    default: false,
    resumable: false,
    legacy: false,
    help:
      'With --init-from: add the characters the model does not know to its vocabulary ' +
      '(old text predicts as before)',
  }),
  epochs: row({
    flag: 'epochs',
    kind: wholeNumber(0, MAX_COUNT, '0 = no limit'),
    default: 50,
    resumable: true,
    help: 'Stop after this many epochs in all (0 = no limit)',
  }),
  iterations: row({
    flag: 'iters',
    kind: wholeNumber(0, MAX_COUNT, '0 = no limit'),
    default: 0,
    defaultText: 'none',
    resumable: true,
    help: 'Stop at this iteration, counted from the start of the run (0 = no limit)',
  }),
  evalEvery: row({
    flag: 'eval-every',
    kind: wholeNumber(0, MAX_COUNT, `${EVERY}; 0 = only at the end`),
    default: 1000,
    resumable: true,
    help: 'Validate (and keep the best checkpoint) every N iterations (0 = only at the end)',
  }),
  saveEvery: row({
    flag: 'save-every',
    kind: wholeNumber(0, MAX_COUNT, `${EVERY}; 0 = only at the end`),
    default: 1000,
    resumable: true,
    help: 'Save a checkpoint every N iterations (0 = only at the end)',
  }),
  sampleEvery: row({
    flag: 'sample-every',
    kind: wholeNumber(0, MAX_COUNT, `${EVERY}; 0 = never`),
    default: 0,
    resumable: true,
    help: 'Print a short sample on stderr every N iterations (0 = never)',
  }),
};

/** The settings of one call to train or resume; none is stored in the checkpoint, so all may change. */
export const RUN_SETTINGS = {
  timeLimitSeconds: row<number | undefined, true>({
    flag: 'time',
    kind: realNumber({ min: 0, minOpen: true }, 'a number of seconds > 0'),
    default: undefined,
    defaultText: 'none',
    help: 'Stop after this many seconds (of this invocation), saving first',
    resumable: true,
  }),
  output: row<string | undefined, true>({
    flag: 'output',
    alias: 'o',
    kind: PATH,
    default: undefined,
    resumable: true,
    defaultText: 'train: checkpoints/<corpus name>.json; resume: the checkpoint',
    help: 'Checkpoint path (the best by validation goes to <name>.best.json)',
  }),
  kernel: row({
    flag: 'kernel',
    kind: choice(KERNEL_CHOICES),
    default: 'auto',
    resumable: true,
    help: 'Compute kernels: auto picks native SIMD where built, else WebAssembly SIMD; js is the plain-JS reference',
  }),
  threads: row<number | undefined, true>({
    flag: 'threads',
    kind: wholeNumber(1, LIMITS.threads),
    default: undefined,
    defaultText: 'one per core, up to one per stream',
    help:
      'Threads computing each step (the weights are identical for any count); with --engine torch, ' +
      'threads per process',
    resumable: true,
  }),
  engine: row<EngineKind | undefined, true>({
    flag: 'engine',
    kind: choice(ENGINE_KINDS),
    default: undefined,
    defaultText: 'train: charrnn; resume: the engine the checkpoint records',
    help: 'What trains: charrnn (its own kernels, on this CPU) or torch (PyTorch: GPUs, several processes)',
    resumable: true,
  }),
  device: row<TorchDevice | undefined, true>({
    flag: 'device',
    kind: choice(TORCH_DEVICES),
    default: undefined,
    defaultText: 'auto: cuda where available, else cpu',
    help: 'With --engine torch: where PyTorch computes',
    resumable: true,
  }),
  python: row<string | undefined, true>({
    flag: 'python',
    kind: PATH,
    default: undefined,
    defaultText: '$CHARRNN_PYTHON, else the first python3 on PATH, then /usr/bin/python3, that imports torch',
    help: 'With --engine torch: the Python interpreter to run PyTorch with',
    resumable: true,
  }),
  processes: row<number | undefined, true>({
    flag: 'nproc',
    kind: wholeNumber(1, LIMITS.processes),
    default: undefined,
    defaultText: '1',
    help: "With --engine torch: processes on this machine (DistributedDataParallel), splitting the batch's streams",
    resumable: true,
  }),
  machines: row<number | undefined, true>({
    flag: 'nnodes',
    kind: wholeNumber(1, LIMITS.machines),
    default: undefined,
    defaultText: '1',
    help: 'With --engine torch: machines the run spans, each running this command with its --node-rank',
    resumable: true,
  }),
  machine: row<number | undefined, true>({
    flag: 'node-rank',
    kind: wholeNumber(0, LIMITS.machines - 1),
    default: undefined,
    defaultText: '0',
    help: 'With --nnodes: this machine (0 writes the checkpoints and reports; the others only compute)',
    resumable: true,
  }),
  masterAddr: row<string | undefined, true>({
    flag: 'master-addr',
    kind: NONEMPTY_TEXT,
    default: undefined,
    defaultText: '127.0.0.1',
    help: 'With --nnodes: the address of machine 0, which every machine reaches',
    resumable: true,
  }),
  masterPort: row<number | undefined, true>({
    flag: 'master-port',
    kind: wholeNumber(1, 65535),
    default: undefined,
    defaultText: `a free port; with --nnodes, ${DEFAULT_MASTER_PORT}`,
    help: 'With --engine torch: the TCP port of rank 0 on machine 0',
    resumable: true,
  }),
};

type ResumableKeys<Table> = { [K in keyof Table]: Table[K] extends SettingRow<unknown, true> ? K : never }[keyof Table];

type TrainOptionName = keyof typeof TRAIN_OPTIONS;
export type TrainOptions = SettingValues<typeof TRAIN_OPTIONS>;
/** The training options a resumed run may change: stopping points and reporting, never what moves the weights. */
export type ResumableOptions = Pick<TrainOptions, ResumableKeys<typeof TRAIN_OPTIONS>>;
export type RunSettings = SettingValues<typeof RUN_SETTINGS>;

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = defaultsOf(TRAIN_OPTIONS);

/** The rows of TRAIN_OPTIONS that `resume` may change. */
export const RESUMABLE_OPTIONS = Object.fromEntries(
  settingsOf<Record<string, SettingRow<unknown>>>(TRAIN_OPTIONS).filter(([, setting]) => setting.resumable),
) as Pick<typeof TRAIN_OPTIONS, keyof ResumableOptions>;

export const PRESETS = {
  /** Karpathy's min-char-rnn gist: vanilla RNN, hidden 100, seq 25, one stream, Adagrad 0.1, clip ±5. */
  'min-char-rnn': {
    cell: 'rnn',
    hidden: 100,
    layers: 1,
    seqLength: 25,
    batch: 1,
    optimizer: 'adagrad',
    learningRate: 0.1,
    dropout: 0,
    clip: 0,
    clipValue: 5,
    init: 'min-char-rnn',
    lrSchedule: 'constant',
  },
} satisfies Record<string, Partial<TrainOptions>>;

export type PresetName = keyof typeof PRESETS;
const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** The options of a new run as a caller gives them: any of TRAIN_OPTIONS, and a preset to start from. */
export interface NewRunOptions extends Partial<TrainOptions> {
  /** A named recipe: the defaults it changes, before the options given. */
  preset?: PresetName;
}

/** The one setting of a new run outside TRAIN_OPTIONS: a preset is a recipe, not recorded as itself. */
export const PRESET_SETTING = row<PresetName | undefined, false>({
  flag: 'preset',
  kind: choice(PRESET_NAMES),
  default: undefined,
  resumable: false,
  help: "A named recipe; explicit flags override it, and with --init-from the checkpoint's model shape does",
});

/** Every name an option of a run has in the library: its options, its preset and the call's settings. */
export type RunOptionName = keyof TrainOptions | keyof RunSettings | 'preset';

/** How messages name an option: `options.hidden` in the library, `--hidden` on the command line. */
export type RunOptionNamer = OptionNamer<RunOptionName>;

/**
 * A run's options: the defaults, then the preset, then those given. A learning-rate decay given without
 * a schedule asks for the step schedule it belongs to.
 */
export function resolveTrainOptions(given: Partial<TrainOptions>, preset?: PresetName): TrainOptions {
  const decayGiven = given.lrDecay !== undefined || given.lrDecayEvery !== undefined;
  const implied: Partial<TrainOptions> = given.lrSchedule === undefined && decayGiven ? { lrSchedule: 'step' } : {};
  return { ...DEFAULT_TRAIN_OPTIONS, ...(preset ? PRESETS[preset] : {}), ...implied, ...given };
}

/** A new run's options, resolved, and those given explicitly (without a preset's). */
export interface NewRun {
  options: TrainOptions;
  given: Partial<TrainOptions>;
}

/**
 * Checks a new run's options (at the library's edge, before any file is read) and resolves them. `given`
 * are those set explicitly, without the preset's: fine-tuning holds them against the checkpoint.
 */
export function newRunOptions(options: NewRunOptions, nameOf: RunOptionNamer): NewRun {
  const { preset, ...rest } = options;
  checkSettings({ preset: PRESET_SETTING }, { preset }, nameOf);
  checkSettings(TRAIN_OPTIONS, rest, nameOf);
  const given = definedOnly(rest);
  if (given.extendVocab && given.initFrom === undefined) {
    throw new CharrnnError(`${nameOf('extendVocab')} only applies with ${nameOf('initFrom')}`, EXIT.usage);
  }
  return { options: resolveTrainOptions(given, preset), given };
}

/** The resumable options given in `changes` (undefined ones left out); any other training option is refused. */
export function resumeOverrides(changes: Partial<TrainOptions>, nameOf: RunOptionNamer): Partial<ResumableOptions> {
  const overrides: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(changes) as [TrainOptionName, unknown][]) {
    if (value === undefined) continue;
    if (!TRAIN_OPTIONS[key].resumable) {
      throw new CharrnnError(
        `${nameOf(key)} cannot change on resume: it would change the weights (start a new run instead)`,
        EXIT.usage,
      );
    }
    overrides[key] = value;
  }
  return overrides as Partial<ResumableOptions>;
}
