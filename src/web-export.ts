/**
 * `charrnn export --web`: a checkpoint as what a web page needs, in one directory: the model as a web
 * model file (checkpoint/web-format.ts), the browser module and the demo page (built from src/web/ into
 * dist/web/ beside this bundle). Each file is written atomically, the page last. A directory is written
 * only when it is new, empty, or an earlier export: a file of one of the three names that export did not
 * write is refused, before anything is written; other files in the directory are left as they are.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { prepareOutput, writeFileAtomic, type WriteWords } from './checkpoint/io.js';
import { decodeWebModel, encodeWebModel, isWebModelStart, type WebModelDtype } from './checkpoint/web-format.js';
import { tensorData } from './checkpoint/format.js';
import { createKernels } from './core/backend.js';
import type { ModelConfig } from './core/config.js';
import { splitTrainVal } from './data/batches.js';
import { type TokenIds, Vocab } from './data/vocab.js';
import { CharrnnError, EXIT } from './errors.js';
import { LoadedModel } from './loaded-model.js';
import { BOOLEAN, checkSettings, type OptionNamer, PATH, type SettingValues, setting } from './settings.js';
import { type Checkpoint, loadCheckpoint } from './train/checkpoint.js';
import { readCorpus, trainDataFor } from './train/corpus.js';
import { validationPart } from './train/run-setup.js';

/** export's options, declared once: the library checks them, the CLI makes its flags from them. */
export const EXPORT_OPTIONS = {
  half: setting({
    flag: 'half',
    kind: BOOLEAN,
    default: false,
    help: 'Store the weights as float16: half the bytes; export measures what it costs in validation loss',
  }),
  corpus: setting<string | undefined>({
    flag: 'corpus',
    kind: PATH,
    default: undefined,
    defaultText: "the run's validation text",
    help: "Text to measure --half's cost on",
  }),
};

export type ExportOptions = Partial<SettingValues<typeof EXPORT_OPTIONS>>;
export type ExportOptionName = keyof ExportOptions;

/** The files of an export, in the order they are written (the page last: it needs the other two). */
export const WEB_FILES = ['model.bin', 'charrnn.js', 'index.html'] as const;
type WebFile = (typeof WEB_FILES)[number];

/** How each file says, in its first bytes, that export wrote it (build.mjs writes the module's first line). */
const WRITTEN_BY_EXPORT: Record<WebFile, (head: Uint8Array) => boolean> = {
  'model.bin': isWebModelStart,
  'charrnn.js': (head) => new TextDecoder().decode(head).startsWith('// charrnn '),
  'index.html': (head) => new TextDecoder().decode(head).includes('<meta name="generator" content="charrnn export'),
};
const HEAD_BYTES = 1024;

const EXPORT_WORDS: WriteWords = { verb: 'write', untouched: 'a file it would replace is untouched', choose: '' };

export interface ExportedFile {
  name: WebFile;
  bytes: number;
  /** Its size gzipped, as a server that compresses sends it. */
  gzipBytes: number;
}

/** What rounding the weights to float16 costs: the validation loss (nats/char) before and after. */
export interface HalfCost {
  /** The text it was measured on. */
  source: string;
  chars: number;
  float32Loss: number;
  float16Loss: number;
}

export interface WebExport {
  dir: string;
  model: ModelConfig;
  dtype: WebModelDtype;
  files: ExportedFile[];
  /** model.bin's size as float32 (the same file unless --half). */
  float32Bytes: number;
  /** With half: what it costs, or why it could not be measured (no text to measure it on); else null. */
  halfCost: HalfCost | { unmeasured: string } | null;
}

/**
 * Writes what a web page needs to sample from the checkpoint at `checkpointPath` into `dir` (see the
 * file's head). Errors name options as `nameOf` says (the CLI passes its flags).
 */
export async function exportWeb(
  checkpointPath: string,
  dir: string,
  options: ExportOptions = {},
  nameOf: OptionNamer<ExportOptionName> = (option) => option,
): Promise<WebExport> {
  checkExportOptions(options, nameOf);
  checkExportDirectory(dir);
  const built = builtFiles();
  const checkpoint = loadCheckpoint(checkpointPath);
  const file = { model: checkpoint.model, vocab: checkpoint.vocab, tensors: tensorData(checkpoint) };
  const float32 = encodeWebModel({ ...file, dtype: 'float32' });
  const model = options.half ? encodeWebModel({ ...file, dtype: 'float16' }) : float32;
  const halfCost = options.half ? measureHalfCost(checkpoint, model, options.corpus, nameOf('corpus')) : null;
  const contents: Record<WebFile, Uint8Array> = { 'model.bin': model, ...built };
  for (const name of WEB_FILES) prepareOutput(join(dir, name), EXPORT_WORDS);
  for (const name of WEB_FILES) writeFileAtomic(join(dir, name), contents[name], EXPORT_WORDS);
  return {
    dir,
    model: checkpoint.model,
    dtype: options.half ? 'float16' : 'float32',
    files: WEB_FILES.map((name) => ({
      name,
      bytes: contents[name].length,
      gzipBytes: gzipSync(contents[name]).length,
    })),
    float32Bytes: float32.length,
    halfCost,
  };
}

/** Checks export's options against the table and each other, naming them as `nameOf` says. */
export function checkExportOptions(options: ExportOptions, nameOf: OptionNamer<ExportOptionName>): void {
  checkSettings(EXPORT_OPTIONS, options, nameOf);
  if (options.corpus !== undefined && !options.half) {
    throw new CharrnnError(`${nameOf('corpus')} applies only to ${nameOf('half')}: it measures its cost`, EXIT.usage);
  }
}

/** Refuses a `dir` that is not a directory, or holds a file of an export's name that export did not write. */
function checkExportDirectory(dir: string): void {
  const wanted = 'give a directory: a new one, an empty one, or an earlier export';
  let stats: Stats | undefined;
  try {
    stats = statSync(dir, { throwIfNoEntry: false });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOTDIR' ? 'part of its path is a file, not a directory' : `cannot use it (${code})`;
    throw new CharrnnError(`cannot export to ${dir}: ${why}; ${wanted}`);
  }
  if (stats && !stats.isDirectory())
    throw new CharrnnError(`cannot export to ${dir}: it is not a directory; ${wanted}`);
  const advice = 'choose another directory, or move it away';
  for (const name of WEB_FILES) {
    const path = join(dir, name);
    const file = statSync(path, { throwIfNoEntry: false });
    if (!file) continue;
    if (!file.isFile()) throw new CharrnnError(`cannot export to ${dir}: its ${name} is not a file; ${advice}`);
    if (!WRITTEN_BY_EXPORT[name](head(path))) {
      throw new CharrnnError(`cannot export to ${dir}: its ${name} was not written by charrnn export; ${advice}`);
    }
  }
}

function head(path: string): Uint8Array {
  const descriptor = openSync(path, 'r');
  try {
    const bytes = new Uint8Array(HEAD_BYTES);
    return bytes.subarray(0, readSync(descriptor, bytes, 0, HEAD_BYTES, 0));
  } finally {
    closeSync(descriptor);
  }
}

/** The browser module and the page, as `npm run build` left them beside this bundle (dist/web/). */
function builtFiles(): Record<Exclude<WebFile, 'model.bin'>, Uint8Array> {
  const read = (name: string): Uint8Array => {
    const path = fileURLToPath(new URL(`web/${name}`, import.meta.url));
    if (!existsSync(path)) throw new CharrnnError(`the browser files are not built (${path}); run: npm run build`);
    return readFileSync(path);
  };
  return { 'charrnn.js': read('charrnn.js'), 'index.html': read('index.html') };
}

/**
 * The validation loss of the weights as they are and as the float16 file holds them, on the text given
 * (`corpus`) or else the run's own validation text; when there is none to be had, why.
 */
function measureHalfCost(
  checkpoint: Checkpoint,
  halfFile: Uint8Array,
  corpus: string | undefined,
  corpusName: string,
): HalfCost | { unmeasured: string } {
  const text = corpus === undefined ? runValidationText(checkpoint) : givenText(checkpoint, corpus);
  if (typeof text === 'string') return { unmeasured: `${text}; give a text to measure it on with ${corpusName} FILE` };
  const rounded = decodeWebModel(halfFile, 'the float16 weights').tensors;
  const tensors = Object.fromEntries(
    Object.entries(checkpoint.tensors).map(([name, { shape }]) => [name, { shape, data: rounded[name]! }]),
  );
  const loss = (weights: Checkpoint) => {
    const model = LoadedModel.fromCheckpoint(weights, createKernels('auto'));
    return model.evaluate({ source: text.source, vocab: model.vocab, ids: text.ids });
  };
  const float32 = loss(checkpoint);
  return {
    source: text.source,
    chars: float32.chars,
    float32Loss: float32.loss,
    float16Loss: loss({ ...checkpoint, tensors }).loss,
  };
}

/** A text given to measure on, in the model's vocabulary (a character it lacks is an error naming it). */
function givenText(checkpoint: Checkpoint, path: string): { source: string; ids: TokenIds } {
  const text = readCorpus(path);
  return { source: path, ids: Vocab.fromSymbols(checkpoint.vocab).translate(text.ids, text.vocab, path) };
}

/** What the run validated on (the held-out part of its corpus, as it was cut), or why it cannot be had. */
function runValidationText(checkpoint: Checkpoint): { source: string; ids: TokenIds } | string {
  const { training } = checkpoint;
  if (!training) return checkpoint.trainingDamage ? 'its training state is damaged' : 'it records no training';
  const path = training.corpus.path;
  if (path === null) return 'its run read the corpus from stdin';
  if (!existsSync(path)) return `its corpus ${path} is gone`;
  let ids: TokenIds;
  try {
    const data = trainDataFor(readCorpus(path, training.options.encoding), Vocab.fromSymbols(checkpoint.vocab));
    if (data.corpus.fingerprint !== training.corpus.fingerprint) return `its corpus ${path} changed since the run`;
    ids = data.ids;
  } catch (error) {
    if (error instanceof CharrnnError) return `its corpus cannot be read (${error.message})`;
    throw error;
  }
  const validation = validationPart(splitTrainVal(ids, training.options.valFrac).val, training.options);
  if (validation.length < 2) return 'its run held no text out for validation';
  return { source: `the validation text of ${path}`, ids: validation };
}
