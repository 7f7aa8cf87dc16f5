/** `charrnn sample`: stream generated text to stdout. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { latestCheckpoint } from '../checkpoint/io.js';
import { KERNEL_CHOICES, type KernelChoice } from '../core/backend.js';
import { CharrnnError } from '../errors.js';
import { LoadedModel } from '../index.js';
import { StdoutWriter } from './terminal.js';

interface SampleArgs {
  checkpoint?: string;
  length: number;
  temp: number;
  prime?: string;
  seed?: number;
  argmax: boolean;
  'top-k'?: number;
  'top-p'?: number;
  kernel: KernelChoice;
}

/** Characters gathered before each write: few syscalls, yet a visible stream. */
const WRITE_CHUNK = 256;

export function resolveCheckpoint(given: string | undefined): string {
  if (given !== undefined) return given;
  const latest = latestCheckpoint('checkpoints');
  if (!latest) throw new CharrnnError('no checkpoint found in checkpoints/; train one first (charrnn train corpus.txt) or pass --checkpoint FILE');
  return latest;
}

export const sampleCommand: CommandModule<object, SampleArgs> = {
  command: 'sample',
  describe: 'Generate text from a trained model to stdout',
  builder: (yargs: Argv) =>
    yargs
      .option('checkpoint', { alias: 'c', type: 'string', describe: 'Checkpoint to sample from', defaultDescription: 'the newest in checkpoints/' })
      .option('length', { alias: 'n', type: 'number', default: 1000, describe: 'Characters to generate (0 = endless)' })
      .option('temp', { alias: 't', type: 'number', default: 1.0, describe: 'Temperature: lower is more conservative (0 = argmax)' })
      .option('prime', { alias: 'p', type: 'string', describe: 'Text to start from (printed first)' })
      .option('seed', { type: 'number', describe: 'Random seed', defaultDescription: 'random' })
      .option('argmax', { type: 'boolean', default: false, describe: 'Always take the most likely character' })
      .option('top-k', { type: 'number', describe: 'Sample only from the k most likely characters' })
      .option('top-p', { type: 'number', describe: 'Nucleus sampling: the most likely characters up to this cumulative probability' })
      .option('kernel', { type: 'string', choices: KERNEL_CHOICES, default: 'auto', describe: 'Compute kernels' })
      .example('$0 sample --temp 0.8 | head', 'from the newest checkpoint')
      .example('$0 sample -c checkpoints/moby-dick.json --prime "Call me " -n 500', 'continue a text')
      .example('$0 sample --length 0 | head -c 5000', 'an endless stream') as unknown as Argv<SampleArgs>,
  handler: async (argv: ArgumentsCamelCase<SampleArgs>) => {
    if (argv.seed !== undefined && !(Number.isInteger(argv.seed) && argv.seed >= 0 && argv.seed <= 0xffffffff)) {
      throw new CharrnnError(`--seed ${argv.seed} is invalid: expected a whole number from 0 to 4294967295`, 2);
    }
    if (!(Number.isInteger(argv.length) && argv.length >= 0)) throw new CharrnnError(`--length ${argv.length} is invalid: expected a whole number (0 = endless)`, 2);
    const model = await LoadedModel.load(resolveCheckpoint(argv.checkpoint), argv.kernel);
    const stdout = new StdoutWriter();
    const characters = model.generate({
      length: argv.length, temperature: argv.temp, prime: argv.prime, seed: argv.seed, argmax: argv.argmax, topK: argv['top-k'], topP: argv['top-p'],
    });
    let pending = argv.prime ?? '';
    for (const char of characters) {
      pending += char;
      if (pending.length >= WRITE_CHUNK) {
        if (!(await stdout.write(pending))) return;
        pending = '';
      }
    }
    await stdout.write(`${pending}\n`);
  },
};
