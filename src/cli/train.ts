/** `charrnn train CORPUS`: parse flags, train, render. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { CELL_TYPES } from '../core/config.js';
import { KERNEL_CHOICES, type KernelChoice } from '../core/backend.js';
import { defaultOutputPath, readCorpus, trainModel } from '../index.js';
import { DEFAULT_TRAIN_OPTIONS, PRESETS, type PresetName, type TrainOptions } from '../train/options.js';
import { outputOptions, startTrainingSession, type OutputFlags } from './run-training.js';
import { corpusArgument } from './terminal.js';

const d = DEFAULT_TRAIN_OPTIONS;

/** Flags that map onto TrainOptions. No yargs defaults: a preset fills what the user did not say. */
const modelFlags = {
  model: { type: 'string', choices: CELL_TYPES, describe: 'Cell type', defaultDescription: d.cell },
  hidden: { type: 'number', describe: 'Hidden units per layer', defaultDescription: String(d.hidden) },
  layers: { type: 'number', describe: 'Stacked recurrent layers', defaultDescription: String(d.layers) },
  dropout: { type: 'number', describe: 'Dropout between layers (training only)', defaultDescription: String(d.dropout) },
  seq: { type: 'number', describe: 'Characters per truncated-BPTT chunk', defaultDescription: String(d.seqLength) },
  batch: { type: 'number', describe: 'Parallel streams per iteration', defaultDescription: String(d.batch) },
  shards: {
    type: 'number',
    describe: 'Shards of the batch, saved with the run; a thread computes one or more (more shards: more threads can work)',
    defaultDescription: String(d.shards),
  },
  optim: { type: 'string', choices: ['sgd', 'adagrad', 'rmsprop', 'adam'], describe: 'Optimizer', defaultDescription: d.optimizer },
  lr: { type: 'number', describe: 'Learning rate', defaultDescription: String(d.learningRate) },
  momentum: { type: 'number', describe: 'SGD momentum', defaultDescription: String(d.momentum) },
  'lr-decay': { type: 'number', describe: 'Multiply the learning rate by this every --lr-decay-every epochs', defaultDescription: String(d.lrDecay) },
  'lr-decay-every': { type: 'number', describe: 'Epochs between learning-rate decays', defaultDescription: String(d.lrDecayEvery) },
  clip: { type: 'number', describe: 'Clip gradients to this global L2 norm (0 = off)', defaultDescription: String(d.clip) },
  'clip-value': { type: 'number', describe: 'Clamp each gradient element to ±this (0 = off)', defaultDescription: String(d.clipValue) },
  'val-frac': { type: 'number', describe: 'Fraction of the corpus (its end) held out for validation', defaultDescription: String(d.valFrac) },
  seed: { type: 'number', describe: 'Random seed (weights, dropout)', defaultDescription: String(d.seed) },
  epochs: { type: 'number', describe: 'Stop after this many epochs (0 = no limit)', defaultDescription: String(d.epochs) },
  iters: { type: 'number', describe: 'Stop at this iteration (0 = no limit)', defaultDescription: 'none' },
  'eval-every': { type: 'number', describe: 'Validate (and keep the best checkpoint) every N iterations', defaultDescription: String(d.evalEvery) },
  'save-every': { type: 'number', describe: 'Save a checkpoint every N iterations', defaultDescription: String(d.saveEvery) },
  'sample-every': { type: 'number', describe: 'Print a short sample on stderr every N iterations (0 = never)', defaultDescription: String(d.sampleEvery) },
} as const;

const flagToOption: Record<keyof typeof modelFlags, keyof TrainOptions> = {
  model: 'cell', hidden: 'hidden', layers: 'layers', dropout: 'dropout', seq: 'seqLength', batch: 'batch', shards: 'shards', optim: 'optimizer', momentum: 'momentum', lr: 'learningRate',
  'lr-decay': 'lrDecay', 'lr-decay-every': 'lrDecayEvery', clip: 'clip', 'clip-value': 'clipValue', 'val-frac': 'valFrac', seed: 'seed',
  epochs: 'epochs', iters: 'iterations', 'eval-every': 'evalEvery', 'save-every': 'saveEvery', 'sample-every': 'sampleEvery',
};

/** Shared by train and resume. */
export const runFlags = {
  time: { type: 'number', describe: 'Stop after this many seconds (this invocation)' },
  output: { alias: 'o', type: 'string', describe: 'Checkpoint path (the best by validation goes to <name>.best.json)' },
  kernel: { type: 'string', choices: KERNEL_CHOICES, default: 'auto', describe: 'Compute kernels' },
  threads: { type: 'number', describe: 'Threads (results are identical for any count)', defaultDescription: 'one per core, up to --shards' },
  ...outputOptions,
} as const;

interface TrainArgs extends OutputFlags {
  corpus: string;
  preset?: PresetName;
  encoding: 'utf8' | 'latin1';
  time?: number;
  output?: string;
  kernel: KernelChoice;
  threads?: number;
  [flag: string]: unknown;
}

export function trainOptionsFrom(argv: Record<string, unknown>, preset?: PresetName): TrainOptions {
  const options: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...(preset ? PRESETS[preset] : {}) };
  for (const [flag, option] of Object.entries(flagToOption)) {
    if (argv[flag] !== undefined) (options as unknown as Record<string, unknown>)[option] = argv[flag];
  }
  return options;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train <corpus>',
  describe: 'Train a model on a text file (- for stdin)',
  builder: (yargs: Argv) =>
    yargs
      .positional('corpus', { type: 'string', describe: 'UTF-8 text file, or - to read stdin', demandOption: true })
      .options(modelFlags)
      .option('preset', { type: 'string', choices: Object.keys(PRESETS), describe: 'A named recipe; explicit flags override it' })
      .option('encoding', { type: 'string', choices: ['utf8', 'latin1'], default: 'utf8', describe: 'How to read the corpus bytes' })
      .options(runFlags)
      .example('$0 train corpora/moby-dick.txt', 'LSTM 2x128, writes checkpoints/moby-dick.json')
      .example('$0 train corpora/moby-dick.txt --time 600 --hidden 256', 'train for ten minutes')
      .example('cat notes/*.txt | $0 train - -o checkpoints/notes.json', 'train on stdin')
      .example('$0 train input.txt --preset min-char-rnn', "Karpathy's min-char-rnn recipe") as unknown as Argv<TrainArgs>,
  handler: async (argv: ArgumentsCamelCase<TrainArgs>) => {
    const options = { ...trainOptionsFrom(argv, argv.preset), encoding: argv.encoding };
    const corpusPath = corpusArgument(argv.corpus);
    const corpus = readCorpus(corpusPath, argv.encoding);
    const session = startTrainingSession(argv);
    const summary = await trainModel(corpus, options, {
      output: argv.output ?? defaultOutputPath(corpusPath), timeLimitSeconds: argv.time, kernel: argv.kernel, threads: argv.threads, onEvent: session.onEvent, signal: session.signal,
    });
    session.finish(summary);
  },
};
