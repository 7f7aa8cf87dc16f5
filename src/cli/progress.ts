/** Renders training events: a progress bar on a terminal, occasional plain lines otherwise, JSON lines on stdout with --json. */
import cliProgress from 'cli-progress';
import { writeSync } from 'node:fs';
import type { ProgressEvent, StartEvent, TrainEvent } from '../train/events.js';
import { formatCount, formatDuration, type StdoutWriter, type Terminal } from './terminal.js';

export interface ReporterOptions {
  json: boolean;
  /** With --json or --log, a progress line every N iterations. */
  printEvery: number;
  /** Append the JSON lines to this file descriptor too (--log). */
  logDescriptor?: number;
}

const PLAIN_LINE_SECONDS = 10;

export class TrainingReporter {
  private bar: cliProgress.SingleBar | null = null;
  private lastPlainLine = -Infinity;
  private valBpc: number | null = null;
  private start: StartEvent | null = null;

  constructor(private readonly terminal: Terminal, private readonly stdout: StdoutWriter, private readonly options: ReporterOptions) {}

  readonly handle = (event: TrainEvent): void => {
    if (event.event !== 'progress' || event.iteration % this.options.printEvery === 0) {
      const line = `${JSON.stringify(event)}\n`;
      if (this.options.json) void this.stdout.write(line);
      if (this.options.logDescriptor !== undefined) writeSync(this.options.logDescriptor, line);
    }
    switch (event.event) {
      case 'start':
        this.start = event;
        this.terminal.info(
          `${event.resumed ? 'resuming' : 'training'} ${formatCount(event.parameters)} parameters, vocabulary ${event.vocab}, ` +
            `${formatCount(event.trainChars)} training / ${formatCount(event.valChars)} validation chars, ${event.chunksPerEpoch} iterations per epoch, kernels ${event.kernel}` +
            (event.resumed ? `, from iteration ${event.iteration}` : '') +
            (event.origin && !event.resumed ? `, starting from the weights of ${event.origin.checkpoint}` : ''),
        );
        if (this.terminal.fancy) this.startBar(event.targetIterations ?? 0, event.iteration);
        break;
      case 'progress':
        this.progress(event);
        break;
      case 'eval':
        this.valBpc = event.valBpc;
        this.line(`iteration ${event.iteration}: validation loss ${event.valLoss.toFixed(4)} (${event.valBpc.toFixed(3)} bpc)${event.best ? this.terminal.paint.green(' best') : ''}`);
        break;
      case 'checkpoint':
        break;
      case 'sample':
        this.line(`${this.terminal.paint.dim(`--- sample at iteration ${event.iteration} ---`)}\n${event.text}\n${this.terminal.paint.dim('---')}`);
        break;
      case 'done':
        this.bar?.stop();
        this.bar = null;
        break;
    }
  };

  private startBar(total: number, start: number): void {
    this.bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: ` {bar} {value}/{totalText} | epoch {epoch} | loss {loss} | val {val} | {speed} chars/s | ETA {eta_text}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total || 1, start, { totalText: total ? String(total) : '∞', epoch: '0.00', loss: '-', val: '-', speed: '-', eta_text: '--' });
  }

  /** Characters per second over this invocation, and the seconds left until the target iteration or time limit. */
  private speedAndEta(event: ProgressEvent): { charsPerSecond: number; etaSeconds: number | null } {
    const { iteration: firstIteration = 0, charsPerIteration = 0, timeLimitSeconds = null } = this.start ?? {};
    const charsPerSecond = ((event.iteration - firstIteration) * charsPerIteration) / event.elapsedSeconds;
    const target = event.targetIterations;
    const untilTarget = target === null ? null : ((target - event.iteration) * charsPerIteration) / charsPerSecond;
    const untilLimit = timeLimitSeconds === null ? null : timeLimitSeconds - event.elapsedSeconds;
    if (untilTarget === null || untilLimit === null) return { charsPerSecond, etaSeconds: untilTarget ?? untilLimit };
    return { charsPerSecond, etaSeconds: Math.min(untilTarget, untilLimit) };
  }

  private progress(event: ProgressEvent): void {
    const val = this.valBpc === null ? '-' : `${this.valBpc.toFixed(3)} bpc`;
    const { charsPerSecond, etaSeconds } = this.speedAndEta(event);
    if (this.bar) {
      this.bar.update(event.iteration, {
        epoch: event.epoch.toFixed(2), loss: event.trainLoss.toFixed(4), val, speed: formatCount(charsPerSecond), eta_text: formatDuration(etaSeconds),
      });
      return;
    }
    if (event.elapsedSeconds - this.lastPlainLine < PLAIN_LINE_SECONDS) return;
    this.lastPlainLine = event.elapsedSeconds;
    const of = event.targetIterations ? `/${event.targetIterations}` : '';
    this.line(`iteration ${event.iteration}${of}, epoch ${event.epoch.toFixed(2)}, loss ${event.trainLoss.toFixed(4)} (${(event.trainLoss / Math.LN2).toFixed(3)} bpc), val ${val}, ${formatCount(charsPerSecond)} chars/s, ETA ${formatDuration(etaSeconds)}`);
  }

  /** A line on stderr that does not tear the bar. */
  private line(text: string): void {
    if (this.terminal.quiet) return;
    if (this.bar) {
      process.stderr.write('\r\x1b[2K');
      process.stderr.write(`${text}\n`);
      this.bar.render();
    } else this.terminal.info(text);
  }
}
