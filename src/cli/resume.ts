/** `charrnn resume CHECKPOINT`: continue a run exactly where it stopped. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { KernelChoice } from '../core/backend.js';
import { resumeTraining } from '../index.js';
import { outputOptions, startTrainingSession, type OutputFlags } from './run-training.js';
import { corpusArgument } from './terminal.js';
import { runFlags } from './train.js';

interface ResumeArgs extends OutputFlags {
  checkpoint: string;
  corpus?: string;
  iters?: number;
  epochs?: number;
  time?: number;
  output?: string;
  kernel: KernelChoice;
  threads?: number;
  'eval-every'?: number;
  'save-every'?: number;
  'sample-every'?: number;
  encoding?: 'utf8' | 'latin1';
}

export const resumeCommand: CommandModule<object, ResumeArgs> = {
  command: 'resume <checkpoint>',
  describe: 'Continue training from a checkpoint, exactly as if it had never stopped',
  builder: (yargs: Argv) =>
    yargs
      .positional('checkpoint', { type: 'string', describe: 'A checkpoint written by charrnn train', demandOption: true })
      .option('iters', { type: 'number', describe: 'Stop at this iteration (counted from the start of the run)' })
      .option('epochs', { type: 'number', describe: 'Stop after this many epochs in all' })
      .option('corpus', { type: 'string', describe: 'The corpus, if it moved (default: the path recorded in the checkpoint; - for stdin)' })
      .option('encoding', { type: 'string', choices: ['utf8', 'latin1'], describe: 'How to read --corpus (default: as in the original run)' })
      .option('eval-every', { type: 'number', describe: 'Validate every N iterations' })
      .option('save-every', { type: 'number', describe: 'Save every N iterations' })
      .option('sample-every', { type: 'number', describe: 'Print a sample every N iterations' })
      .options(runFlags)
      .options(outputOptions)
      .example('$0 resume checkpoints/moby-dick.json --iters 2000', 'train on to iteration 2000')
      .example('$0 resume checkpoints/notes.json --corpus notes.txt --time 600', 'ten more minutes, corpus given again') as unknown as Argv<ResumeArgs>,
  handler: async (argv: ArgumentsCamelCase<ResumeArgs>) => {
    const corpus = argv.corpus === undefined ? undefined : corpusArgument(argv.corpus);
    const session = startTrainingSession(argv);
    const summary = await resumeTraining(argv.checkpoint, {
      corpus, encoding: argv.encoding,
      iterations: argv.iters, epochs: argv.epochs, evalEvery: argv['eval-every'], saveEvery: argv['save-every'], sampleEvery: argv['sample-every'],
      output: argv.output, timeLimitSeconds: argv.time, kernel: argv.kernel, threads: argv.threads, onEvent: session.onEvent, signal: session.signal,
    });
    session.finish(summary);
  },
};
