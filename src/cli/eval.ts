/** `charrnn eval CORPUS --checkpoint F`: how well a model predicts a text, in nats and bits per character. */
import type { KernelChoice } from '../core/backend.js';
import { ENCODINGS, type Encoding } from '../data/corpus.js';
import { LoadedModel, readCorpus } from '../index.js';
import { BOOLEAN, choice, PATH } from '../settings.js';
import { RUN_SETTINGS } from '../train/options.js';
import { flagOf, type Command } from './flags.js';
import { resolveCheckpoint } from './sample.js';
import { formatCount, StdoutWriter } from './terminal.js';

interface EvalArgs {
  corpus: string;
  checkpoint?: string;
  json: boolean;
  encoding: Encoding;
  kernel: KernelChoice;
}

export const evalCommand: Command<EvalArgs> = {
  command: 'eval <corpus>',
  describe: 'Mean cross-entropy of a model on a text (one stream, state carried from zero)',
  positionals: { corpus: 'Text file, or - for stdin' },
  flags: [
    {
      name: 'checkpoint',
      alias: 'c',
      kind: PATH,
      help: 'Checkpoint to evaluate',
      defaultText: 'the best checkpoint of the newest run in checkpoints/',
    },
    { name: 'json', kind: BOOLEAN, default: false, help: 'Print {"chars","loss","bpc"} on stdout' },
    { name: 'encoding', kind: choice(ENCODINGS), default: 'utf8', help: 'How to read the corpus bytes' },
    flagOf(RUN_SETTINGS.kernel),
  ],
  examples: [['charrnn eval held-out.txt -c checkpoints/moby-dick.json', 'nats/char and bits/char']],
  handler: async (argv: EvalArgs) => {
    const checkpoint = resolveCheckpoint(argv.checkpoint, argv.corpus === '-' ? 'CORPUS' : undefined);
    const corpus = readCorpus(argv.corpus, argv.encoding);
    const model = await LoadedModel.load(checkpoint, argv.kernel);
    const result = model.evaluate(corpus);
    const line = argv.json
      ? JSON.stringify({ chars: result.chars, loss: result.loss, bpc: result.bpc })
      : `${result.loss.toFixed(4)} nats/char, ${result.bpc.toFixed(4)} bits/char ` +
        `over ${formatCount(result.chars)} characters`;
    const stdout = new StdoutWriter();
    await stdout.write(`${line}\n`);
    stdout.throwIfFailed();
  },
};
