/**
 * The page `charrnn export --web` writes (index.html). Its form holds `charrnn sample`'s options under their
 * flags' names, and so does its URL (`?prime=…&temp=…&length=…&seed=…&top-k=…&top-p=…&stop=…&kernel=js`),
 * so a link reproduces a sample: generating puts the settings, the seed drawn and `autorun=1` in the
 * address. The text streams into #output, prime first, as the CLI prints it. With `autorun=1` it generates
 * at once on the main thread, yielding with setTimeout, so a headless browser's DOM dump holds the
 * finished text; body[data-state] says how far it is: loading, ready, generating, done or error.
 * scripts/build.mjs bundles this into the page, '../index.js' being the charrnn.js beside it.
 */
import {
  CharrnnError,
  load,
  type SampleOptions,
  sampleOptionsFromParams,
  urlSettingName,
  type WebKernelChoice,
  type WebModel,
} from '../index.js';

const MODEL_URL = 'model.bin';
/** The page's own settings, beside the sampling options. */
const PAGE_SETTINGS = ['kernel', 'autorun'];
const SWITCH_VALUES = ['', '0', '1', 'false', 'true'];
/** Characters added to #output at once: often enough to stream, seldom enough to cost nothing. */
const OUTPUT_PIECE_CHARS = 64;

interface Settings {
  options: SampleOptions;
  kernel: WebKernelChoice;
  autorun: boolean;
}

function settingsFrom(params: URLSearchParams): Settings {
  const options = sampleOptionsFromParams(params, PAGE_SETTINGS);
  const autorun = params.get('autorun') ?? '';
  if (!SWITCH_VALUES.includes(autorun)) {
    throw new CharrnnError(`autorun ${autorun} is invalid: expected 1 (generate at once) or 0`, 2);
  }
  // load() checks the kernel's name.
  const kernel = (params.get('kernel') || 'auto') as WebKernelChoice;
  return { options, kernel, autorun: autorun === '1' || autorun === 'true' };
}

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

class DemoPage {
  private readonly status = byId<HTMLParagraphElement>('status');
  private readonly modelLine = byId<HTMLParagraphElement>('model');
  private readonly output = byId<HTMLPreElement>('output');
  private readonly form = byId<HTMLFormElement>('settings');
  private readonly button = byId<HTMLButtonElement>('generate');
  /** The model on each kernel asked for, loaded once. */
  private readonly models = new Map<WebKernelChoice, Promise<WebModel>>();
  /** Counts generations started, so that a running one sees it was stopped or replaced. */
  private generation = 0;
  private generating = false;

  async start(): Promise<void> {
    const params = new URLSearchParams(location.search);
    this.fillForm(params);
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.onGenerate();
    });
    await this.guard(async () => {
      const settings = settingsFrom(params);
      const model = await this.modelOn(settings.kernel);
      this.showModel(model);
      this.status.textContent = 'Ready.';
      this.button.disabled = false;
      this.setState('ready');
      if (settings.autorun) await this.generate(settings);
    });
  }

  private onGenerate(): void {
    if (this.generating) {
      this.generation++;
      return;
    }
    void this.guard(() => this.generate(settingsFrom(this.formParams())));
  }

  private modelOn(kernel: WebKernelChoice): Promise<WebModel> {
    let model = this.models.get(kernel);
    if (!model) {
      model = load(MODEL_URL, { kernel });
      this.models.set(kernel, model);
    }
    return model;
  }

  private async generate(settings: Settings): Promise<void> {
    const model = await this.modelOn(settings.kernel);
    const options = { ...settings.options, seed: settings.options.seed ?? Math.floor(Math.random() * 2 ** 32) };
    model.checkSampleOptions(options, urlSettingName);
    this.showSettings(options, settings.kernel);
    const generation = ++this.generation;
    this.generating = true;
    this.button.textContent = 'Stop';
    this.setState('generating');
    this.output.replaceChildren(options.prime ?? '');
    const started = performance.now();
    let count = 0;
    let pending = '';
    try {
      for await (const { char } of model.stream(options)) {
        if (generation !== this.generation) break;
        pending += char;
        // A new text node per piece: appending to one would copy the whole text each time.
        if (++count % OUTPUT_PIECE_CHARS === 0) {
          this.output.append(pending);
          pending = '';
        }
      }
    } finally {
      this.output.append(pending);
      this.generating = false;
      this.button.textContent = 'Generate';
    }
    const seconds = (performance.now() - started) / 1000;
    const stopped = generation !== this.generation ? 'stopped after ' : '';
    this.status.textContent =
      `${stopped}${count.toLocaleString('en-US')} characters in ${seconds.toFixed(2)} s ` +
      `(${Math.round(count / Math.max(seconds, 1e-3)).toLocaleString('en-US')} a second)`;
    this.setState('done');
  }

  /** The settings of a sample in the form and the address (the seed drawn too), so the link reproduces it. */
  private showSettings(options: SampleOptions, kernel: WebKernelChoice): void {
    const params = this.formParams();
    params.set('seed', String(options.seed));
    if (kernel !== 'auto') params.set('kernel', kernel);
    params.set('autorun', '1');
    this.fillForm(params);
    history.replaceState(null, '', `?${params}`);
  }

  /** What the model is, and the characters it knows (a prime may use no others). */
  private showModel(model: WebModel): void {
    const { cell, layers, hidden } = model.config;
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent =
      `${cell} ${layers}×${hidden}, ${model.dtype} weights, on ${model.kernel}; ` +
      `it knows ${model.vocab.size} characters`;
    const characters = document.createElement('code');
    characters.textContent = model.vocab.symbols.map((symbol) => JSON.stringify(symbol).slice(1, -1)).join(' ');
    details.append(summary, characters);
    this.modelLine.replaceChildren(details);
  }

  private fillForm(params: URLSearchParams): void {
    for (const [name, value] of params) {
      const field = this.form.elements.namedItem(name);
      if (
        field instanceof HTMLInputElement ||
        field instanceof HTMLTextAreaElement ||
        field instanceof HTMLSelectElement
      )
        field.value = value;
    }
  }

  /** The form's fields as URL settings: those left empty, and the default kernel, left out. */
  private formParams(): URLSearchParams {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(this.form)) {
      if (value !== '' && !(name === 'kernel' && value === 'auto')) params.set(name, String(value));
    }
    return params;
  }

  /** Runs `action`; a problem is shown on the page, in the library's words. */
  private async guard(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (error) {
      const message = error instanceof CharrnnError ? error.message : `internal error: ${(error as Error).message}`;
      this.status.textContent = message;
      this.status.classList.add('error');
      this.setState('error');
      return;
    }
    this.status.classList.remove('error');
  }

  private setState(state: 'ready' | 'generating' | 'done' | 'error'): void {
    document.body.dataset.state = state;
  }
}

void new DemoPage().start();
