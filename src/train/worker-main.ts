/** The script of a training worker thread (bundled as dist/worker.js): serves its shards until stopped. */
import { runShardWorker } from './shard-worker.js';

runShardWorker();
