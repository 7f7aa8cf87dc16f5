/** What train and resume share: signals, rendering, and the closing line. */
import type { TrainEvent, TrainSummary } from '../train/events.js';
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { CharrnnError, EXIT } from '../errors.js';
import { TrainingReporter } from './progress.js';
import { StdoutWriter, createTerminal, formatCount, formatDuration } from './terminal.js';

export interface OutputFlags {
  json: boolean;
  log?: string;
  quiet: boolean;
  color: boolean;
  'print-every': number;
}

export interface TrainingSession {
  onEvent: (event: TrainEvent) => void;
  signal: AbortSignal;
  finish(summary: TrainSummary): void;
}

function openLog(path: string | undefined): number | undefined {
  if (path === undefined) return undefined;
  try {
    mkdirSync(dirname(path), { recursive: true });
    return openSync(path, 'a');
  } catch (error) {
    throw new CharrnnError(`--log ${path}: cannot write it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/** Ctrl-C / SIGTERM finish the current step and save; a second signal exits at once (writes are atomic). */
export function startTrainingSession(flags: OutputFlags): TrainingSession {
  const terminal = createTerminal({ quiet: flags.quiet, color: flags.color });
  const reporter = new TrainingReporter(terminal, new StdoutWriter(), { json: flags.json, printEvery: Math.max(1, flags['print-every']), logDescriptor: openLog(flags.log) });
  const controller = new AbortController();
  let exitCode: number = EXIT.interrupted;
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(exitCode);
    exitCode = signal === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
    process.stderr.write(`\n${signal === 'SIGTERM' ? 'terminated' : 'interrupted'}: finishing this step and saving (press Ctrl-C again to quit at once)\n`);
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
      const val = summary.val_bpc === null ? '' : `, validation ${summary.val_bpc.toFixed(3)} bpc`;
      const stats = `${summary.iterations} iterations${val}, ${formatCount(summary.chars_per_s)} chars/s over ${formatDuration(summary.seconds)}`;
      if (summary.reason === 'interrupted') {
        process.stderr.write(`stopped at iteration ${summary.iterations}; saved ${summary.checkpoint} (continue with: charrnn resume ${summary.checkpoint})\n`);
        process.exitCode = exitCode;
      } else terminal.info(`done: ${stats}; saved ${summary.checkpoint}`);
    },
  };
}
