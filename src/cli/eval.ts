/** `charrnn eval CORPUS --checkpoint F`: how well a model predicts a text, in nats and bits per character. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { KERNEL_CHOICES, type KernelChoice } from '../core/backend.js';
import { CharrnnError } from '../errors.js';
import { LoadedModel, readCorpus } from '../index.js';
import { resolveCheckpoint } from './sample.js';
import { corpusArgument, formatCount, StdoutWriter } from './terminal.js';

interface EvalArgs {
  corpus: string;
  checkpoint?: string;
  json: boolean;
  encoding: 'utf8' | 'latin1';
  kernel: KernelChoice;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval <corpus>',
  describe: 'Mean cross-entropy of a model on a text (one stream, state carried from zero)',
  builder: (yargs: Argv) =>
    yargs
      .positional('corpus', { type: 'string', describe: 'Text file, or - for stdin', demandOption: true })
      .option('checkpoint', { alias: 'c', type: 'string', describe: 'Checkpoint to evaluate', defaultDescription: 'the newest in checkpoints/' })
      .option('json', { type: 'boolean', default: false, describe: 'Print {"chars","loss","bpc"} on stdout' })
      .option('encoding', { type: 'string', choices: ['utf8', 'latin1'], default: 'utf8', describe: 'How to read the corpus bytes' })
      .option('kernel', { type: 'string', choices: KERNEL_CHOICES, default: 'auto', describe: 'Compute kernels' })
      .example('$0 eval held-out.txt -c checkpoints/moby-dick.json', 'nats/char and bits/char') as unknown as Argv<EvalArgs>,
  handler: async (argv: ArgumentsCamelCase<EvalArgs>) => {
    const corpusPath = corpusArgument(argv.corpus);
    const checkpoint = resolveCheckpoint(argv.checkpoint, corpusPath === '-' ? 'CORPUS' : undefined);
    const corpus = readCorpus(corpusPath, argv.encoding);
    const model = await LoadedModel.load(checkpoint, argv.kernel);
    const result = model.evaluate(corpus.text, corpus.source);
    if (result.chars === 0) {
      // Each character is predicted from those before it, so the first is never scored.
      const need = 'it needs at least 2 characters (a byte-order mark does not count)';
      throw new CharrnnError(`${corpus.source}: too short to evaluate; ${need}`);
    }
    const line = argv.json
      ? JSON.stringify({ chars: result.chars, loss: result.loss, bpc: result.bpc })
      : `${result.loss.toFixed(4)} nats/char, ${result.bpc.toFixed(4)} bits/char ` +
        `over ${formatCount(result.chars)} characters`;
    const stdout = new StdoutWriter();
    await stdout.write(`${line}\n`);
    stdout.throwIfFailed();
  },
};
