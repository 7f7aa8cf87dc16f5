/** What train and resume share: signals, rendering, and the closing line. */
import type { TrainEvent, TrainSummary } from '../train/events.js';
import { DEFAULT_MASTER_PORT } from '../train/options.js';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkOutputPath } from '../checkpoint/io.js';
import { type KernelChoice, nativeUnavailableReason } from '../core/backend.js';
import { CharrnnError, EXIT } from '../errors.js';
import { TrainingReporter, type LogFile } from './progress.js';
import {
  createTerminal,
  escapeControls,
  formatCount,
  formatDuration,
  shellQuote,
  StdoutWriter,
  type Terminal,
} from './terminal.js';

export interface OutputFlags {
  /** The kernels asked for: under auto, a run that could not have the native ones says why. */
  kernel?: KernelChoice;
  json: boolean;
  log?: string;
  quiet: boolean;
  color: boolean;
  'print-every': number;
  /** With --nnodes: a machine other than 0 reports only that it joined and finished (machine 0 writes). */
  'node-rank'?: number;
  nnodes?: number;
  'master-addr'?: string;
  'master-port'?: number;
}

/** Where a run's events go and what stops it. */
export interface SessionEvents {
  onEvent: (event: TrainEvent) => void;
  signal: AbortSignal;
}

export interface TrainingSession {
  /** Runs `train` with the session's events; renders its end, or leaves no listener behind when it throws. */
  run(train: (events: SessionEvents) => Promise<TrainSummary>): Promise<void>;
}

/**
 * Opens --log for appending. The run's start event calls it: by then the library has checked the options
 * and every file the run reads and writes (the log among them), so a refused run never creates its log.
 */
function openLog(path: string): LogFile {
  try {
    mkdirSync(dirname(path), { recursive: true });
    return { descriptor: openSync(path, 'a'), path };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CharrnnError(`--log ${path}: cannot write it (${code})`);
  }
}

/** Where auto could not use the native kernels: why, and how to get their speed (sample and eval stay quiet). */
function tellNativeFallback(terminal: Terminal, kernel: string): void {
  const reason = nativeUnavailableReason();
  if (kernel.startsWith('native-') || reason === null) return;
  terminal.info(
    `note: ${reason}, so this run computes with ${kernel}, about 2-4x slower; for native speed, ` +
      'build them where a C compiler is installed (gcc or clang): npm run build',
  );
}

/** The signals that stop a run after its step, saving: Ctrl-C, kill, and the terminal closing (SIGHUP). */
const STOPPING_SIGNALS = {
  SIGINT: { code: EXIT.interrupted, what: 'interrupted' },
  SIGTERM: { code: EXIT.terminated, what: 'terminated' },
  SIGHUP: { code: EXIT.hungUp, what: 'hung up' },
} as const;
type StoppingSignal = keyof typeof STOPPING_SIGNALS;
const SIGNAL_NAMES = Object.keys(STOPPING_SIGNALS) as StoppingSignal[];

/**
 * Ctrl-C / SIGTERM / SIGHUP finish the current step and save; a second signal exits at once (writes are atomic).
 * Losing an output stops the run the same way, so no work is lost: a reader of --json that leaves ends
 * it quietly (exit 0); a --log or stdout that cannot be written ends it with one line and exit 1.
 */
export function startTrainingSession(flags: OutputFlags): TrainingSession {
  const terminal = createTerminal({ quiet: flags.quiet, color: flags.color });
  // What the log may not be (a device, a pipe, a directory), told before anything else is read.
  if (flags.log !== undefined) checkOutputPath(flags.log, 'write the log to');
  let log: LogFile | undefined;
  const controller = new AbortController();
  let exitCode: number = EXIT.interrupted;
  let outputFailed = false;
  /** Stops after this step and saves; `failed` makes the exit status 1 (else a reader that left: 0). */
  const stopForLostOutput = (failed: boolean) => {
    outputFailed ||= failed;
    if (controller.signal.aborted) return;
    exitCode = failed ? EXIT.runtime : EXIT.ok;
    controller.abort();
  };
  const reporter = new TrainingReporter(terminal, new StdoutWriter(), {
    json: flags.json,
    printEvery: Math.max(1, flags['print-every']),
    onOutputLost: ({ message }) => {
      if (message !== null) reporter.message(`charrnn: ${message}; stopping after this step to save the checkpoint`);
      stopForLostOutput(message !== null);
    },
  });
  // Messages cannot be shown once stderr fails (2>&1 | head, 2>/dev/full), but the run still saves. The
  // listener stays for the life of the process: the closing line is written, and fails, after finish().
  const onStderrError = (error: NodeJS.ErrnoException) => stopForLostOutput(error.code !== 'EPIPE');
  process.stderr.on('error', onStderrError);
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCode);
    const { code, what } = STOPPING_SIGNALS[signal as StoppingSignal];
    exitCode = code;
    // On a terminal the notice starts below the ^C it echoed; in a pipe or a file there is no such line to leave.
    const belowEcho = process.stderr.isTTY ? '\n' : '';
    reporter.message(`${belowEcho}${what}: finishing this step and saving (press Ctrl-C again to quit at once)`);
    controller.abort();
  };
  for (const signal of SIGNAL_NAMES) process.on(signal, onSignal);
  const machine = flags['node-rank'] ?? 0;
  const meeting = `${flags['master-addr'] ?? '127.0.0.1'}:${flags['master-port'] ?? DEFAULT_MASTER_PORT}`;
  const machineName = `node ${machine} of ${flags.nnodes ?? 1}`;
  const onEvent = (event: TrainEvent) => {
    if (machine > 0) {
      // Only the start event reaches a machine other than 0: the options were checked and every rank joined.
      terminal.info(`${machineName}: joined the run at ${meeting}; node 0 writes the checkpoints and reports`);
      return;
    }
    if (event.event === 'start' && flags.log !== undefined) {
      log = openLog(flags.log);
      reporter.appendTo(log);
    }
    if (event.event === 'start' && event.engine === 'charrnn' && (flags.kernel ?? 'auto') === 'auto') {
      tellNativeFallback(terminal, event.kernel);
    }
    reporter.handle(event);
  };
  const close = () => {
    for (const signal of SIGNAL_NAMES) process.off(signal, onSignal);
    if (log) closeSync(log.descriptor);
  };
  const finish = (summary: TrainSummary) => {
    close();
    if (machine > 0) {
      terminal.info(
        `${machineName}: finished at iteration ${summary.iterations} (${summary.reason}); ` +
          `node 0 wrote the checkpoint and the reports`,
      );
      process.exitCode = summary.reason === 'interrupted' ? exitCode : EXIT.ok;
      return;
    }
    const val = summary.val_bpc === null ? '' : `, validation ${summary.val_bpc.toFixed(3)} bpc`;
    const speed = `${formatCount(summary.chars_per_s)} chars/s over ${formatDuration(summary.seconds)}`;
    const stats = `${summary.iterations} iterations${val}, ${speed}`;
    if (summary.reason === 'interrupted') {
      const resume = `charrnn resume ${shellQuote(summary.checkpoint)}`;
      const saved = `saved ${escapeControls(summary.checkpoint)} (continue with: ${resume})`;
      const stopped = `stopped at iteration ${summary.iterations}; ${saved}`;
      if (exitCode === EXIT.ok) terminal.info(stopped);
      else process.stderr.write(`${stopped}\n`);
      process.exitCode = exitCode;
    } else {
      terminal.info(`done: ${stats}; saved ${escapeControls(summary.checkpoint)}`);
      // An output that failed during the last step's reports still fails the run.
      if (outputFailed) process.exitCode = EXIT.runtime;
    }
  };
  return {
    async run(train) {
      let summary: TrainSummary;
      try {
        summary = await train({ onEvent, signal: controller.signal });
      } catch (error) {
        close();
        process.stderr.off('error', onStderrError);
        throw error;
      }
      finish(summary);
    },
  };
}
