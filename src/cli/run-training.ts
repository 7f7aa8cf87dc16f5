/** What train and resume share: signals, rendering, and the closing line. */
import type { TrainEvent, TrainSummary } from '../train/events.js';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { bestPath, checkOutputPath, samePath } from '../checkpoint/io.js';
import { CharrnnError, EXIT } from '../errors.js';
import { TrainingReporter, type LogFile } from './progress.js';
import { createTerminal, escapeControls, formatCount, formatDuration, shellQuote, StdoutWriter } from './terminal.js';

export interface OutputFlags {
  json: boolean;
  log?: string;
  quiet: boolean;
  color: boolean;
  'print-every': number;
  /** The corpus path as given (train's CORPUS, resume's --corpus), so --log can refuse it. */
  corpus?: string;
}

/** The checkpoint the run saves to, so --log can refuse it (and its best copy): each save would replace the log. */
export interface SessionPaths {
  checkpoint: string;
}

export interface TrainingSession {
  onEvent: (event: TrainEvent) => void;
  signal: AbortSignal;
  finish(summary: TrainSummary): void;
}

/** Opens --log for appending, after refusing what it may not be (a device, a pipe, the corpus, a checkpoint). */
function openLog(path: string | undefined, corpusPath: string | undefined, checkpoint: string): LogFile | undefined {
  if (path === undefined) return undefined;
  checkOutputPath(path, { action: 'write the log to', corpusPath });
  for (const saved of [checkpoint, bestPath(checkpoint)]) {
    if (samePath(path, saved)) {
      throw new CharrnnError(
        `cannot write the log to ${path}: it is where the run saves ${saved === checkpoint ? 'its checkpoint' : 'its best checkpoint'}; choose another path`,
        EXIT.usage,
      );
    }
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
    return { descriptor: openSync(path, 'a'), path };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CharrnnError(`--log ${path}: cannot write it (${code})`);
  }
}

/**
 * Ctrl-C / SIGTERM finish the current step and save; a second signal exits at once (writes are atomic).
 * Losing an output stops the run the same way, so no work is lost: a reader of --json that leaves ends
 * it quietly (exit 0); a --log or stdout that cannot be written ends it with one line and exit 1.
 */
export function startTrainingSession(flags: OutputFlags, paths: SessionPaths): TrainingSession {
  const terminal = createTerminal({ quiet: flags.quiet, color: flags.color });
  const log = openLog(flags.log, flags.corpus, paths.checkpoint);
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
    log,
    onOutputLost: ({ message }) => {
      if (message !== null) reporter.message(`charrnn: ${message}; stopping after this step to save the checkpoint`);
      stopForLostOutput(message !== null);
    },
  });
  // Messages cannot be shown once stderr fails (2>&1 | head, 2>/dev/full), but the run still saves. The
  // listener stays for the life of the process: the closing line is written, and fails, after finish().
  process.stderr.on('error', (error: NodeJS.ErrnoException) => stopForLostOutput(error.code !== 'EPIPE'));
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCode);
    exitCode = signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
    const what = signal === 'SIGTERM' ? 'terminated' : 'interrupted';
    reporter.message(`\n${what}: finishing this step and saving (press Ctrl-C again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    onEvent: reporter.handle,
    signal: controller.signal,
    finish(summary) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (log) closeSync(log.descriptor);
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
    },
  };
}
