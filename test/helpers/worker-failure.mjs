/**
 * A preload that makes a training worker thread die, for the tests of what the main thread does then:
 *   CHARRNN_WORKER_FAILURE='exit 15' node --import ./test/helpers/worker-failure.mjs bin/charrnn train ...
 * makes each worker thread call process.exit(7) (or, with 'throw 15', throw) when its 15th request arrives.
 *
 * How it gets in without production code knowing: node gives a worker thread the process's execArgv, so
 * `--import` runs this module first in the main thread and again in every worker, before the worker's
 * script. There it wraps Atomics.wait, the one call a worker makes to wait for its next request (the
 * requests come through shared memory, not messages): a wait after which the watched slot no longer
 * holds the value waited on means a new request, and the Nth one fails instead of being served. The
 * worker dies with the request unserved, as a bug or a crash would leave it, while the main thread waits.
 * Counting requests rather than reading their kind keeps this file ignorant of the control block's layout;
 * with validation off a training step is two requests (forward-backward, then gradients).
 */
import { isMainThread } from 'node:worker_threads';

const setting = process.env.CHARRNN_WORKER_FAILURE ?? '';
const match = /^(exit|throw) ([1-9]\d*)$/.exec(setting);
if (!match) throw new Error(`CHARRNN_WORKER_FAILURE must be 'exit N' or 'throw N', not '${setting}'`);
const [, how, at] = match;

if (!isMainThread) {
  const wait = Atomics.wait.bind(Atomics);
  let requests = 0;
  Atomics.wait = (array, index, value, timeout) => {
    const result = wait(array, index, value, timeout);
    if (Atomics.load(array, index) !== value && ++requests === Number(at)) {
      if (how === 'exit') process.exit(7);
      throw new Error(`test failure in a worker at request ${at}`);
    }
    return result;
  };
}
