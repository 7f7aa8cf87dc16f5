/**
 * Renders training events: a one-line progress bar on a terminal, occasional plain lines otherwise, JSON
 * lines on stdout with --json and in the --log file. Throughput and time left are measured here, from
 * the events' iterations and elapsed seconds: they belong to the display, not to the training loop.
 */
import { writeSync } from 'node:fs';
import type { TrainEvent } from '../train/events.js';
import { formatCount, formatDuration, type StdoutWriter, type Terminal } from './terminal.js';

type StartEvent = Extract<TrainEvent, { event: 'start' }>;
type ProgressEvent = Extract<TrainEvent, { event: 'progress' }>;

/** Fields read when present: the new start event carries the first two, today's progress event the last two. */
interface OptionalFields {
  charsPerIteration?: number;
  timeLimitSeconds?: number | null;
  charsPerSecond?: number;
  etaSeconds?: number | null;
}

export interface Throughput {
  charsPerSecond: number | null;
  etaSeconds: number | null;
}

/** Characters per second over this invocation, and the time left to the target iteration or time limit. */
export class ThroughputMeter {
  private charsPerIteration: number | null = null;
  private startIteration = 0;
  private targetIterations: number | null = null;
  private timeLimitSeconds: number | null = null;

  start(event: StartEvent): void {
    const fields = event as StartEvent & OptionalFields;
    this.charsPerIteration = fields.charsPerIteration ?? null;
    this.timeLimitSeconds = fields.timeLimitSeconds || null;
    this.startIteration = event.iteration;
    this.targetIterations = event.targetIterations;
  }

  measure(event: ProgressEvent): Throughput {
    const fields = event as ProgressEvent & OptionalFields;
    if (fields.charsPerSecond !== undefined) {
      return { charsPerSecond: fields.charsPerSecond, etaSeconds: fields.etaSeconds ?? null };
    }
    const seconds = event.elapsedSeconds;
    if (this.charsPerIteration === null || !(seconds > 0)) return { charsPerSecond: null, etaSeconds: null };
    const charsPerSecond = ((event.iteration - this.startIteration) * this.charsPerIteration) / seconds;
    const target = this.targetIterations;
    const charsLeft = target === null ? null : (target - event.iteration) * this.charsPerIteration;
    const toTarget = charsLeft === null || !(charsPerSecond > 0) ? null : charsLeft / charsPerSecond;
    const toTimeLimit = this.timeLimitSeconds === null ? null : Math.max(0, this.timeLimitSeconds - seconds);
    const bounds = [toTarget, toTimeLimit].filter((value) => value !== null);
    return { charsPerSecond, etaSeconds: bounds.length > 0 ? Math.min(...bounds) : null };
  }
}

/** Milliseconds between redraws of the bar: often enough to look live, rarely enough to cost nothing. */
const REDRAW_MS = 100;
const BAR_CELLS = 24;
const MIN_BAR_CELLS = 8;

/**
 * A progress bar on one terminal line, never as wide as the terminal, so it never wraps. Reports are
 * printed by clearing that line, writing the report (which may wrap freely), and drawing the bar again
 * below it; the cursor never moves up, so nothing already printed is torn. After finish() it is gone.
 */
export class ProgressBar {
  private visible = false;
  private finished = false;
  private lastDraw = -Infinity;
  private fraction: number | null = null;
  private status = '';

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(fraction: number | null, status: string): void {
    if (this.finished) return;
    this.fraction = fraction;
    this.status = status;
    if (performance.now() - this.lastDraw >= REDRAW_MS) this.draw();
  }

  /** Writes `text` and a newline above the bar. */
  print(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
    if (!this.finished && this.status) this.draw();
  }

  /** Removes the bar for good. */
  finish(): void {
    this.clear();
    this.finished = true;
  }

  private clear(): void {
    if (this.visible) this.stream.write('\r\x1b[2K');
    this.visible = false;
  }

  private draw(): void {
    const width = Math.max(1, (this.stream.columns || 80) - 1);
    const cells = Math.min(BAR_CELLS, width - this.status.length - 2);
    let line = this.status;
    if (this.fraction !== null && cells >= MIN_BAR_CELLS) {
      const filled = Math.round(Math.min(1, Math.max(0, this.fraction)) * cells);
      line = `${'█'.repeat(filled)}${'░'.repeat(cells - filled)} ${this.status}`;
    }
    this.stream.write(`\r${[...line].slice(0, width).join('')}\x1b[K`);
    this.visible = true;
    this.lastDraw = performance.now();
  }
}

/**
 * Generated text as it may be shown on a terminal: line ends kept (CRLF made LF), other control
 * characters escaped, so a corpus cannot move the cursor or recolour the screen.
 */
export function displayText(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (char) => `\\x${hex2(char.charCodeAt(0))}`);
}

function hex2(code: number): string {
  return code.toString(16).padStart(2, '0');
}

/** Why JSON lines stopped: the reader of stdout left (quiet), or a write failed (a one-line message). */
export interface OutputLoss {
  message: string | null;
}

/** The --log file, open for appending. */
export interface LogFile {
  descriptor: number;
  path: string;
}

export interface ReporterOptions {
  json: boolean;
  /** With --json or --log, a progress line every N iterations. */
  printEvery: number;
  /** Append the JSON lines to this file too (--log). */
  log?: LogFile;
  /** Called once when stdout's reader leaves or a write to stdout or the log fails. */
  onOutputLost(loss: OutputLoss): void;
}

const PLAIN_LINE_SECONDS = 10;

export class TrainingReporter {
  private readonly bar: ProgressBar | null;
  private readonly meter = new ThroughputMeter();
  private lastPlainLine = -Infinity;
  private valBpc: number | null = null;
  private log: ReporterOptions['log'];
  private outputLost = false;

  constructor(
    private readonly terminal: Terminal,
    private readonly stdout: StdoutWriter,
    private readonly options: ReporterOptions,
  ) {
    this.bar = terminal.bar ? new ProgressBar(process.stderr) : null;
    this.log = options.log;
  }

  readonly handle = (event: TrainEvent): void => {
    if (event.event === 'start') this.meter.start(event);
    const throughput = event.event === 'progress' ? this.meter.measure(event) : null;
    if (event.event !== 'progress' || event.iteration % this.options.printEvery === 0) {
      this.writeJson(throughput ? { ...event, ...throughput } : event);
    }
    switch (event.event) {
      case 'start':
        this.terminal.info(
          `${event.resumed ? 'resuming' : 'training'} ${formatCount(event.parameters)} parameters, ` +
            `vocabulary ${event.vocab}, ` +
            `${formatCount(event.trainChars)} training / ${formatCount(event.valChars)} validation chars, ` +
            `${event.chunksPerEpoch} iterations per epoch, kernels ${event.kernel}` +
            (event.resumed ? `, from iteration ${event.iteration}` : '') +
            (event.origin && !event.resumed ? `, starting from the weights of ${event.origin.checkpoint}` : ''),
        );
        break;
      case 'progress':
        this.progress(event, throughput!);
        break;
      case 'eval': {
        this.valBpc = event.valBpc;
        const best = event.best ? this.terminal.paint.green(' best') : '';
        const loss = `validation loss ${event.valLoss.toFixed(4)} (${event.valBpc.toFixed(3)} bpc)`;
        this.line(`iteration ${event.iteration}: ${loss}${best}`);
        break;
      }
      case 'checkpoint':
        break;
      case 'sample': {
        const rule = this.terminal.paint.dim;
        const heading = rule(`--- sample at iteration ${event.iteration} ---`);
        this.line(`${heading}\n${displayText(event.text)}\n${rule('---')}`);
        break;
      }
      case 'done':
        this.bar?.finish();
        break;
    }
  };

  /** A message that must not tear the bar (an interrupt notice): shown even with --quiet. */
  message(text: string): void {
    if (this.bar) this.bar.print(text);
    else process.stderr.write(`${text}\n`);
  }

  private writeJson(event: object): void {
    if (!this.options.json && !this.log) return;
    const line = `${JSON.stringify(event)}\n`;
    if (this.options.json) {
      void this.stdout.write(line).then((open) => {
        if (!open) this.lose({ message: this.stdout.failure() });
      });
    }
    if (this.log) this.appendLog(line);
  }

  private appendLog(line: string): void {
    const { descriptor, path } = this.log!;
    try {
      const bytes = Buffer.from(line);
      for (let written = 0; written < bytes.length; ) {
        written += writeSync(descriptor, bytes, written, bytes.length - written);
      }
    } catch (error) {
      // No more log lines: a half-written one is where the log ends.
      this.log = undefined;
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOSPC' ? 'the disk is full (ENOSPC)' : (code ?? String(error));
      this.lose({ message: `cannot write the log to ${path}: ${reason}` });
    }
  }

  private lose(loss: OutputLoss): void {
    if (this.outputLost) return;
    this.outputLost = true;
    this.options.onOutputLost(loss);
  }

  private progress(event: ProgressEvent, { charsPerSecond, etaSeconds }: Throughput): void {
    const val = this.valBpc === null ? '-' : `${this.valBpc.toFixed(3)} bpc`;
    const speed = charsPerSecond === null ? '-' : formatCount(charsPerSecond);
    const target = event.targetIterations;
    if (this.bar) {
      const fraction = target ? event.iteration / target : null;
      const status =
        `${event.iteration}/${target ?? '∞'} | epoch ${event.epoch.toFixed(2)} | ` +
        `loss ${event.trainLoss.toFixed(4)} | val ${val} | ${speed} chars/s | ETA ${formatDuration(etaSeconds)}`;
      this.bar.update(fraction, status);
      return;
    }
    if (event.elapsedSeconds - this.lastPlainLine < PLAIN_LINE_SECONDS) return;
    this.lastPlainLine = event.elapsedSeconds;
    const of = target ? `/${target}` : '';
    this.line(
      `iteration ${event.iteration}${of}, epoch ${event.epoch.toFixed(2)}, loss ${event.trainLoss.toFixed(4)} ` +
        `(${(event.trainLoss / Math.LN2).toFixed(3)} bpc), val ${val}, ${speed} chars/s, ` +
        `ETA ${formatDuration(etaSeconds)}`,
    );
  }

  /** A report line on stderr (suppressed by --quiet), above the bar when there is one. */
  private line(text: string): void {
    if (this.terminal.quiet) return;
    if (this.bar) this.bar.print(text);
    else this.terminal.info(text);
  }
}
