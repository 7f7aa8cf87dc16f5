/** `charrnn sample`: stream generated text to stdout. */
import { newestRunCheckpoint } from '../checkpoint/io.js';
import type { KernelChoice } from '../core/backend.js';
import { ENCODINGS, type Encoding } from '../data/corpus.js';
import { CharrnnError, EXIT } from '../errors.js';
import { LoadedModel, readCorpus, SAMPLE_OPTIONS, validateSampleOptions, type SampleOptions } from '../index.js';
import { BOOLEAN, choice, flagNamer, MAX_COUNT, PATH, TEXT, wholeNumber } from '../settings.js';
import { RUN_SETTINGS } from '../train/options.js';
import { flagOf, flagsOf, settingsFromArgs, type Command } from './flags.js';
import { StdoutWriter } from './terminal.js';

/** The flags sample reads itself; the sampling options' flags are read by name (settingsFromArgs). */
interface SampleArgs {
  checkpoint?: string;
  prime?: string;
  'prime-file'?: string;
  encoding?: Encoding;
  samples: number;
  delimiter: string;
  json: boolean;
  kernel?: KernelChoice;
  [flag: string]: unknown;
}

/** Sampling options named by their flags in the library's messages. */
export const sampleFlagOf = flagNamer(SAMPLE_OPTIONS);

/** Characters gathered before each write: few syscalls, yet a visible stream. */
const WRITE_CHUNK = 256;

/**
 * The checkpoint to load: the one given ('-' for stdin), else the newest in checkpoints/. `stdinTaken`
 * names the flag that already reads stdin, if any: stdin can feed only one of them.
 */
export function resolveCheckpoint(given: string | undefined, stdinTaken?: string): string {
  if (given === '-' && stdinTaken) {
    throw new CharrnnError(`${stdinTaken} and --checkpoint both read stdin (-); give one of them a file`, EXIT.usage);
  }
  if (given !== undefined) return given;
  const latest = newestRunCheckpoint('checkpoints');
  if (!latest)
    throw new CharrnnError(
      'no checkpoint found in checkpoints/; train one first (charrnn train corpus.txt) or pass --checkpoint FILE',
    );
  return latest;
}

function primeText(argv: SampleArgs): string | undefined {
  if (argv.prime !== undefined && argv['prime-file'] !== undefined)
    throw new CharrnnError('give --prime or --prime-file, not both', 2);
  if (argv.encoding !== undefined && argv['prime-file'] === undefined)
    throw new CharrnnError(
      `--encoding ${argv.encoding} applies only to --prime-file; give that too, or leave it out`,
      2,
    );
  if (argv['prime-file'] === undefined) return argv.prime;
  const prime = readCorpus(argv['prime-file'], argv.encoding);
  return prime.vocab.decode(prime.ids);
}

function primeFromStdin(argv: SampleArgs): boolean {
  return argv['prime-file'] === '-';
}

/** The library's check of the sampling options, before a checkpoint is read; then what --json needs. */
function checkOptions(argv: SampleArgs, options: SampleOptions): void {
  validateSampleOptions(options, sampleFlagOf);
  if (argv.json && options.length === 0 && options.stop === undefined)
    throw new CharrnnError('--json needs a finite --length or a --stop string', 2);
}

/** Streams one sample's text; false once stdout has closed. */
async function streamSample(model: LoadedModel, options: SampleOptions, stdout: StdoutWriter): Promise<boolean> {
  let pending = options.prime ?? '';
  for (const { char } of model.generate(options)) {
    pending += char;
    if (pending.length >= WRITE_CHUNK) {
      if (!(await stdout.write(pending))) return false;
      pending = '';
    }
  }
  return stdout.write(pending);
}

/** One sample as a JSON line: the text and each generated character with its probability. */
async function jsonSample(model: LoadedModel, options: SampleOptions, stdout: StdoutWriter): Promise<boolean> {
  const chars = [...model.generate(options)].map(({ char, probability }) => ({
    char,
    p: Number(probability.toPrecision(6)),
  }));
  const line = { prime: options.prime ?? '', text: chars.map((entry) => entry.char).join(''), chars };
  return stdout.write(`${JSON.stringify(line)}\n`);
}

export const sampleCommand: Command<SampleArgs> = {
  command: 'sample',
  describe: 'Generate text from a trained model to stdout',
  flags: [
    {
      name: 'checkpoint',
      alias: 'c',
      kind: PATH,
      help: 'Checkpoint to sample from',
      defaultText: 'the best checkpoint of the newest run in checkpoints/',
    },
    ...flagsOf(SAMPLE_OPTIONS),
    { name: 'prime-file', kind: PATH, help: 'Read the prime text from a file (- for stdin)' },
    { name: 'encoding', kind: choice(ENCODINGS), defaultText: 'utf8', help: 'How to read --prime-file' },
    {
      name: 'samples',
      alias: 'n',
      kind: wholeNumber(1, MAX_COUNT),
      default: 1,
      help: 'How many samples, each from a fresh start',
    },
    { name: 'delimiter', kind: TEXT, default: '\n', defaultText: 'a newline', help: 'Printed after each sample' },
    {
      name: 'json',
      kind: BOOLEAN,
      default: false,
      help: "One JSON object per sample, with each character's probability",
    },
    flagOf(RUN_SETTINGS.kernel),
  ],
  examples: [
    ['charrnn sample --temp 0.8 | head', 'from the newest checkpoint'],
    ['charrnn sample -c checkpoints/moby-dick.json --prime "Call me " --length 500', 'continue a text'],
    ['charrnn sample --length 0 | head -c 5000', 'an endless stream'],
    ["charrnn sample -n 5 --stop $'\\n\\n' --length 2000", 'five paragraphs'],
  ],
  handler: async (argv: SampleArgs) => {
    const prime = primeText(argv);
    const first: SampleOptions = { ...settingsFromArgs(SAMPLE_OPTIONS, argv), prime };
    checkOptions(argv, first);
    const checkpoint = resolveCheckpoint(argv.checkpoint, primeFromStdin(argv) ? '--prime-file' : undefined);
    const model = await LoadedModel.load(checkpoint, argv.kernel);
    model.checkSampleOptions(first, sampleFlagOf);
    const stdout = new StdoutWriter();
    for (let index = 0; index < argv.samples; index++) {
      // Each sample gets its own seed derived from --seed, so -n 3 --seed 1 is reproducible.
      const seed = first.seed === undefined ? undefined : (first.seed + index) >>> 0;
      const options: SampleOptions = { ...first, seed };
      const open = argv.json
        ? await jsonSample(model, options, stdout)
        : (await streamSample(model, options, stdout)) && (await stdout.write(argv.delimiter));
      if (!open) break;
    }
    stdout.throwIfFailed();
  },
};
