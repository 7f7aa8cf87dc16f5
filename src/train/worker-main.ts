/** The script of a training worker thread (bundled as dist/worker.js): serves its part of each step until stopped. */
import { runStepWorker } from './step-worker.js';

runStepWorker();
