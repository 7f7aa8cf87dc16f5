/**
 * A model ready to sample: what the library's LoadedModel (Node) and the browser's WebModel (web/) share,
 * so that both draw the very same text from the same weights, options and seed. No Node built-ins: each
 * side says how its event loop takes a turn, and what to tell a user (SamplingSide).
 */
import { CharGenerator } from './core/generate.js';
import { allocating } from './core/kernels.js';
import type { CharModel } from './core/model.js';
import { Rng } from './core/rng.js';
import { probabilities, type SamplingOptions } from './core/sampling.js';
import { Vocab, type TokenIds } from './data/vocab.js';
import { CharrnnError, EXIT } from './errors.js';
import {
  DISTRIBUTION_OPTIONS,
  SAMPLE_OPTIONS,
  sampleOptionName,
  validateSampleOptions,
  type DistributionOptions,
  type SampleOptionName,
  type SampleOptions,
} from './sample-options.js';
import { defaultsOf, definedOnly, type OptionNamer } from './settings.js';

/** A plain loop: TypedArray.prototype.every calls back per element, which costs more than a sampling step's draw. */
function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

export interface GeneratedChar {
  char: string;
  /** The probability it had under the sampling distribution (after temperature, top-k, top-p). */
  probability: number;
}

/** What differs between Node and a browser. */
export interface SamplingSide {
  /** Resolves once the event loop has had a turn (timers, I/O, a page's rendering). */
  nextTurn(): Promise<void>;
  /** Characters stream() generates between turns. */
  charsPerTurn: number;
  /** Where a user finds the vocabulary, for a text with characters outside it. */
  vocabularyHint: string;
  /** How to need less kernel memory, for a model that ran out. */
  memoryHint: string;
}

/**
 * Sampling from a model. Its inference state (the passes generate() runs) is allocated on first use and
 * reused by every later call, since kernel memory is never freed; generate() iterators alive at the same
 * time each hold their own, and the interactive state (reset, feed, probabilities) has one more.
 */
export class SamplingModel {
  readonly vocab: Vocab;
  /** Generators not in use by a live generate() iterator. */
  private readonly idleGenerators: CharGenerator[] = [];
  /** The state reset(), feed() and probabilities() work on, made at first use. */
  private interactive: CharGenerator | undefined;

  protected constructor(
    readonly model: CharModel,
    symbols: readonly string[],
    private readonly side: SamplingSide,
  ) {
    this.vocab = Vocab.fromSymbols(symbols);
  }

  /** Ids of a prime text; a character outside the vocabulary is an error naming it. */
  encodePrime(prime: string): TokenIds {
    this.checkVocabulary(prime, 'prime', 'prime');
    return this.vocab.encode(prime, 'prime');
  }

  /**
   * Checks sampling options against this model: those validateSampleOptions() checks, then the prime and
   * stop texts against the vocabulary (a stop text the model cannot write would never end an endless stream).
   * Errors name each option as `nameOf` calls it: the library's names by default, flags in the CLI.
   */
  checkSampleOptions(options: SampleOptions, nameOf: OptionNamer<SampleOptionName> = sampleOptionName): void {
    validateSampleOptions(options, nameOf);
    if (options.prime !== undefined) this.checkVocabulary(options.prime, nameOf('prime'), 'prime');
    if (options.stop !== undefined) this.checkVocabulary(options.stop, nameOf('stop'), 'stop');
  }

  private checkVocabulary(text: string, name: string, role: 'prime' | 'stop' | 'fed'): void {
    const unknown = [...new Set([...text].filter((char) => this.vocab.idOf(char.codePointAt(0)!) < 0))];
    if (unknown.length === 0) return;
    const consequence = role === 'stop' ? ', so it could never be generated' : '';
    const listed = unknown.map((char) => JSON.stringify(char)).join(', ');
    throw new CharrnnError(
      `${name} has characters the model never saw: ${listed}${consequence}; ${this.side.vocabularyHint}`,
      EXIT.usage,
    );
  }

  /** Where a sample without a prime starts: after a newline (or the first symbol, with no newline). */
  private startIds(): number[] {
    return [Math.max(this.vocab.idOf(10), 0)];
  }

  /**
   * Generates characters one by one (endless when length is 0), each with the probability it was drawn
   * with. Without a prime the model starts from a zero state after a newline (or its first symbol when
   * the vocabulary has no newline). With `stop`, generation ends once that text has been produced.
   * The options are checked at once, before the first character is asked for.
   */
  generate(options: SampleOptions): Generator<GeneratedChar, void, undefined> {
    this.checkSampleOptions(options);
    // A copy, so that changing the options object later cannot bypass the check.
    return this.generateChecked({ ...options });
  }

  private *generateChecked(given: SampleOptions): Generator<GeneratedChar, void, undefined> {
    const options = { ...defaultsOf(SAMPLE_OPTIONS), ...definedOnly(given) };
    const { temperature, topK, topP, argmax } = options;
    const sampling: SamplingOptions = { temperature, topK, topP, argmax };
    const rng = new Rng(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    const prime = options.prime ? this.vocab.encode(options.prime, 'prime') : this.startIds();
    const generator = this.idleGenerators.pop() ?? this.newGenerator();
    try {
      generator.prime(prime);
      const stop = options.stop ?? '';
      let tail = '';
      for (let produced = 0; options.length === 0 || produced < options.length; produced++) {
        if (!allFinite(generator.logits)) throw this.overflowError();
        const { id, probability } = generator.next(sampling, rng);
        const char = this.vocab.symbols[id]!;
        yield { char, probability };
        if (stop) {
          tail = (tail + char).slice(-stop.length);
          if (tail === stop) return;
        }
      }
    } finally {
      this.idleGenerators.push(generator);
    }
  }

  private newGenerator(): CharGenerator {
    return allocating('sampling', this.side.memoryHint, () => new CharGenerator(this.model, { fixedWeights: true }));
  }

  /**
   * The characters of generate() as an async iterable that lets the event loop take a turn every few
   * hundred characters (the side's charsPerTurn), so an endless stream in a server or a page does not
   * starve timers, I/O or rendering. The options are checked at once.
   */
  stream(options: SampleOptions): AsyncGenerator<GeneratedChar, void, undefined> {
    return this.yieldingTurns(this.generate(options));
  }

  private async *yieldingTurns(chars: Iterable<GeneratedChar>): AsyncGenerator<GeneratedChar, void, undefined> {
    let produced = 0;
    for (const generated of chars) {
      yield generated;
      if (++produced % this.side.charsPerTurn === 0) await this.side.nextTurn();
    }
  }

  /** Generates a whole string (length must be finite, or a stop string given). */
  sample(options: SampleOptions): string {
    const chars = this.generate(options);
    if (options.length === 0 && !options.stop)
      throw new CharrnnError(
        'sample() needs a finite length or a stop string; use generate() for an endless stream',
        2,
      );
    let text = '';
    for (const { char } of chars) text += char;
    return text;
  }

  /**
   * Starts the interactive state afresh where a sample starts: from a zero state, fed `prime` when one is
   * given, else a newline. feed() moves it on; probabilities() reads it. Independent of generate().
   */
  reset(prime?: string): void {
    const ids = prime ? this.encodePrime(prime) : this.startIds();
    this.interactiveGenerator().prime(ids);
  }

  /** Moves the interactive state on by `text` (after reset(), or the start if none yet). */
  feed(text: string): void {
    this.checkVocabulary(text, 'the text fed', 'fed');
    const generator = this.interactiveGenerator();
    for (const id of this.vocab.encode(text, 'the text fed')) generator.feed(id);
  }

  /**
   * The distribution of the next character after the interactive state (what reset() and feed() made),
   * under the options that shape it (temperature, topK, topP, argmax; the defaults otherwise): entry i is
   * the probability of vocab.symbols[i], as generate() would draw it.
   */
  probabilities(options: DistributionOptions = {}): Float64Array {
    validateSampleOptions(options, sampleOptionName, DISTRIBUTION_OPTIONS);
    const { temperature, topK, topP, argmax } = { ...defaultsOf(DISTRIBUTION_OPTIONS), ...definedOnly(options) };
    const generator = this.interactiveGenerator();
    if (!allFinite(generator.logits)) throw this.overflowError();
    return probabilities(generator.logits, { temperature, topK, topP, argmax }, new Float64Array(this.vocab.size));
  }

  private interactiveGenerator(): CharGenerator {
    if (this.interactive) return this.interactive;
    this.interactive = this.newGenerator();
    this.interactive.prime(this.startIds());
    return this.interactive;
  }

  /** Finite weights whose products overflow 32-bit floats: the model's outputs are not numbers. */
  protected overflowError(): CharrnnError {
    let largest = 0;
    for (const tensor of this.model.tensors.values()) for (const x of tensor) largest = Math.max(largest, Math.abs(x));
    return new CharrnnError(
      `the model's outputs overflow 32-bit floats (its largest weight is ${largest.toPrecision(2)}), so it gives ` +
        'no probabilities; use an earlier checkpoint of the run, or train again with a lower --lr',
    );
  }
}
