/**
 * The text a run trains on: a Corpus as a caller gives it (read from a file or made from a string), and
 * the run's data, that text in the run's vocabulary with the identity its checkpoints record.
 */
import { resolve } from 'node:path';
import { isObject } from '../checkpoint/json.js';
import { readCorpusIds, type Encoding } from '../data/corpus.js';
import { Vocab, type TokenIds } from '../data/vocab.js';
import { CharrnnError, EXIT } from '../errors.js';
import { fingerprint, type CorpusIdentity } from './state.js';

/**
 * A text as token ids: each character's index in `vocab`, the sorted set of the text's code points.
 * Made by readCorpus or corpusFromText; `vocab.decode(ids)` gives the text back.
 */
export interface Corpus {
  /** Where it came from: a path, '-' for stdin, or the name given to corpusFromText. */
  readonly source: string;
  readonly vocab: Vocab;
  readonly ids: TokenIds;
}

/**
 * Reads a corpus file ('-' for stdin) as strict UTF-8 (or Latin-1), decoding it in chunks straight to
 * ids: memory holds about one byte per character (for a pipe, its bytes), never a string of the text.
 */
export function readCorpus(path: string, encoding: Encoding = 'utf8'): Corpus {
  return { source: path, ...readCorpusIds(path, encoding) };
}

/** A corpus from a string (its UTF-16 surrogate pairs are single characters). */
export function corpusFromText(text: string, source = 'text'): Corpus {
  const vocab = Vocab.fromText(text);
  return { source, vocab, ids: vocab.encode(text, source) };
}

/** A run's text: its ids in the run's vocabulary, and the identity its checkpoints record. */
export interface TrainData {
  vocab: Vocab;
  ids: TokenIds;
  corpus: CorpusIdentity;
}

/** The corpus in the run's vocabulary `vocab` (a character outside it is an error naming the corpus). */
export function trainDataFor(corpus: Corpus, vocab: Vocab): TrainData {
  if (!isObject(corpus) || !(corpus.vocab instanceof Vocab) || !ArrayBuffer.isView(corpus.ids)) {
    throw new CharrnnError('the corpus must come from readCorpus(path) or corpusFromText(text)', EXIT.usage);
  }
  const ids = vocab.translate(corpus.ids, corpus.vocab, corpus.source);
  return {
    vocab,
    ids,
    corpus: {
      path: corpus.source === '-' ? null : resolve(corpus.source),
      chars: ids.length,
      fingerprint: fingerprint(ids),
    },
  };
}
