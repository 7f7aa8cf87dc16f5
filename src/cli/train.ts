/** `charrnn train CORPUS`: parse flags, train, render. */
import { trainModel } from '../index.js';
import { BOOLEAN, flagNamer, MAX_COUNT, PATH, settingsOf, wholeNumber } from '../settings.js';
import {
  PRESET_SETTING,
  RUN_SETTINGS,
  TRAIN_OPTIONS,
  type PresetName,
  type RunOptionNamer,
  type SettingRow,
} from '../train/options.js';
import { flagOf, flagsOf, settingsFromArgs, type Command, type Flag } from './flags.js';
import { startTrainingSession, type OutputFlags } from './run-training.js';

/** Help's headings for train's and resume's flags, by what they concern. */
const GROUPS = {
  recipe: 'Model and training:',
  schedule: 'Stopping, validation and saving:',
  run: 'This run:',
  report: 'Reporting:',
} as const;

/** The flags of a table's settings, under the heading for resumable ones or the other one. */
export const settingFlags = (table: Record<string, SettingRow<unknown>>): Flag[] =>
  settingsOf(table).flatMap(([, setting]) =>
    setting.flag === null ? [] : [flagOf(setting, setting.resumable ? GROUPS.schedule : GROUPS.recipe)],
  );

/** How a run reports, beside the progress on stderr. */
const REPORT_FLAGS: readonly Flag[] = (
  [
    {
      name: 'json',
      kind: BOOLEAN,
      default: false,
      help: 'Print one JSON object per line on stdout for each report, and a final {"event":"done",...}',
    },
    {
      name: 'print-every',
      kind: wholeNumber(1, MAX_COUNT),
      default: 10,
      help: 'With --json or --log: a progress line every N iterations',
    },
    { name: 'log', kind: PATH, help: 'Also append the JSON lines to this file (charrnn info --log draws them)' },
  ] satisfies Flag[]
).map((flag) => ({ ...flag, group: GROUPS.report }));

/** The flags of one run, shared by train and resume: time, output, kernel, threads, and reporting. */
export const RUN_FLAGS: readonly Flag[] = [...flagsOf(RUN_SETTINGS, GROUPS.run), ...REPORT_FLAGS];

interface TrainArgs extends OutputFlags {
  corpus: string;
  preset?: PresetName;
  output?: string;
  [flag: string]: unknown;
}

/** Options and settings named by their flags in the library's messages (a library-only option by its own name). */
export const flagName: RunOptionNamer = flagNamer({ ...TRAIN_OPTIONS, ...RUN_SETTINGS, preset: PRESET_SETTING });

export const trainCommand: Command<TrainArgs> = {
  command: 'train <corpus>',
  describe: 'Train a model on a text file (- for stdin)',
  positionals: { corpus: 'UTF-8 text file, or - to read stdin' },
  flags: [...settingFlags(TRAIN_OPTIONS), flagOf(PRESET_SETTING, GROUPS.recipe), ...RUN_FLAGS],
  examples: [
    ['charrnn train corpora/moby-dick.txt', 'LSTM 2x256, writes checkpoints/moby-dick.json'],
    ['charrnn train corpora/moby-dick.txt --time 600 --hidden 256', 'train for ten minutes'],
    ['cat notes/*.txt | charrnn train - -o checkpoints/notes.json', 'train on stdin'],
    ['charrnn train input.txt --preset min-char-rnn', "Karpathy's min-char-rnn recipe"],
    ['charrnn train new.txt --init-from checkpoints/base.json', "fine-tune base.json's model on new.txt"],
  ],
  unknownFlagHint: (flag) =>
    flag === '--shards'
      ? 'no longer needed: every core works, and the weights are the same for any --threads'
      : undefined,
  handler: async (args) => {
    const run = settingsFromArgs(RUN_SETTINGS, args);
    const options = { ...settingsFromArgs(TRAIN_OPTIONS, args), preset: args.preset };
    await startTrainingSession(args).run((events) =>
      trainModel(args.corpus, options, { ...run, log: args.log, ...events, optionName: flagName }),
    );
  },
};
