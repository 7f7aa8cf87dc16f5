/** Checkpoint files on disk: atomic writes (temporary file, fsync, rename), validated reads. */
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CharrnnError, EXIT } from '../errors.js';
import { openInput, unreadableKind } from '../files/read.js';
import { descriptorSource } from './byte-source.js';
import { checkpointPieces, readCheckpointFrom, type CheckpointFile } from './format.js';
import { writePieces } from './json-writer.js';
import { siblingName } from './sibling-names.js';

const TEMP_SUFFIX = '.tmp';
/** The longest ending a temporary file's name takes after the checkpoint's name: `.<pid>.<8 hex digits>.tmp`. */
const LONGEST_TEMP_ENDING = `.${'9'.repeat(10)}.${'f'.repeat(8)}${TEMP_SUFFIX}`;
const REGULAR_FILE_ADVICE = 'give the path of a regular file or a new one';

/**
 * The directory a write to `path` needed: the one its file goes in (the target's, through a symlink), or
 * where that does not exist yet, its nearest existing ancestor, in which creating it failed.
 */
function writtenDirectory(path: string): string {
  let directory = dirname(path);
  try {
    directory = dirname(writeTarget(path));
  } catch {
    // The symlink went away since it was checked: its own directory is the best guess.
  }
  if (statSync(directory, { throwIfNoEntry: false })) return directory;
  return nearestExisting(directory)?.path ?? directory;
}

/** How a write error names what was written and what to do: a checkpoint's words, or another output's. */
export interface WriteWords {
  /** 'save' (a checkpoint) or 'write'. */
  readonly verb: string;
  /** What a failed write left as it was, in parentheses after the message. */
  readonly untouched: string;
  /** How to choose another path: ' with -o' for a checkpoint, '' where the caller names a directory. */
  readonly choose: string;
}

const CHECKPOINT_WORDS: WriteWords = {
  verb: 'save',
  untouched: 'the previous checkpoint is untouched',
  choose: ' with -o',
};

function describeWriteError(path: string, error: NodeJS.ErrnoException, words: WriteWords): string {
  const { verb, untouched, choose } = words;
  switch (error.code) {
    case 'ENOSPC':
      return `cannot ${verb} ${path}: the disk is full; free some space (${untouched})`;
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return `cannot ${verb} ${path}: ${writtenDirectory(path)} is not writable; choose another place${choose} (${untouched})`;
    case 'ENOENT':
      if (isAbsolute(path) || workingDirectoryExists()) return unexplained(path, error, words);
      return `cannot ${verb} ${path}: the working directory was deleted; give an absolute path, or cd to an existing one`;
    case 'ENAMETOOLONG':
      return `cannot ${verb} ${path}: the name is too long for the file system; choose a shorter one${choose}`;
    case 'EISDIR':
      return `cannot ${verb} ${path}: it is a directory; choose a file name${choose}`;
    case 'ENOTDIR':
      return `cannot ${verb} ${path}: part of the path is not a directory`;
    default:
      return unexplained(path, error, words);
  }
}

function unexplained(path: string, error: NodeJS.ErrnoException, { verb, untouched }: WriteWords): string {
  return `cannot ${verb} ${path}: ${error.code ?? error.message} (${untouched})`;
}

/** Whether the process's working directory still exists (someone may have deleted it while we ran). */
export function workingDirectoryExists(): boolean {
  try {
    process.cwd();
    return true;
  } catch {
    return false;
  }
}

/** What a path is, in words, when it is not a file an output may go to. */
function describeKind(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The nearest existing ancestor of a missing path, so "a parent is a file" can name that parent. */
function nearestExisting(path: string): { path: string; stats: Stats } | undefined {
  for (let ancestor = dirname(path); ; ancestor = dirname(ancestor)) {
    const stats = statSync(ancestor, { throwIfNoEntry: false });
    if (stats) return { path: ancestor, stats };
    if (dirname(ancestor) === ancestor) return undefined;
  }
}

/**
 * Why an output may not go to `path`, or undefined for a regular file (or a symlink to one) and for a
 * new path whose nearest existing ancestor is a directory. Statting never follows into a FIFO's reader.
 */
function outputRefusal(path: string): string | undefined {
  let link: Stats | undefined;
  let stats: Stats | undefined;
  try {
    link = lstatSync(path, { throwIfNoEntry: false });
    stats = statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTDIR') return `cannot use it (${code})`;
  }
  if (!stats) {
    if (link?.isSymbolicLink()) return `it is a symlink to a missing file (${readlinkSync(path)})`;
    const parent = nearestExisting(path);
    return parent && !parent.stats.isDirectory() ? `${parent.path} is a file, not a directory` : undefined;
  }
  const kind = describeKind(stats);
  return kind && `it is ${kind}${link?.isSymbolicLink() ? ' (through a symlink)' : ''}`;
}

/**
 * Refuses an output path that is not a regular file or a new path: a device, a named pipe, a socket, a
 * directory, a dangling symlink, a path under a file (checkRunFiles refuses the run's other files by
 * any name). A symlink to a regular file is accepted, and writes go through to its target. A missing
 * parent directory is fine: preparing the output creates it.
 * Messages name the path, not a flag, so they read the same from the CLI and the library. Throws a
 * CharrnnError; touches nothing on disk. `action` is what is refused: 'save' (a checkpoint) or 'write the log to'.
 */
export function checkOutputPath(path: string, action = 'save'): void {
  if (path === '') throw new CharrnnError(`cannot ${action} an empty path; give a file name`, EXIT.usage);
  if (path === '-' || path.includes('\0')) {
    throw new CharrnnError(`cannot ${action} ${path} (stdout); give a file name`, EXIT.usage);
  }
  const refusal = outputRefusal(path);
  if (refusal) throw new CharrnnError(`cannot ${action} ${path}: ${refusal}; ${REGULAR_FILE_ADVICE}`);
}

/** Where writes to `path` land: through a symlink to its target, so the link stays a link. */
function writeTarget(path: string): string {
  return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ? realpathSync(path) : path;
}

/**
 * Writes the checkpoint so that `path` always holds either the old file or the complete new one:
 * a temporary file in the same directory, fsynced, renamed over the target, then the directory fsynced.
 */
export function writeCheckpointAtomic(path: string, checkpoint: CheckpointFile): void {
  // Checked at every save: a long run must not replace a device or pipe put there since it started.
  const refusal = outputRefusal(path);
  if (refusal) throw new CharrnnError(`cannot save ${path}: ${refusal}; ${REGULAR_FILE_ADVICE}`);
  writeAtomic(path, (descriptor) => writePieces(descriptor, checkpointPieces(checkpoint)), CHECKPOINT_WORDS);
}

/** Writes `bytes` to `path` as writeCheckpointAtomic writes a checkpoint: the old file or the whole new one. */
export function writeFileAtomic(path: string, bytes: Uint8Array, words: WriteWords): void {
  writeAtomic(
    path,
    (descriptor) => {
      for (let written = 0; written < bytes.length; ) written += writeSync(descriptor, bytes, written);
    },
    words,
  );
}

function writeAtomic(path: string, write: (descriptor: number) => void, words: WriteWords): void {
  const target = writeTarget(path);
  const directory = dirname(target);
  const temporary = temporaryPath(target, randomBytes(4).toString('hex'));
  let descriptor: number | undefined;
  try {
    mkdirSync(directory, { recursive: true });
    descriptor = openSync(temporary, 'w');
    write(descriptor);
    fsyncSync(descriptor);
    closeSync(descriptor);
    descriptor = undefined;
    renameSync(temporary, target);
    syncDirectory(directory);
  } catch (error) {
    if (descriptor !== undefined) closeSync(descriptor);
    try {
      unlinkSync(temporary);
    } catch {
      // It may never have been created.
    }
    throw new CharrnnError(describeWriteError(path, error as NodeJS.ErrnoException, words));
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
 * Checks before a long run that `path` may and can be written (see checkOutputPath; creating its
 * directory), so a typo, a device or a read-only place fails in the first second rather than at the first
 * save; removes temporary files left there by a run that was killed mid-write.
 */
export function prepareOutput(path: string, words = CHECKPOINT_WORDS): void {
  checkOutputPath(path, words.verb);
  const target = writeTarget(path);
  const directory = dirname(target);
  const probe = temporaryPath(target, 'probe');
  try {
    mkdirSync(directory, { recursive: true });
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
  } catch (error) {
    throw new CharrnnError(describeWriteError(path, error as NodeJS.ErrnoException, words));
  }
  removeStaleTemporaries(target);
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A temporary file beside `target`: `.<name>.<pid>.<tag>.tmp`, the name shortened where a legal long name
 * would make it too long for the file system, as removeStaleTemporaries expects.
 */
export function temporaryPath(target: string, tag: string, pid = process.pid): string {
  const ending = `.${pid}.${tag}${TEMP_SUFFIX}`;
  return join(dirname(target), siblingName(basename(target), '.', ending, LONGEST_TEMP_ENDING));
}

function removeStaleTemporaries(path: string): void {
  const prefix = siblingName(basename(path), '.', '.', LONGEST_TEMP_ENDING);
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

/**
 * Reads and validates a checkpoint file, or stdin for '-' (to its end, however slowly it comes), a
 * buffer at a time. A named device is refused: /dev/zero never ends, a terminal waits for a person.
 */
export function readCheckpoint(path: string): CheckpointFile {
  const input = openInput(path, (code) =>
    code === 'ENOENT'
      ? `${path}: no such checkpoint; train one with charrnn train CORPUS, or check the path`
      : `${path}: cannot read it (${code})`,
  );
  try {
    const kind = input.stdin ? undefined : unreadableKind(input.stats);
    if (kind === 'a directory') throw new CharrnnError(`${path} is a directory, not a checkpoint file`);
    if (kind) throw new CharrnnError(`${path} is ${kind}, not a checkpoint file; give the path of a checkpoint`);
    const source = input.stdin ? 'stdin' : path;
    return readCheckpointFrom(descriptorSource(input.fd, input.stats, source), source);
  } finally {
    input.close();
  }
}

/** Where a run keeps its best checkpoint by validation loss: `<name>.best.json` beside `<name>.json`. */
export function bestPath(output: string): string {
  return output.endsWith('.json') ? `${output.slice(0, -5)}.best.json` : `${output}.best.json`;
}

/**
 * Removes the best checkpoint an earlier run left beside the path a new run now saves to (nothing when
 * there is none), so that choosing the newest run's best never picks another run's weights.
 */
export function removeStaleBest(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new CharrnnError(
      `cannot remove ${path}, the best checkpoint of an earlier run (${code ?? String(error)}); ` +
        'remove it by hand, or sample and eval may take it for this run',
    );
  }
}

/**
 * The checkpoint to use when none is named: the newest run in `directory` (its most recently written
 * `<name>.json`), and of that run the best by validation (`<name>.best.json`) where there is one. A
 * best copy beside a run's checkpoint is that run's own: a run's first save removes an earlier run's.
 */
export function newestRunCheckpoint(directory: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return undefined;
  }
  const written = (name: string) => statSync(join(directory, name), { throwIfNoEntry: false });
  // Hidden names count too (`.notes.json`); temporary files end in .tmp, not .json.
  const checkpoints = names.filter((name) => name.endsWith('.json') && written(name)?.isFile());
  const runs = checkpoints.filter((name) => !name.endsWith('.best.json'));
  const newest = (list: string[]) =>
    list.reduce<string | undefined>(
      (best, name) => (best && written(best)!.mtimeMs >= written(name)!.mtimeMs ? best : name),
      undefined,
    );
  const run = newest(runs) ?? newest(checkpoints);
  if (run === undefined) return undefined;
  const best = bestPath(run);
  return checkpoints.includes(best) ? join(directory, best) : join(directory, run);
}
