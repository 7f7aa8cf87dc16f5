/** `charrnn sample`: stream generated text to stdout. */
import { newestRunCheckpoint } from '../checkpoint/io.js';
import type { KernelChoice } from '../core/backend.js';
import { ENCODINGS, type Encoding } from '../data/corpus.js';
import { CharrnnError, EXIT } from '../errors.js';
import { LoadedModel, readCorpus, validateSampleOptions, type SampleOptionName, type SampleOptions } from '../index.js';
import { BOOLEAN, choice, MAX_COUNT, PATH, realNumber, SEED, TEXT, wholeNumber } from '../settings.js';
import { RUN_SETTINGS } from '../train/options.js';
import { flagOf, type Command } from './flags.js';
import { StdoutWriter } from './terminal.js';

interface SampleArgs {
  checkpoint?: string;
  length: number;
  temp: number;
  prime?: string;
  'prime-file'?: string;
  encoding?: Encoding;
  stop?: string;
  samples: number;
  delimiter: string;
  seed?: number;
  argmax: boolean;
  'top-k'?: number;
  'top-p'?: number;
  json: boolean;
  kernel: KernelChoice;
}

/** The flag that sets each sampling option, so that errors name what was typed. */
const SAMPLE_FLAGS: Record<SampleOptionName, string> = {
  length: '--length',
  temperature: '--temp',
  topK: '--top-k',
  topP: '--top-p',
  argmax: '--argmax',
  prime: '--prime',
  seed: '--seed',
  stop: '--stop',
};
export const sampleFlagOf = (option: SampleOptionName): string => SAMPLE_FLAGS[option];

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

function checkCounts(argv: SampleArgs, options: SampleOptions): void {
  validateSampleOptions(options, sampleFlagOf);
  if (argv.json && argv.length === 0 && argv.stop === undefined)
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
    {
      name: 'length',
      alias: 'l',
      kind: wholeNumber(0, MAX_COUNT, '0 = endless'),
      default: 1000,
      help: 'Characters per sample (0 = endless)',
    },
    {
      name: 'temp',
      alias: 't',
      kind: realNumber({ min: 0 }, 'a number ≥ 0 (0 means always the most likely character)'),
      default: 1.0,
      help: 'Temperature: lower is more conservative (0 = argmax)',
    },
    { name: 'prime', alias: 'p', kind: TEXT, help: 'Text to start from (printed first)' },
    { name: 'prime-file', kind: PATH, help: 'Read the prime text from a file (- for stdin)' },
    { name: 'encoding', kind: choice(ENCODINGS), defaultText: 'utf8', help: 'How to read --prime-file' },
    { name: 'stop', kind: TEXT, help: "End a sample once this text is generated (e.g. $'\\n\\n' for a blank line)" },
    {
      name: 'samples',
      alias: 'n',
      kind: wholeNumber(1, MAX_COUNT),
      default: 1,
      help: 'How many samples, each from a fresh start',
    },
    { name: 'delimiter', kind: TEXT, default: '\n', defaultText: 'a newline', help: 'Printed after each sample' },
    { name: 'seed', kind: SEED, help: 'Random seed', defaultText: 'random' },
    { name: 'argmax', kind: BOOLEAN, default: false, help: 'Always take the most likely character' },
    { name: 'top-k', kind: wholeNumber(1, MAX_COUNT), help: 'Sample only from the k most likely characters' },
    {
      name: 'top-p',
      kind: realNumber({ min: 0, max: 1, minOpen: true }, 'a probability in (0, 1]'),
      help: 'Nucleus sampling: the most likely characters up to this cumulative probability',
    },
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
    const first: SampleOptions = {
      length: argv.length,
      temperature: argv.temp,
      topK: argv['top-k'],
      topP: argv['top-p'],
      argmax: argv.argmax,
      prime,
      seed: argv.seed,
      stop: argv.stop,
    };
    checkCounts(argv, first);
    const checkpoint = resolveCheckpoint(argv.checkpoint, primeFromStdin(argv) ? '--prime-file' : undefined);
    const model = await LoadedModel.load(checkpoint, argv.kernel);
    model.checkSampleOptions(first, sampleFlagOf);
    const stdout = new StdoutWriter();
    for (let index = 0; index < argv.samples; index++) {
      // Each sample gets its own seed derived from --seed, so -n 3 --seed 1 is reproducible.
      const seed = argv.seed === undefined ? undefined : (argv.seed + index) >>> 0;
      const options: SampleOptions = { ...first, seed };
      const open = argv.json
        ? await jsonSample(model, options, stdout)
        : (await streamSample(model, options, stdout)) && (await stdout.write(argv.delimiter));
      if (!open) break;
    }
    stdout.throwIfFailed();
  },
};
