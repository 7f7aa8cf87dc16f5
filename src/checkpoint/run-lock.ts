/**
 * One run per checkpoint at a time: a lock file beside the real checkpoint (through symlinks), created
 * exclusively and holding the pid of the run that saves there. A lock whose process is gone (killed with
 * -9, the machine restarted) is taken over.
 */
import { linkSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CharrnnError } from '../errors.js';
import { isRunning, temporaryPath } from './io.js';
import { siblingName } from './sibling-names.js';

export interface RunLock {
  /** Removes the lock files; safe to call more than once. */
  release(): void;
}

/** The file `path` names, through symlinks (its directory's, where it does not exist yet). */
function realFile(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    // Not there yet: its directory exists (prepareOutput made it), unless it was removed since.
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** The lock of a file: `<name>.lock` beside the file itself, not beside a link to it. */
const lockOf = (real: string) => join(dirname(real), siblingName(basename(real), '', '.lock'));

/** The pid a lock file holds, or undefined when it is gone or holds no pid. */
function holderOf(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** File systems without hard links say one of these; there the lock is created empty, then written. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates `lock` holding this process's pid, whole from its first moment (the pid is written to
 * `temporary`, which is then hard-linked to it, so no run ever reads it empty), or false when it exists.
 */
function create(lock: string, temporary: string): boolean {
  try {
    linkSync(temporary, lock);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
  }
  try {
    writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Takes the lock of `real` (the file `path` names) for this process, taking it over from a process that
 * is gone, or says which one holds it. Returns the lock's path.
 */
function take(real: string, path: string): string {
  const lock = lockOf(real);
  // Named as the checkpoint's temporary files are, so a run killed here leaves nothing the next one keeps.
  const temporary = temporaryPath(real, 'lock');
  try {
    writeFileSync(temporary, `${process.pid}\n`);
    // A second try only after removing a lock whose process is gone.
    for (let attempt = 0; !create(lock, temporary); attempt++) {
      const holder = holderOf(lock);
      const alive = holder !== undefined && (holder === process.pid || isRunning(holder));
      if (alive || attempt > 0) {
        throw new CharrnnError(
          `cannot save ${path}: another run (process ${holder ?? 'unknown'}) is saving to it; ` +
            `wait for it to end, or choose another path (${lock} holds its pid)`,
        );
      }
      // Two runs taking over the same stale lock at the very same moment could both remove it and create
      // their own; the window is one unlink and one link, and only after a crash.
      removeFile(lock);
    }
    return lock;
  } catch (error) {
    if (error instanceof CharrnnError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CharrnnError(`cannot save ${path}: cannot create its lock file ${lock} (${code})`);
  } finally {
    removeFile(temporary);
  }
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone (another run took it over first, or it was never made).
  }
}

/**
 * Locks the files a run saves (its checkpoint and best copy) for this process, refusing with one line
 * naming the process that holds one. The locks go when released, and when the process exits by any
 * path Node runs exit handlers on (a second Ctrl-C, an error); after a kill -9 the next run takes them.
 */
export function lockRunOutputs(paths: readonly string[]): RunLock {
  const held: string[] = [];
  const release = () => {
    for (const lock of held.splice(0)) {
      if (holderOf(lock) === process.pid) removeFile(lock);
    }
    process.off('exit', release);
  };
  process.on('exit', release);
  try {
    for (const path of paths) {
      const real = realFile(path);
      if (!held.includes(lockOf(real))) held.push(take(real, path));
    }
  } catch (error) {
    release();
    throw error;
  }
  return { release };
}
