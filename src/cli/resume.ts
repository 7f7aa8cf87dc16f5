/** `charrnn resume CHECKPOINT`: continue a run exactly where it stopped. */
import { readCorpus, resumeTraining } from '../index.js';
import { ENCODINGS, type Encoding } from '../data/corpus.js';
import { CharrnnError, EXIT } from '../errors.js';
import { choice, PATH, settingsOf } from '../settings.js';
import { RESUMABLE_OPTIONS, RUN_SETTINGS, TRAIN_OPTIONS } from '../train/options.js';
import { settingsFromArgs, type Command } from './flags.js';
import { startTrainingSession, type OutputFlags } from './run-training.js';
import { flagName, RUN_FLAGS, settingFlags } from './train.js';

interface ResumeArgs extends OutputFlags {
  checkpoint: string;
  corpus?: string;
  encoding?: Encoding;
  [flag: string]: unknown;
}

/** Flags of train that resume refuses, because they would change the weights. */
const FIXED_FLAGS = new Set(
  settingsOf(TRAIN_OPTIONS).flatMap(([, setting]) =>
    setting.flag !== null && !setting.resumable ? [`--${setting.flag}`] : [],
  ),
);

export const resumeCommand: Command<ResumeArgs> = {
  command: 'resume <checkpoint>',
  describe: 'Continue training from a checkpoint, exactly as if it had never stopped',
  positionals: { checkpoint: 'A checkpoint written by charrnn train' },
  flags: [
    ...settingFlags(RESUMABLE_OPTIONS),
    {
      name: 'corpus',
      kind: PATH,
      defaultText: 'the path recorded in the checkpoint',
      help: 'The corpus, if it moved (- for stdin)',
    },
    { name: 'encoding', kind: choice(ENCODINGS), defaultText: 'as in the original run', help: 'How to read --corpus' },
    ...RUN_FLAGS,
  ],
  examples: [
    ['charrnn resume checkpoints/moby-dick.json --iters 2000', 'train on to iteration 2000'],
    ['charrnn resume checkpoints/notes.json --corpus notes.txt --time 600', 'ten more minutes, corpus given again'],
  ],
  unknownFlagHint: (flag) =>
    FIXED_FLAGS.has(flag)
      ? 'it is fixed for the run, as changing it would change the weights; start a new run with charrnn train'
      : undefined,
  handler: async (args) => {
    if (args.encoding !== undefined && args.corpus === undefined) {
      throw new CharrnnError(
        `--encoding ${args.encoding} applies only to --corpus: the recorded corpus is read as the run read it; ` +
          'for a corpus that moved or was converted, give it with --corpus FILE',
        EXIT.usage,
      );
    }
    // Without --encoding, the library reads --corpus as the run read its corpus.
    const corpus =
      args.encoding === undefined || args.corpus === undefined ? args.corpus : readCorpus(args.corpus, args.encoding);
    const run = settingsFromArgs(RUN_SETTINGS, args);
    const changes = { corpus, ...settingsFromArgs(RESUMABLE_OPTIONS, args), ...run, log: args.log };
    await startTrainingSession(args).run((events) =>
      resumeTraining(args.checkpoint, { ...changes, ...events, optionName: flagName }),
    );
  },
};
