import { describe, expect, it } from 'vitest';
import { minimumLength, requireEvaluable, splitTrainVal, StreamBatcher } from '../src/data/batches.js';
import { decodeCorpusBytes } from '../src/data/corpus.js';
import { Vocab } from '../src/data/vocab.js';

describe('Vocab', () => {
  it('is the sorted set of code points, CJK and emoji single symbols', () => {
    const vocab = Vocab.fromText('b a\n日本😀a語😀');
    expect(vocab.symbols).toEqual(['\n', ' ', 'a', 'b', '日', '本', '語', '😀']);
    expect(vocab.idOf('😀'.codePointAt(0)!)).toBe(7);
    expect(vocab.idOf('z'.codePointAt(0)!)).toBe(-1);
  });

  it('round-trips text through ids in the narrowest array type', () => {
    const text = 'hello 世界 🌍!';
    const vocab = Vocab.fromText(text);
    const ids = vocab.encode(text, 'x');
    expect(ids).toBeInstanceOf(Uint8Array);
    expect(ids.length).toBe([...text].length);
    expect(vocab.decode(ids)).toBe(text);
    const wide = Vocab.fromText(Array.from({ length: 300 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join(''));
    expect(wide.encode('一丁', 'x')).toBeInstanceOf(Uint16Array);
  });

  it('names an unknown character and its position', () => {
    const vocab = Vocab.fromText('abc');
    expect(() => vocab.encode('abxc', 'prime.txt')).toThrow(/prime\.txt: character "x" \(U\+0078\) at position 2/);
  });

  it('translates ids between vocabularies, naming a character the target lacks', () => {
    const from = Vocab.fromText('abc');
    const to = Vocab.fromText('abcd');
    const ids = from.encode('cab', 'x');
    expect(Array.from(to.translate(ids, from, 'x'))).toEqual([2, 0, 1]);
    expect(Vocab.fromText('bca').translate(ids, from, 'x')).toBe(ids);
    const unknown = /c\.txt: character "c" \(U\+0063\) at position 0 is not/;
    expect(() => Vocab.fromText('ab').translate(ids, from, 'c.txt')).toThrow(unknown);
  });

  it('validates symbols from a checkpoint', () => {
    expect(() => Vocab.fromSymbols(['a', 'ab'])).toThrow(/not a single character/);
    expect(() => Vocab.fromSymbols(['a', 'a'])).toThrow(/twice/);
    expect(Vocab.fromSymbols(['\n', '😀']).size).toBe(2);
  });
});

describe('decodeCorpusBytes', () => {
  const bytes = (...values: number[]) => Uint8Array.from(values);
  const decodedText = (data: Uint8Array, encoding: 'utf8' | 'latin1' = 'utf8') => {
    const { vocab, ids } = decodeCorpusBytes(data, 'f', encoding);
    return vocab.decode(ids);
  };

  it('accepts well-formed UTF-8 and drops a BOM', () => {
    expect(decodedText(Buffer.from('\uFEFFhé日😀', 'utf8'))).toBe('hé日😀');
    expect(decodedText(Buffer.from('a\uFEFF', 'utf8'))).toBe('a\uFEFF');
  });

  it.each([
    ['an overlong', bytes(0x61, 0xc0, 0xaf), 1],
    ['a lone continuation byte', bytes(0x61, 0x62, 0x80), 2],
    ['a sequence cut off at the end', bytes(0x61, 0xe6, 0x97), 1],
    ['a surrogate', bytes(0xed, 0xa0, 0x80), 0],
    ['a bad second continuation', bytes(0x61, 0xe6, 0x97, 0x41), 1],
    ['a code point above U+10FFFF', bytes(0xf4, 0x90, 0x80, 0x80), 0],
    ['a Latin-1 letter', Buffer.from('caf\xe9 au lait', 'latin1'), 3],
  ])('refuses %s, naming the offset', (_, data, offset) => {
    const byte = data[offset]!.toString(16);
    const message = new RegExp(`bad\\.txt: invalid UTF-8 at byte offset ${offset} \\(0x${byte}\\).*--encoding latin1`);
    expect(() => decodeCorpusBytes(data, 'bad.txt')).toThrow(message);
  });

  it('calls a NUL byte binary, even after ill-formed UTF-8', () => {
    expect(() => decodeCorpusBytes(bytes(0x61, 0x00, 0x62), 'a.bin')).toThrow(/binary file \(a NUL byte at offset 1\)/);
    expect(() => decodeCorpusBytes(bytes(0x89, 0x50, 0x4e, 0x47, 0x00), 'a.png')).toThrow(/a NUL byte at offset 4/);
  });

  it('refuses nothing, or nothing but a BOM', () => {
    expect(() => decodeCorpusBytes(bytes(), 'e.txt')).toThrow(/^e\.txt is empty; give a text file/);
    const bomOnly = bytes(0xef, 0xbb, 0xbf);
    expect(() => decodeCorpusBytes(bomOnly, 'bom.txt')).toThrow(/^bom\.txt holds only a byte-order mark/);
  });

  it('reads Latin-1 when asked: every byte a character, a BOM included', () => {
    expect(decodedText(bytes(0x63, 0x61, 0x66, 0xe9), 'latin1')).toBe('café');
    expect(decodedText(bytes(0xef, 0xbb, 0xbf, 0x00), 'latin1')).toBe('\xef\xbb\xbf\x00');
  });

  it('gives the ids Vocab.encode gives, in the narrowest array', () => {
    const ideographs = Array.from({ length: 300 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join('');
    const text = `${'한국어 '.repeat(100)}${ideographs}😀`;
    const { vocab, ids } = decodeCorpusBytes(Buffer.from(text, 'utf8'), 'f');
    expect(vocab.symbols).toEqual(Vocab.fromText(text).symbols);
    expect(ids).toBeInstanceOf(Uint16Array);
    expect(ids).toEqual(vocab.encode(text, 'f'));
  });
});

describe('batching', () => {
  it('holds out the end for validation', () => {
    const ids = Uint8Array.from({ length: 100 }, (_, i) => i);
    const { train, val } = splitTrainVal(ids, 0.1);
    expect(train.length).toBe(90);
    expect(Array.from(val)).toEqual([90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
  });

  it('cuts contiguous streams and serves time-major chunks like char-rnn', () => {
    // 27 ids, 3 streams → n = floor(26/3) = 8 per stream; seq 4 → 2 chunks.
    const ids = Uint8Array.from({ length: 27 }, (_, i) => i);
    const batcher = new StreamBatcher(ids, 3, 4);
    expect(batcher.streamLength).toBe(8);
    expect(batcher.chunksPerEpoch).toBe(2);
    const inputs = new Int32Array(12);
    const targets = new Int32Array(12);
    batcher.fillChunk(1, inputs, targets);
    // Stream b starts at 8b; chunk 1 covers steps 4..7; row t·3 + b.
    expect(Array.from(inputs)).toEqual([4, 12, 20, 5, 13, 21, 6, 14, 22, 7, 15, 23]);
    expect(Array.from(targets)).toEqual(Array.from(inputs, (x) => x + 1));
  });

  it('refuses to evaluate fewer than 2 characters instead of giving NaN', () => {
    const tooShort = /^one\.txt is too short to evaluate: it has 1 character,.*at least 2$/;
    expect(() => requireEvaluable(new Uint8Array(1), 'one.txt')).toThrow(tooShort);
    expect(() => requireEvaluable(new Uint8Array(0), 'text')).toThrow(/it has 0 characters/);
    expect(() => requireEvaluable(new Uint8Array(2), 'text')).not.toThrow();
  });

  it('says how long a corpus must be for --batch and --seq', () => {
    expect(minimumLength(50, 50)).toBe(2501);
    expect(() => new StreamBatcher(new Uint8Array(2500), 50, 50)).toThrow(
      /too short for --batch 50 × --seq 50: it needs at least 2501/,
    );
    expect(() => new StreamBatcher(new Uint8Array(2501), 50, 50)).not.toThrow();
  });
});
