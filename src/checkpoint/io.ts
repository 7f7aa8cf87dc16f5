/** Checkpoint files on disk: atomic writes (temporary file, fsync, rename), validated reads. */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CharrnnError } from '../errors.js';
import { parseCheckpoint, serializeCheckpoint, type Checkpoint } from './format.js';

const TEMP_SUFFIX = '.tmp';

function describeWriteError(path: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOSPC':
      return `cannot save ${path}: the disk is full; free some space (the previous checkpoint is untouched)`;
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return `cannot save ${path}: ${dirname(path)} is not writable; choose another place with -o (the previous checkpoint is untouched)`;
    case 'EISDIR':
      return `cannot save ${path}: it is a directory; choose a file name with -o`;
    case 'ENOTDIR':
      return `cannot save ${path}: part of the path is not a directory`;
    default:
      return `cannot save ${path}: ${error.code ?? error.message} (the previous checkpoint is untouched)`;
  }
}

/**
 * Writes the checkpoint so that `path` always holds either the old file or the complete new one:
 * a temporary file in the same directory, fsynced, renamed over the target, then the directory fsynced.
 */
export function writeCheckpointAtomic(path: string, checkpoint: Checkpoint): void {
  const text = serializeCheckpoint(checkpoint);
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  let descriptor: number | undefined;
  try {
    mkdirSync(directory, { recursive: true });
    if (existsSync(path) && statSync(path).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    descriptor = openSync(temporary, 'w');
    const bytes = Buffer.from(text, 'utf8');
    for (let written = 0; written < bytes.length; ) written += writeSync(descriptor, bytes, written, bytes.length - written);
    fsyncSync(descriptor);
    closeSync(descriptor);
    descriptor = undefined;
    renameSync(temporary, path);
    syncDirectory(directory);
  } catch (error) {
    if (descriptor !== undefined) closeSync(descriptor);
    try {
      unlinkSync(temporary);
    } catch {
      // It may never have been created.
    }
    throw new CharrnnError(describeWriteError(path, error as NodeJS.ErrnoException));
  }
}

function syncDirectory(directory: string): void {
  try {
    const descriptor = openSync(directory, 'r');
    try {
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
  } catch {
    // Some file systems refuse fsync on directories; the rename itself is still atomic.
  }
}

/**
 * Checks before a long run that `path` can be written (creating its directory), so a typo or a
 * read-only place fails in the first second rather than at the first save; removes temporary files
 * left there by a run that was killed mid-write.
 */
export function prepareOutput(path: string): void {
  const directory = dirname(path);
  const probe = join(directory, `.${basename(path)}.${process.pid}.probe${TEMP_SUFFIX}`);
  try {
    mkdirSync(directory, { recursive: true });
    if (existsSync(path) && statSync(path).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
  } catch (error) {
    throw new CharrnnError(describeWriteError(path, error as NodeJS.ErrnoException));
  }
  removeStaleTemporaries(path);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeStaleTemporaries(path: string): void {
  const prefix = `.${basename(path)}.`;
  for (const name of readdirSync(dirname(path))) {
    if (!name.startsWith(prefix) || !name.endsWith(TEMP_SUFFIX)) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !isRunning(pid)) {
      try {
        unlinkSync(join(dirname(path), name));
      } catch {
        // Another run may have cleaned it up first.
      }
    }
  }
}

export function readCheckpoint(path: string): Checkpoint {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new CharrnnError(`${path} is a directory, not a checkpoint file`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof CharrnnError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CharrnnError(`${path}: no such checkpoint; train one with charrnn train CORPUS, or check the path`);
    throw new CharrnnError(`${path}: cannot read it (${code ?? String(error)})`);
  }
  return parseCheckpoint(text, path);
}

/** The most recently written checkpoint (*.json) in `directory`, if any. */
export function latestCheckpoint(directory: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return undefined;
  }
  let newest: { path: string; time: number } | undefined;
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const path = join(directory, name);
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats?.isFile() && (!newest || stats.mtimeMs > newest.time)) newest = { path, time: stats.mtimeMs };
  }
  return newest?.path;
}
