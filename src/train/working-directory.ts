/** Starting worker threads when the working directory has been deleted. */
import { closeSync, existsSync, openSync } from 'node:fs';
import { workingDirectoryExists } from '../checkpoint/io.js';
import { CharrnnError } from '../errors.js';

/** A descriptor open on the (deleted) working directory, by which /proc/self/fd can return to it. */
function holdWorkingDirectory(): number {
  try {
    const descriptor = openSync('.', 'r');
    if (existsSync(`/proc/self/fd/${descriptor}`)) return descriptor;
    closeSync(descriptor);
  } catch {
    // No way back to it: refused below.
  }
  throw new CharrnnError('the working directory was deleted; cd to an existing directory and run it again');
}

/**
 * Runs `start` (which starts worker threads and resolves once they run) even when the working directory
 * was deleted. Node 20 reads the working directory as a worker thread boots (to log it), and the thread
 * dies with "ENOENT, uv_cwd" when that fails, though training by absolute paths needs no working
 * directory. So while the threads boot, the process stands in `/`, then returns to the deleted directory
 * through a descriptor held open on it (Linux's /proc/self/fd), so relative paths mean afterwards what
 * they meant before: nothing. Where there is no /proc, one clear line instead.
 */
export async function startingThreads<T>(start: () => Promise<T>): Promise<T> {
  if (workingDirectoryExists()) return start();
  const descriptor = holdWorkingDirectory();
  const deleted = `/proc/self/fd/${descriptor}`;
  try {
    process.chdir('/');
    try {
      return await start();
    } finally {
      process.chdir(deleted);
    }
  } finally {
    closeSync(descriptor);
  }
}
