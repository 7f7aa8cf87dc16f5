/**
 * The PyTorch engine's Node side: one step server (torch-engine/charrnn_torch.py) per rank of this
 * machine, spawned with MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE and LOCAL_RANK, each sent every
 * command over its stdin and answering on its stdout (engine-frames.ts); its stderr's last line is kept
 * for the one line a failure shows. Each rank trains its contiguous share of the batch's streams; the
 * global rank 0 hands the state back. A rank that exits unexpectedly or answers with an error ends the
 * run: its line, the other ranks killed.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { CarriedState } from '../core/layers/layer.js';
import type { CharModel } from '../core/model.js';
import { BUFFER_NAMES, Optimizer, type OptimizerState } from '../core/optim.js';
import type { StreamBatcher } from '../data/batches.js';
import type { TokenIds } from '../data/vocab.js';
import { CharrnnError } from '../errors.js';
import type { Agreement, PullRequest, StepRequest, StepResult, TrainingEngine } from './engine.js';
import { encodeFrame, type Frame, FrameReader, type FrameBuffer } from './engine-frames.js';
import type { EvalResult } from './evaluate.js';
import type { StopReason } from './events.js';
import type { TorchDevice, TrainOptions } from './options.js';
import { lastLineOf, type TorchPython, torchEngineScript } from './python.js';
import { type Learner, optimizerOptionsOf } from './run-state.js';

/** Where the run's processes are: this machine's ranks among every machine's. */
export interface TorchWorld {
  /** Processes on each machine. */
  processes: number;
  machines: number;
  /** This machine's index; machine 0 holds rank 0. */
  machine: number;
  masterAddr: string;
  masterPort: number;
}

/** What the PyTorch engine starts from. */
export interface TorchStart {
  python: TorchPython;
  device: TorchDevice;
  /** Threads per process. */
  threads: number;
  world: TorchWorld;
  model: CharModel;
  options: TrainOptions;
  learner: Learner;
  /** The carried state of every stream (a resumed run's), or null for zeros. */
  carried: CarriedState[] | null;
  /** The training text's streams: each rank gets a copy of its own. */
  batcher: StreamBatcher;
  validationIds: TokenIds;
}

/** How long a collective may wait for a rank (gloo's default is half an hour); a dead local rank is seen at once. */
const COLLECTIVE_TIMEOUT_SECONDS = 120;

/** The stop codes of `agree`: none, then StopReason in the order the largest wins. */
const STOP_CODES: readonly (StopReason | null)[] = [null, 'finished', 'interrupted', 'time'];

/** One rank: its process, its replies in order, and the last line it wrote on stderr. */
class RankProcess {
  private readonly replies: { resolve: (reply: Frame) => void; reject: (error: Error) => void }[] = [];
  private readonly reader = new FrameReader();
  private stderrTail = '';
  private failure: CharrnnError | null = null;
  private closing = false;
  /** Set once its init is answered: a failure after it loses a step, before it the run never started. */
  started = false;

  constructor(
    readonly rank: number,
    private readonly child: ChildProcessWithoutNullStreams,
    /** Whether this machine writes the checkpoints (machine 0): a failure then says the last one is intact. */
    private readonly writesCheckpoints: boolean,
    private readonly onFailure: (rank: RankProcess) => void,
  ) {
    child.stdout.on('data', (chunk: Buffer) => {
      for (const frame of this.readFrames(chunk)) this.replies.shift()?.resolve(frame);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-4000);
    });
    // A rank that died is told by 'exit'; writing to it meanwhile fails harmlessly.
    child.stdin.on('error', () => {});
    child.on('error', (error) => this.fail(`cannot run it (${(error as NodeJS.ErrnoException).code ?? error})`));
    child.on('close', (code, signal) => {
      if (this.closing && code === 0) return;
      this.fail(lastLineOf(this.stderrTail) || (signal ? `killed by ${signal}` : `exit status ${code}`));
    });
  }

  private readFrames(chunk: Buffer): Frame[] {
    try {
      return this.reader.push(chunk);
    } catch (error) {
      this.fail(`its reply is not a message (${(error as Error).message})`);
      return [];
    }
  }

  /** Sends a command; resolves to the rank's reply. */
  request(header: Record<string, unknown>, buffers?: Record<string, FrameBuffer>): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    const reply = new Promise<Frame>((resolve, reject) => this.replies.push({ resolve, reject }));
    this.child.stdin.write(encodeFrame(header, buffers));
    return reply.then((frame) => {
      if (frame.header.ok === true) return frame;
      const message = typeof frame.header.error === 'string' ? frame.header.error : JSON.stringify(frame.header);
      throw this.fail(message);
    });
  }

  /** Records why this rank stopped (the first reason), fails what waits on it, and tells the engine. */
  fail(reason: string): CharrnnError {
    if (this.failure) return this.failure;
    const saved = this.writesCheckpoints && this.started;
    const consequence = saved ? '; nothing from this step was saved, the last checkpoint is intact' : '';
    this.failure = new CharrnnError(`the PyTorch engine stopped (rank ${this.rank}): ${reason}${consequence}`);
    for (const waiting of this.replies.splice(0)) waiting.reject(this.failure);
    this.onFailure(this);
    return this.failure;
  }

  /** Ends the process: closing its stdin lets it exit by itself; `kill` does not wait. */
  stop(kill: boolean): void {
    this.closing = true;
    if (kill) this.child.kill('SIGKILL');
    else this.child.stdin.end();
  }
}

/** The first stream of each rank's contiguous share of the batch, then the batch size. */
function streamStarts(batch: number, ranks: number): number[] {
  return Array.from({ length: ranks + 1 }, (_, rank) => Math.round((rank * batch) / ranks));
}

export class TorchEngine implements TrainingEngine {
  readonly kind = 'torch';

  private constructor(
    private readonly ranks: RankProcess[],
    private readonly start: TorchStart,
    readonly device: string,
    readonly description: string,
    readonly threads: number,
  ) {}

  get processes(): number {
    return this.start.world.processes * this.start.world.machines;
  }

  /**
   * Starts this machine's ranks and hands each the model, optimizer, carried state and its streams of the text;
   * resolves once all are ready.
   */
  static async create(start: TorchStart): Promise<TorchEngine> {
    const { world, python, options } = start;
    const worldSize = world.processes * world.machines;
    const starts = streamStarts(options.batch, worldSize);
    const script = torchEngineScript();
    const ranks: RankProcess[] = [];
    const stopAll = () => {
      for (const rank of ranks) rank.stop(true);
    };
    for (let localRank = 0; localRank < world.processes; localRank++) {
      const rank = world.machine * world.processes + localRank;
      const environment = {
        ...process.env,
        MASTER_ADDR: world.masterAddr,
        MASTER_PORT: String(world.masterPort),
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(localRank),
      };
      const child = spawn(python.path, [script], { env: environment, stdio: ['pipe', 'pipe', 'pipe'] });
      ranks.push(new RankProcess(rank, child, world.machine === 0, stopAll));
    }
    try {
      const replies = await Promise.all(
        ranks.map((rank, localRank) => rank.request(...initMessage(start, starts, localRank, worldSize))),
      );
      await Promise.all(ranks.map((rank) => sendTrainingIds(rank, start.batcher, starts)));
      for (const rank of ranks) rank.started = true;
      const first = replies[0]!.header;
      const device = String(first.device);
      const engine = new TorchEngine(
        ranks,
        start,
        device,
        `torch ${String(first.torch)} ${device}`,
        Number(first.threads),
      );
      return engine;
    } catch (error) {
      stopAll();
      throw error;
    }
  }

  private get isFirstMachine(): boolean {
    return this.start.world.machine === 0;
  }

  /** Sends one command to every rank of this machine; resolves to their replies once all have answered. */
  private onAllRanks(header: Record<string, unknown>): Promise<Frame[]> {
    return Promise.all(this.ranks.map((rank) => rank.request(header)));
  }

  /** Each rank trains the chunk from its copy of the text on its device; the reply is the step before's result. */
  async step({ chunk, learningRate, resetState, dropoutRng }: StepRequest): Promise<StepResult[]> {
    const dropoutSeed = dropoutRng ? dropoutRng.nextUint32() : null;
    const replies = await this.onAllRanks({ cmd: 'step', chunk, lr: learningRate, resetState, dropoutSeed });
    return resultsOf(replies[0]!);
  }

  async settle(): Promise<StepResult[]> {
    return resultsOf((await this.onAllRanks({ cmd: 'settle' }))[0]!);
  }

  async evaluate(_ids: TokenIds): Promise<EvalResult> {
    // The ranks hold the validation ids since init: they are the same every time.
    const replies = await this.onAllRanks({ cmd: 'evaluate' });
    const { chars, loss } = replies[0]!.header;
    const mean = finiteOrNaN(loss);
    return { chars: Number(chars), loss: mean, bpc: mean / Math.LN2 };
  }

  async agree(stop: StopReason | null, scheduleLength: number | null): Promise<Agreement> {
    if (this.processes === 1) return { stop, scheduleLength };
    // Rank 0's clock sizes a --time schedule: the others send -1 and take its length.
    const replies = await Promise.all(
      this.ranks.map((rank) =>
        rank.request({
          cmd: 'agree',
          stop: STOP_CODES.indexOf(stop),
          scheduleLength: rank.rank === 0 ? (scheduleLength ?? -1) : -1,
        }),
      ),
    );
    const agreed = replies[0]!.header;
    const length = Number(agreed.scheduleLength);
    return { stop: STOP_CODES[Number(agreed.stop)] ?? null, scheduleLength: length > 0 ? length : null };
  }

  async pull({ optimizer, carried }: PullRequest): Promise<CarriedState[] | null> {
    const replies = await this.onAllRanks({ cmd: 'state', optimizer, carried });
    if (!this.isFirstMachine) return null;
    const { buffers, header } = replies[0]!;
    const { model, learner, options } = this.start;
    model.parameters.set(buffers.get('parameters')!);
    if (optimizer) {
      const state = optimizerStateOf(options, model, Number(header.step), buffers);
      learner.optimizer = Optimizer.fromState(optimizerOptionsOf(options), model.layout, state);
    }
    if (!carried) return null;
    return Array.from({ length: options.layers }, (_, layer) => {
      const h = buffers.get(`carried_h_l${layer}`) as Float32Array;
      const c = buffers.get(`carried_c_l${layer}`) as Float32Array | undefined;
      return c ? { h, c } : { h };
    });
  }

  close(): void {
    for (const rank of this.ranks) rank.stop(false);
  }
}

/** The init command for one rank: the model, optimizer, clip, its streams and the world; the state as buffers. */
function initMessage(
  start: TorchStart,
  starts: number[],
  localRank: number,
  worldSize: number,
): [Record<string, unknown>, Record<string, FrameBuffer>] {
  const { options, model, learner, world, carried, validationIds } = start;
  const rank = world.machine * world.processes + localRank;
  const saved = learner.optimizer.state();
  const header = {
    cmd: 'init',
    model: model.config,
    optimizer: { kind: options.optimizer, momentum: options.momentum, step: saved.step },
    clip: options.clip,
    clipValue: options.clipValue,
    batch: options.batch,
    seqLength: options.seqLength,
    streamLength: start.batcher.streamLength,
    streams: [starts[rank], starts[rank + 1]],
    device: start.device,
    threads: start.threads,
    world:
      worldSize === 1
        ? null
        : {
            rank,
            worldSize,
            localRank,
            masterAddr: world.masterAddr,
            masterPort: world.masterPort,
            timeoutSeconds: COLLECTIVE_TIMEOUT_SECONDS,
          },
  };
  const buffers: Record<string, FrameBuffer> = { parameters: model.parameters };
  if (saved.step > 0) {
    for (const name of BUFFER_NAMES[options.optimizer]) buffers[name] = inLayout(model, saved.buffers[name]!);
  }
  const size = options.batch * options.hidden;
  for (let layer = 0; layer < options.layers; layer++) {
    buffers[`carried_h_l${layer}`] = carried?.[layer]?.h ?? new Float32Array(size);
    if (options.cell === 'lstm') buffers[`carried_c_l${layer}`] = carried?.[layer]?.c ?? new Float32Array(size);
  }
  buffers.validation = Int32Array.from(validationIds);
  return [header, buffers];
}

/** Ids per `corpus` command: a large text goes in pieces, so that no message holds gigabytes. */
const CORPUS_PIECE = 1 << 24;

/** Sends a rank the ids of its streams, once: it keeps them on its device and reads each chunk there. */
async function sendTrainingIds(rank: RankProcess, batcher: StreamBatcher, starts: number[]): Promise<void> {
  const ids = batcher.streamIds(starts[rank.rank]!, starts[rank.rank + 1]!);
  for (let offset = 0; offset < ids.length; offset += CORPUS_PIECE) {
    const piece = Int32Array.from(ids.subarray(offset, offset + CORPUS_PIECE));
    await rank.request({ cmd: 'corpus', offset }, { ids: piece });
  }
}

/** The finished steps' results a reply lists, oldest first. */
function resultsOf({ header }: Frame): StepResult[] {
  const results = header.results as [unknown, unknown][];
  return results.map(([loss, norm]) => ({ loss: finiteOrNaN(loss), norm: finiteOrNaN(norm) }));
}

/** Per-tensor views of flat buffers, as checkpoints hold the optimizer state (an absent buffer: zeros). */
function optimizerStateOf(
  options: TrainOptions,
  model: CharModel,
  step: number,
  buffers: Map<string, FrameBuffer>,
): OptimizerState {
  const perTensor = (flatBuffer: Float32Array) =>
    model.layout.tensors.map(({ offset, size }) => flatBuffer.subarray(offset, offset + size));
  const names = BUFFER_NAMES[options.optimizer];
  const state = names.map((name) => {
    const data = (buffers.get(name) as Float32Array | undefined) ?? new Float32Array(model.layout.size);
    return [name, perTensor(data)] as const;
  });
  return { kind: options.optimizer, step, buffers: Object.fromEntries(state) };
}

/** Per-tensor buffers in one flat buffer with the parameters' layout (the engine's replies keep it). */
function inLayout(model: CharModel, tensors: Float32Array[]): Float32Array {
  const joined = new Float32Array(model.layout.size);
  for (const [i, { offset }] of model.layout.tensors.entries()) joined.set(tensors[i]!, offset);
  return joined;
}

/** A reply's number; null (JSON has no NaN) is NaN. */
const finiteOrNaN = (value: unknown): number => (typeof value === 'number' ? value : NaN);
