/**
 * charrnn in a browser (`charrnn/web`): load a web model file (checkpoint/web-format.ts, written by
 * `charrnn export --web`) and sample from it exactly as `charrnn sample` does on the same kernel family,
 * with the same options and seed. An ES module without Node built-ins, for a page or a Web Worker;
 * scripts/build.mjs bundles it for browsers (a Node import fails that build).
 */
import { decodeWebModel, type WebModelDtype } from '../checkpoint/web-format.js';
import { type ModelConfig, parameterLayout } from '../core/config.js';
import { CharModel } from '../core/model.js';
import { passFloats } from '../core/pass-buffers.js';
import { CharrnnError } from '../errors.js';
import { SamplingModel, type SamplingSide } from '../sampling-model.js';
import { checkSettings, choice, type SettingValues, setting } from '../settings.js';
import { createWebKernels, WEB_KERNEL_CHOICES, type WebKernelChoice } from './kernels.js';

export type { CellType, ModelConfig } from '../core/config.js';
export { CharrnnError } from '../errors.js';
export {
  DISTRIBUTION_OPTIONS,
  type DistributionOptions,
  SAMPLE_OPTIONS,
  type SampleOptionName,
  type SampleOptions,
} from '../sample-options.js';
export type { GeneratedChar } from '../sampling-model.js';
export type { WebKernelChoice, WebModelDtype };
export { sampleOptionsFromParams, urlSettingName } from './url-settings.js';

/** load()'s options, declared once: checked as the library checks its own. */
export const LOAD_OPTIONS = {
  kernel: setting<WebKernelChoice>({
    flag: 'kernel',
    kind: choice(WEB_KERNEL_CHOICES),
    default: 'auto',
    help: 'Compute kernels: auto (WebAssembly SIMD where the browser runs it, else js), wasm or js',
  }),
};

export type LoadOptions = Partial<SettingValues<typeof LOAD_OPTIONS>>;

/** A web model file: its URL (fetched, relative to the page or worker), or its bytes. */
export type ModelSource = string | URL | ArrayBuffer | ArrayBufferView;

/**
 * Samplings a page's model holds at once, each with its own state in the kernels' fixed memory: the
 * generate() iterators alive together, and the interactive state (reset, feed, probabilities).
 */
const SAMPLING_SLOTS = 4;
/** Room beside the weights and the samplings' passes: the kernels' workspace (640 KiB) and each buffer's alignment. */
const HEAP_SLACK_BYTES = 2 << 20;

/**
 * A browser's side of sampling. A turn is a setTimeout, so that a page renders and takes input between
 * turns, under a headless browser's virtual time too; since a browser makes a chain of them wait 4 ms
 * each, a turn comes every 1024 characters (about 20 ms of sampling a 2×128 LSTM).
 */
const WEB_SIDE: SamplingSide = {
  nextTurn: () => new Promise<void>((resolve) => setTimeout(resolve, 0)),
  charsPerTurn: 1024,
  vocabularyHint: "the model's characters are listed by its vocab.symbols",
  memoryHint: `a page's model holds ${SAMPLING_SLOTS} samplings at once; end a generate() iterator first`,
};

/** Fetches and checks a web model (or checks the bytes given) and puts it on the kernels asked for. */
export function load(source: ModelSource, options: LoadOptions = {}): Promise<WebModel> {
  return WebModel.load(source, options);
}

/** Every buffer a model takes on WebAssembly: its weights and SAMPLING_SLOTS samplings, each with its weights transposed. */
function heapBytes(config: ModelConfig): number {
  const floats = parameterLayout(config).size + SAMPLING_SLOTS * passFloats(config, 1, 1, false, true);
  return floats * 4 + HEAP_SLACK_BYTES;
}

async function modelBytes(source: ModelSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'the model' };
  if (ArrayBuffer.isView(source)) {
    return { bytes: new Uint8Array(source.buffer, source.byteOffset, source.byteLength), name: 'the model' };
  }
  const url = String(source);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new CharrnnError(`cannot fetch ${url} (${(error as Error).message}); is the server running?`);
  }
  if (!response.ok) {
    const answer = `${response.status} ${response.statusText}`.trim();
    throw new CharrnnError(`cannot fetch ${url}: the server answered ${answer}; is the file there?`);
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()), name: url };
}

/**
 * A model loaded in a browser: generate(), stream() and sample() take the options of `charrnn sample`
 * (SAMPLE_OPTIONS) and give the CLI's text for the same seed on the same kernel family; reset(), feed()
 * and probabilities() give the next character's distribution interactively.
 */
export class WebModel extends SamplingModel {
  /** The kernels computing it: 'wasm-relaxed-simd', 'wasm-simd' or 'js'. */
  readonly kernel: string;

  private constructor(
    model: CharModel,
    symbols: readonly string[],
    /** How the file stored its weights: float32, or float16 (rounded, half the bytes). */
    readonly dtype: WebModelDtype,
  ) {
    super(model, symbols, WEB_SIDE);
    this.kernel = model.kernels.name;
  }

  /** See load(). */
  static async load(source: ModelSource, options: LoadOptions = {}): Promise<WebModel> {
    checkSettings(LOAD_OPTIONS, options, (option) => option);
    const { bytes, name } = await modelBytes(source);
    const file = decodeWebModel(bytes, name);
    const kernels = await createWebKernels(options.kernel ?? LOAD_OPTIONS.kernel.default, heapBytes(file.model));
    const model = new CharModel(file.model, kernels);
    model.load(file.tensors);
    return new WebModel(model, file.vocab, file.dtype);
  }

  get config(): ModelConfig {
    return this.model.config;
  }
}
