/** Reading a corpus: a file or stdin, decoded as strict UTF-8 (or Latin-1 on request). */
import { readFileSync, statSync } from 'node:fs';
import { CharrnnError } from '../errors.js';

export type Encoding = 'utf8' | 'latin1';
export const ENCODINGS: readonly Encoding[] = ['utf8', 'latin1'];

/** The bytes of `path`, or of stdin for '-'. */
export function readCorpusBytes(path: string): Buffer {
  if (path === '-') {
    const bytes = readFileSync(0);
    if (bytes.length === 0) throw new CharrnnError('stdin is empty; pipe a text in, e.g. cat notes.txt | charrnn train -');
    return bytes;
  }
  let size: number;
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) throw new CharrnnError(`${path} is a directory; give a text file (to train on many files: cat DIR/*.txt | charrnn train -)`);
    size = stats.size;
  } catch (error) {
    if (error instanceof CharrnnError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CharrnnError(`${path}: no such file; check the path`);
    throw new CharrnnError(`${path}: cannot read it (${code ?? String(error)})`);
  }
  if (size === 0) throw new CharrnnError(`${path} is empty; give a text file with something in it`);
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CharrnnError(`${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/**
 * Decodes corpus bytes. UTF-8 is strict: the first invalid byte is reported by offset (a NUL byte as a
 * sign of a binary file). A leading byte-order mark is dropped.
 */
export function decodeCorpus(bytes: Buffer, source: string, encoding: Encoding = 'utf8'): string {
  if (encoding === 'latin1') return bytes.toString('latin1');
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const nul = bytes.indexOf(0, start);
  if (nul >= 0) throw new CharrnnError(`${source} looks like a binary file (a NUL byte at offset ${nul}); give a text file`);
  const bad = firstInvalidUtf8(bytes, start);
  if (bad >= 0) throw new CharrnnError(`${source}: invalid UTF-8 at byte offset ${bad} (0x${bytes[bad]!.toString(16).padStart(2, '0')}); convert it to UTF-8, or pass --encoding latin1 to read every byte as one character`);
  return bytes.toString('utf8', start);
}

/**
 * Offset of the first byte of the first sequence that is not well-formed UTF-8 (RFC 3629), or −1.
 * Like Python's decoder, it names where the bad sequence starts: in Latin-1 "café" that is the é.
 */
export function firstInvalidUtf8(bytes: Uint8Array, start = 0): number {
  const length = bytes.length;
  let i = start;
  while (i < length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    let needed: number;
    let min = 0x80;
    let max = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) needed = 1;
    else if (lead === 0xe0) [needed, min] = [2, 0xa0]; // no overlongs
    else if (lead === 0xed) [needed, max] = [2, 0x9f]; // no surrogates
    else if (lead >= 0xe1 && lead <= 0xef) needed = 2;
    else if (lead === 0xf0) [needed, min] = [3, 0x90];
    else if (lead >= 0xf1 && lead <= 0xf3) needed = 3;
    else if (lead === 0xf4) [needed, max] = [3, 0x8f]; // ≤ U+10FFFF
    else return i;
    if (i + needed >= length) return i;
    const second = bytes[i + 1]!;
    if (second < min || second > max) return i;
    for (let k = 2; k <= needed; k++) {
      const next = bytes[i + k]!;
      if (next < 0x80 || next > 0xbf) return i;
    }
    i += needed + 1;
  }
  return -1;
}
