/**
 * Reading corpora in chunks: the same ids whatever the chunk size (multi-byte characters cut at every
 * place), the same errors at the same offsets, pipes, FIFOs, /dev/stdin and /proc files read to their end,
 * and resume reading --corpus with the run's encoding. CLI cases run the built binary.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCorpusBytes, readCorpusIds } from '../src/data/corpus.js';
import { corpusFromText, LoadedModel, readCorpus } from '../src/index.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'charrnn');
const MIXED = '\uFEFFa é ß 日本語 😀🎉 \u{10FFFF} end\n';
const MODEL = ['--hidden', '8', '--layers', '1', '--seq', '8', '--batch', '4'];
const TINY = [...MODEL, '--iters', '2', '--eval-every', '0', '-q'];
/** Room for runs of the built binary on a loaded machine. */
const SLOW = 60_000;
const ENV = { ...process.env, NODE: process.execPath, BIN, CI: 'true' };

let dir: string;

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, input, encoding: 'utf8', env: ENV });
}

/** What reading gives, as something to compare: the symbols and ids, or the error message. */
function outcome(read: () => { vocab: { symbols: string[] }; ids: ArrayLike<number> }): unknown {
  try {
    const { vocab, ids } = read();
    return { symbols: vocab.symbols, ids: Array.from(ids), type: ids.constructor.name };
  } catch (error) {
    return (error as Error).message;
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'charrnn-read-'));
});

describe('reading a file in chunks', () => {
  it('gives the ids of the whole text for every chunk size, the BOM dropped', () => {
    const path = join(dir, 'mixed.txt');
    writeFileSync(path, MIXED.repeat(3));
    // Only the leading BOM goes; the later U+FEFF are characters.
    const whole = outcome(() => corpusFromText(MIXED.repeat(3).slice(1)));
    for (let chunk = 1; chunk <= 9; chunk++) {
      expect(
        outcome(() => readCorpusIds(path, 'utf8', chunk)),
        `chunk ${chunk}`,
      ).toEqual(whole);
    }
  });

  it(
    'agrees with a whole-buffer decode on random text and random bytes, whatever the chunk size',
    () => {
      const path = join(dir, 'random.bin');
      // Code points of every UTF-8 length, and bytes with no NUL (which would end every case as "binary").
      const codePoint = fc.oneof(
        fc.integer({ min: 0x20, max: 0x7f }),
        fc.integer({ min: 0x80, max: 0x7ff }),
        fc.integer({ min: 0x800, max: 0xd7ff }),
        fc.integer({ min: 0x10000, max: 0x10ffff }),
      );
      const text = fc
        .array(codePoint, { minLength: 1, maxLength: 40 })
        .map((points) => Buffer.from(String.fromCodePoint(...points), 'utf8'));
      const junk = fc
        .uint8Array({ minLength: 1, maxLength: 40 })
        .map((data) => Buffer.from(data.map((byte) => (byte === 0 ? 0x80 : byte))));
      fc.assert(
        fc.property(fc.oneof(text, junk), fc.integer({ min: 1, max: 12 }), (data, chunk) => {
          writeFileSync(path, data);
          const whole = outcome(() => decodeCorpusBytes(data, path));
          expect(outcome(() => readCorpusIds(path, 'utf8', chunk))).toEqual(whole);
          const wellFormed = typeof whole !== 'string';
          let decodes = true;
          try {
            new TextDecoder('utf-8', { fatal: true }).decode(data);
          } catch {
            decodes = false;
          }
          expect(wellFormed).toBe(decodes);
        }),
        { numRuns: 300 },
      );
    },
    SLOW,
  );

  it('reports the first bad sequence at the same offset when it straddles two chunks', () => {
    const path = join(dir, 'cut.txt');
    writeFileSync(path, Buffer.concat([Buffer.from('ab日', 'utf8'), Buffer.from([0xe6, 0x97]), Buffer.from('x')]));
    for (let chunk = 1; chunk <= 7; chunk++) {
      expect(() => readCorpusIds(path, 'utf8', chunk)).toThrow(/invalid UTF-8 at byte offset 5 \(0xe6\)/);
    }
  });

  it('finds a NUL byte after ill-formed UTF-8 in a later chunk, and calls the file binary', () => {
    const path = join(dir, 'image.png');
    const pngHeader = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    writeFileSync(path, Buffer.concat([pngHeader, Buffer.alloc(3000, 0x41), Buffer.alloc(1)]));
    const message = /image\.png looks like a binary file \(a NUL byte at offset 3004\)/;
    expect(() => readCorpusIds(path, 'utf8', 64)).toThrow(message);
  });

  it('reads Latin-1 in chunks, every byte one character', () => {
    const path = join(dir, 'latin1.txt');
    const bytes = Buffer.from('caf\xe9 na\xefve \xff\xef\xbb\xbf', 'latin1');
    writeFileSync(path, bytes);
    const { vocab, ids } = readCorpusIds(path, 'latin1', 3);
    expect(vocab.decode(ids)).toBe(bytes.toString('latin1'));
  });

  it(
    'reads a mid-size file (8 MB, 1 MiB chunks) to the ids of its text',
    () => {
      const line = `${MIXED.slice(1)}${'Call me Ishmael. Some years ago—never mind how long precisely—'.repeat(3)}\n`;
      const text = line.repeat(32_000);
      const path = join(dir, 'mid.txt');
      writeFileSync(path, text);
      const corpus = readCorpus(path);
      expect(corpus.ids.length).toBe([...text].length);
      expect(corpus.ids).toBeInstanceOf(Uint8Array);
      const expected = corpus.vocab.encode(text, 'mid.txt');
      expect(Buffer.compare(corpus.ids as Uint8Array, expected as Uint8Array)).toBe(0);
    },
    SLOW,
  );
});

describe('reading what stat cannot size', () => {
  it('reads a /proc file to its end', () => {
    const { vocab, ids } = readCorpusIds('/proc/self/status', 'utf8', 16);
    expect(vocab.decode(ids)).toMatch(/^Name:/);
  });

  it('calls an endless device binary at its first chunk instead of reading it to its end', () => {
    expect(() => readCorpusIds('/dev/zero')).toThrow(
      /^\/dev\/zero looks like a binary file \(a NUL byte at offset 0\)/,
    );
  });

  /** Reads `bytes` back through a FIFO that a separate process writes. */
  function throughFifo(name: string, bytes: Buffer, encoding: 'utf8' | 'latin1', chunk: number) {
    const fifo = join(dir, name);
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const source = join(dir, `${name}.src`);
    writeFileSync(source, bytes);
    const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', source, fifo]);
    const exited = new Promise((done) => writer.on('exit', done));
    const decoded = readCorpusIds(fifo, encoding, chunk);
    return { ...decoded, exited };
  }

  const ideographs = String.fromCodePoint(...Array.from({ length: 300 }, (_, i) => 0x4e00 + i));
  it.each([
    ['1-byte ids written over the bytes', MIXED.repeat(200), Uint8Array],
    ['2-byte ids beside them', `${MIXED}${ideographs}`, Uint16Array],
  ])(
    'reads a FIFO to its end, in chunks that cut characters: %s',
    async (_, text, type) => {
      const { vocab, ids, exited } = throughFifo(`${type.name}.fifo`, Buffer.from(text, 'utf8'), 'utf8', 5);
      expect(ids).toBeInstanceOf(type);
      expect(vocab.decode(ids)).toBe(text.slice(1));
      await exited;
    },
    SLOW,
  );

  it(
    'reads Latin-1 from a FIFO, every byte one character',
    async () => {
      const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
      const { vocab, ids, exited } = throughFifo('latin1.fifo', bytes, 'latin1', 7);
      expect(vocab.decode(ids)).toBe(bytes.toString('latin1'));
      await exited;
    },
    SLOW,
  );

  it.each([
    ['/dev/stdin from a pipe', `cat corpus.txt | "$NODE" "$BIN" train /dev/stdin -o stdin.json ${TINY.join(' ')}`],
    ['- from a pipe', `cat corpus.txt | "$NODE" "$BIN" train - -o stdin.json ${TINY.join(' ')}`],
    ['a process substitution', `"$NODE" "$BIN" train <(cat corpus.txt) -o stdin.json ${TINY.join(' ')}`],
  ])(
    'trains on %s',
    (_, script) => {
      writeFileSync(join(dir, 'corpus.txt'), 'the cat sat on the mat. '.repeat(40));
      const result = spawnSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8', env: ENV });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const checkpoint = JSON.parse(readFileSync(join(dir, 'stdin.json'), 'utf8'));
      expect(checkpoint.training.corpus.chars).toBe(960);
      expect(checkpoint.vocab).toEqual([' ', '.', 'a', 'c', 'e', 'h', 'm', 'n', 'o', 's', 't']);
    },
    SLOW,
  );

  it(
    'calls an empty pipe empty',
    () => {
      const result = spawnSync('bash', ['-c', '"$NODE" "$BIN" train <(true)'], {
        cwd: dir,
        encoding: 'utf8',
        env: ENV,
      });
      expect(result.stderr).toMatch(/^charrnn: \/dev\/fd\/\d+ is empty; give a text file with something in it\n$/);
      expect(result.status).toBe(1);
    },
    SLOW,
  );
});

describe('resume and eval', () => {
  it(
    "resume --corpus reads with the run's --encoding latin1",
    () => {
      writeFileSync(join(dir, 'café.txt'), Buffer.from('caf\xe9 au lait, '.repeat(100), 'latin1'));
      expect(run(['train', 'café.txt', '--encoding', 'latin1', '-o', 'latin1.json', ...TINY]).status).toBe(0);
      const resumed = run(['resume', 'latin1.json', '--corpus', 'café.txt', '--iters', '4', '-q']);
      expect(resumed.stderr).toBe('');
      expect(resumed.status).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 'latin1.json'), 'utf8')).training.iteration).toBe(4);
    },
    SLOW,
  );

  it(
    'refuses to evaluate a 1-character or BOM-only text instead of printing NaN',
    async () => {
      writeFileSync(join(dir, 'fox.txt'), 'the quick brown fox jumps over the lazy dog. '.repeat(60));
      expect(run(['train', 'fox.txt', '-o', 'fox.json', ...TINY]).status).toBe(0);
      const model = await LoadedModel.load(join(dir, 'fox.json'), 'js');
      expect(() => model.evaluate('a')).toThrow(/^text is too short to evaluate: it has 1 character/);
      expect(() => model.evaluate(corpusFromText('€', 'one.txt'))).toThrow(/one\.txt: character "€"/);
      expect(model.evaluate(readCorpus(join(dir, 'fox.txt'))).chars).toBe(2699);
      writeFileSync(join(dir, 'one.txt'), 'a');
      writeFileSync(join(dir, 'bom.txt'), '\uFEFF');
      const oneCharacter = run(['eval', 'one.txt', '-c', 'fox.json']);
      expect(oneCharacter.stderr).toMatch(/one\.txt is too short to evaluate: it has 1 character/);
      expect(oneCharacter.status).toBe(1);
      expect(run(['eval', 'bom.txt', '-c', 'fox.json']).stderr).toMatch(/bom\.txt holds only a byte-order mark/);
    },
    SLOW,
  );
});
