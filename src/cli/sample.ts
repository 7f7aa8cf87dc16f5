/** `charrnn sample`: stream generated text to stdout. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { latestCheckpoint } from '../checkpoint/io.js';
import { KERNEL_CHOICES, type KernelChoice } from '../core/backend.js';
import { CharrnnError, EXIT } from '../errors.js';
import { LoadedModel, readCorpus, type SampleOptions } from '../index.js';
import { corpusArgument, StdoutWriter } from './terminal.js';

interface SampleArgs {
  checkpoint?: string;
  length: number;
  temp: number;
  prime?: string;
  'prime-file'?: string;
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

/** Characters gathered before each write: few syscalls, yet a visible stream. */
const WRITE_CHUNK = 256;

/**
 * The checkpoint to load: the one given ('-' for stdin), else the newest in checkpoints/. `stdinTaken`
 * names the flag that already reads stdin, if any: stdin can feed only one of them.
 */
export function resolveCheckpoint(given: string | undefined, stdinTaken?: string): string {
  if (given !== undefined && corpusArgument(given) === '-' && stdinTaken) {
    throw new CharrnnError(`${stdinTaken} and --checkpoint both read stdin (-); give one of them a file`, EXIT.usage);
  }
  if (given !== undefined) return corpusArgument(given);
  const latest = latestCheckpoint('checkpoints');
  if (!latest) throw new CharrnnError('no checkpoint found in checkpoints/; train one first (charrnn train corpus.txt) or pass --checkpoint FILE');
  return latest;
}

function primeText(argv: SampleArgs): string | undefined {
  if (argv.prime !== undefined && argv['prime-file'] !== undefined) throw new CharrnnError('give --prime or --prime-file, not both', 2);
  if (argv['prime-file'] === undefined) return argv.prime;
  return readCorpus(corpusArgument(argv['prime-file'])).text;
}

function primeFromStdin(argv: SampleArgs): boolean {
  return argv['prime-file'] !== undefined && corpusArgument(argv['prime-file']) === '-';
}

function checkCounts(argv: SampleArgs): void {
  if (argv.seed !== undefined && !(Number.isInteger(argv.seed) && argv.seed >= 0 && argv.seed <= 0xffffffff)) {
    throw new CharrnnError(`--seed ${argv.seed} is invalid: expected a whole number from 0 to 4294967295`, 2);
  }
  if (!(Number.isInteger(argv.length) && argv.length >= 0)) throw new CharrnnError(`--length ${argv.length} is invalid: expected a whole number (0 = endless)`, 2);
  if (!(Number.isInteger(argv.samples) && argv.samples >= 1)) throw new CharrnnError(`--samples ${argv.samples} is invalid: expected a whole number ≥ 1`, 2);
  if (argv.stop === '') throw new CharrnnError('--stop needs a non-empty string', 2);
  if (argv.json && argv.length === 0 && argv.stop === undefined) throw new CharrnnError('--json needs a finite --length or a --stop string', 2);
}

/** A --stop text the model can never produce would let an endless or --json sample run for ever. */
function checkStop(model: LoadedModel, stop: string | undefined): void {
  if (stop === undefined) return;
  const unknown = [...new Set([...stop].filter((char) => model.vocab.idOf(char.codePointAt(0)!) < 0))];
  if (unknown.length > 0) {
    const listed = unknown.map((char) => JSON.stringify(char)).join(', ');
    const hint = 'it could never be generated (charrnn info CHECKPOINT lists the vocabulary)';
    throw new CharrnnError(`--stop has characters the model never saw: ${listed}; ${hint}`, EXIT.usage);
  }
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
  const chars = [...model.generate(options)].map(({ char, probability }) => ({ char, p: Number(probability.toPrecision(6)) }));
  const line = { prime: options.prime ?? '', text: chars.map((entry) => entry.char).join(''), chars };
  return stdout.write(`${JSON.stringify(line)}\n`);
}

export const sampleCommand: CommandModule<object, SampleArgs> = {
  command: 'sample',
  describe: 'Generate text from a trained model to stdout',
  builder: (yargs: Argv) =>
    yargs
      .option('checkpoint', { alias: 'c', type: 'string', describe: 'Checkpoint to sample from', defaultDescription: 'the newest in checkpoints/' })
      .option('length', { alias: 'l', type: 'number', default: 1000, describe: 'Characters per sample (0 = endless)' })
      .option('temp', { alias: 't', type: 'number', default: 1.0, describe: 'Temperature: lower is more conservative (0 = argmax)' })
      .option('prime', { alias: 'p', type: 'string', describe: 'Text to start from (printed first)' })
      .option('prime-file', { type: 'string', describe: 'Read the prime text from a file (- for stdin)' })
      .option('stop', { type: 'string', describe: 'End a sample once this text is generated (e.g. $\'\\n\\n\' for a blank line)' })
      .option('samples', { alias: 'n', type: 'number', default: 1, describe: 'How many samples, each from a fresh start' })
      .option('delimiter', { type: 'string', default: '\n', defaultDescription: 'a newline', describe: 'Printed after each sample' })
      .option('seed', { type: 'number', describe: 'Random seed', defaultDescription: 'random' })
      .option('argmax', { type: 'boolean', default: false, describe: 'Always take the most likely character' })
      .option('top-k', { type: 'number', describe: 'Sample only from the k most likely characters' })
      .option('top-p', { type: 'number', describe: 'Nucleus sampling: the most likely characters up to this cumulative probability' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON object per sample, with each character\'s probability' })
      .option('kernel', { type: 'string', choices: KERNEL_CHOICES, default: 'auto', describe: 'Compute kernels' })
      .example('$0 sample --temp 0.8 | head', 'from the newest checkpoint')
      .example('$0 sample -c checkpoints/moby-dick.json --prime "Call me " --length 500', 'continue a text')
      .example('$0 sample --length 0 | head -c 5000', 'an endless stream')
      .example('$0 sample -n 5 --stop $\'\\n\\n\' --length 2000', 'five paragraphs') as unknown as Argv<SampleArgs>,
  handler: async (argv: ArgumentsCamelCase<SampleArgs>) => {
    checkCounts(argv);
    const checkpoint = resolveCheckpoint(argv.checkpoint, primeFromStdin(argv) ? '--prime-file' : undefined);
    const prime = primeText(argv);
    const model = await LoadedModel.load(checkpoint, argv.kernel);
    checkStop(model, argv.stop);
    const stdout = new StdoutWriter();
    for (let index = 0; index < argv.samples; index++) {
      // Each sample gets its own seed derived from --seed, so -n 3 --seed 1 is reproducible.
      const seed = argv.seed === undefined ? undefined : (argv.seed + index) >>> 0;
      const options: SampleOptions = {
        length: argv.length, temperature: argv.temp, prime, seed, argmax: argv.argmax, topK: argv['top-k'], topP: argv['top-p'], stop: argv.stop,
      };
      const open = argv.json ? await jsonSample(model, options, stdout) : (await streamSample(model, options, stdout)) && (await stdout.write(argv.delimiter));
      if (!open) break;
    }
    stdout.throwIfFailed();
  },
};
