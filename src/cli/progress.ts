/**
 * Renders training events: a one-line progress bar on a terminal, occasional plain lines otherwise, JSON
 * lines on stdout with --json and in the --log file. Throughput and time left are measured here, from
 * the events' iterations and elapsed seconds: they belong to the display, not to the training loop.
 */
import { writeSync } from 'node:fs';
import cliProgress, { type GenericFormatter, type MultiBar, type SingleBar } from 'cli-progress';
import type { TrainEvent } from '../train/events.js';
import {
  displayText,
  escapeControls,
  formatCount,
  formatDuration,
  type StdoutWriter,
  type Terminal,
} from './terminal.js';

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
 * cli-progress also redraws on a timer, every 1/fps seconds; the bar is drawn on training's events instead
 * (ProgressBar.draw), so that timer is set to wait an hour, and is unreferenced.
 */
const TIMER_FPS = 1 / 3600;

/** The status beside the bar: cli-progress payload tokens, each already formatted ({value} is the iteration). */
export interface BarStatus {
  target: string;
  epoch: string;
  loss: string;
  val: string;
  speed: string;
  timeLeft: string;
}

const STATUS_FORMAT = '{value}/{target} | epoch {epoch} | loss {loss} | val {val} | {speed} chars/s | ETA {timeLeft}';

/**
 * The bar's line, fitted to the terminal by hand: cli-progress draws its bar at a fixed size and cuts the line
 * at the terminal's full width, which leaves the cursor in the last column, where terminals wrap. Here the
 * bar's cells give way to the status (no bar under MIN_BAR_CELLS, nor without a target iteration), and the
 * line stops a column short of the edge, so it never wraps.
 */
const fitLine: GenericFormatter = (options, params, payload) => {
  const width = Math.max(1, params.maxWidth - 1);
  const status = cliProgress.Format.Formatter({ ...options, format: STATUS_FORMAT }, params, payload);
  const cells = Math.min(BAR_CELLS, width - status.length - 2);
  const bar = params.total > 0 && cells >= MIN_BAR_CELLS;
  const line = bar
    ? `${cliProgress.Format.BarFormat(params.progress, { ...options, barsize: cells })} ${status}`
    : status;
  return [...line].slice(0, width).join('');
};

/** Turns the terminal's line wrapping off (DECAWM), and on. */
const WRAP_OFF = '\x1b[?7l';
const WRAP_ON = '\x1b[?7h';
/**
 * Clears the cursor's row and the screen below it, the cursor staying put. Not by one erase-below from the
 * cursor: from the top-left corner that clears the whole screen, which tmux (scroll-on-clear) pushes into
 * its history, a copy of the bar at each draw. So: clear the row, save the cursor, go down one row (none
 * from the last), erase below, restore the cursor.
 */
const CLEAR_ROW_AND_BELOW = '\x1b[2K\x1b7\x1b[B\x1b[J\x1b8';

/**
 * Written by hand, as cli-progress has no option for it: it redraws with CR, the line and clear-to-end,
 * leaving the cursor after the bar. A terminal that reflows its lines when narrowed (tmux, VTE, iTerm2)
 * splits a bar wider than its new width over rows, and a CR returns only to the last; and a bar drawn
 * before the process hears of the resize (SIGWINCH) is as wide as before, and wraps. So the bar is drawn
 * with wrapping off (at worst cut at the edge), on for reports; the cursor waits at the bar's first column,
 * where a reflow keeps it; and each draw first clears its row and the screen below (the MultiBar's
 * redraw-pre).
 * cli-progress's own `linewrap: false` would leave wrapping off for reports too, and after an error.
 */
function drawOnOneRow(bar: SingleBar, stream: DrawingStream): SingleBar {
  bar.on('redraw-pre', () => stream.write(WRAP_OFF));
  bar.on('redraw-post', () => stream.write(`${WRAP_ON}\r`));
  return bar;
}

/**
 * The stream cli-progress draws on (its `stream` option): what one draw writes is held and goes to the
 * terminal in one write. cli-progress writes a draw piece by piece (cursor to column 1, clears, each report,
 * the bar), and the terminal echoes a typed Ctrl-C (`^C`) at the cursor whenever it takes the key: between
 * two pieces it moved the cursor two columns, and the report that followed began there, indented and
 * beside the `^C`. Within one write the echo can come only after a line end: before the bar, which starts
 * with a return to column 1, or inside a report of several lines (a sample), a rarer window left open.
 */
class DrawingStream {
  private held: string[] | null = null;

  constructor(private readonly terminal: NodeJS.WriteStream) {}

  get isTTY(): boolean {
    return this.terminal.isTTY;
  }

  /** The terminal's width as the process last heard it (Node updates it on SIGWINCH). */
  get columns(): number {
    return this.terminal.columns;
  }

  write(text: string): boolean {
    if (this.held) this.held.push(text);
    else this.terminal.write(text);
    return true;
  }

  /** Runs `draw`, and writes what it wrote at once. */
  inOneWrite(draw: () => void): void {
    this.held = [];
    try {
      draw();
    } finally {
      const text = this.held.join('');
      this.held = null;
      if (text !== '') this.terminal.write(text);
    }
  }
}

/**
 * The training bar, drawn by cli-progress on one terminal line that never wraps; reports are printed above it
 * (MultiBar.log), and after finish() it is gone. It is drawn on training's events only, at most every
 * REDRAW_MS, so what the screen shows follows the order of the events.
 */
export class ProgressBar {
  private readonly bars: MultiBar;
  private readonly drawing: DrawingStream;
  private bar: SingleBar | null = null;
  private finished = false;
  private lastDraw = -Infinity;
  /** The bar is cleared however the process ends: by an error, or a second Ctrl-C's process.exit(). */
  private readonly clearOnExit = () => this.finish();

  constructor(private readonly stream: NodeJS.WriteStream) {
    const drawing = new DrawingStream(stream);
    this.drawing = drawing;
    this.bars = new cliProgress.MultiBar({
      // cli-progress reads a stream's isTTY, columns and write only.
      stream: drawing as unknown as NodeJS.WritableStream,
      format: fitLine,
      barsize: BAR_CELLS,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      fps: TIMER_FPS,
      // Each draw follows a clearing of the screen below the cursor (drawOnOneRow), even when the line is unchanged.
      forceRedraw: true,
      // Line wrapping is turned off for the bar alone (drawOnOneRow).
      linewrap: true,
      clearOnComplete: true,
      // Ctrl-C finishes the step and saves (run-training.ts): the bar stays until then.
      gracefulExit: false,
    });
    // Before each draw and report, and its own clearing on stop(), the bar's row and below are cleared: see
    // drawOnOneRow.
    this.bars.on('redraw-pre', () => drawing.write(CLEAR_ROW_AND_BELOW));
    this.bars.on('stop-pre-clear', () => drawing.write(CLEAR_ROW_AND_BELOW));
    process.on('exit', this.clearOnExit);
  }

  /** Sets the iteration (of `target`, or null when only time limits the run) and the status; redraws if due. */
  update(iteration: number, target: number | null, status: BarStatus): void {
    if (this.finished) return;
    if (this.bar) this.bar.update(iteration, status);
    else this.bar = drawOnOneRow(this.bars.create(target ?? 0, iteration, status), this.drawing);
    if (performance.now() - this.lastDraw >= REDRAW_MS) this.draw();
    else this.releaseTimer();
  }

  /** Writes `text` and a newline above the bar. */
  print(text: string): void {
    if (this.finished) {
      this.stream.write(`${text}\n`);
      return;
    }
    this.bars.log(`${text}\n`);
    this.draw();
  }

  /** Removes the bar for good. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    process.off('exit', this.clearOnExit);
    // Nothing drawn, nothing to clear (and no timer to stop).
    if (this.lastDraw > -Infinity) this.drawing.inOneWrite(() => this.bars.stop());
  }

  private draw(): void {
    this.drawing.inOneWrite(() => this.bars.update());
    this.releaseTimer();
    this.lastDraw = performance.now();
  }

  /**
   * cli-progress keeps its redraw timer referenced and has no option against it; unreferenced, it cannot
   * keep the process alive when a run ends without finish() (an error).
   */
  private releaseTimer(): void {
    (this.bars as unknown as { timer: NodeJS.Timeout | null }).timer?.unref();
  }
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
  /** Called once when stdout's reader leaves or a write to stdout or the log fails. */
  onOutputLost(loss: OutputLoss): void;
}

const PLAIN_LINE_SECONDS = 10;

export class TrainingReporter {
  private readonly bar: ProgressBar | null;
  private readonly meter = new ThroughputMeter();
  private lastPlainLine = -Infinity;
  private valBpc: number | null = null;
  /** --log, once the run has passed its checks (appendTo): the JSON lines go there too. */
  private log: LogFile | undefined;
  private outputLost = false;

  constructor(
    private readonly terminal: Terminal,
    private readonly stdout: StdoutWriter,
    private readonly options: ReporterOptions,
  ) {
    this.bar = terminal.bar ? new ProgressBar(process.stderr) : null;
  }

  /** Appends the JSON lines to `log` too, from the next event on. */
  appendTo(log: LogFile): void {
    this.log = log;
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
            `${event.chunksPerEpoch} iterations per epoch, ${computeText(event)}` +
            (event.resumed ? `, from iteration ${event.iteration}` : '') +
            (event.origin && !event.resumed
              ? `, starting from the weights of ${escapeControls(event.origin.checkpoint)}`
              : ''),
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
      this.lose({ message: `cannot write the log to ${escapeControls(path)}: ${reason}` });
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
      this.bar.update(event.iteration, target, {
        target: target === null ? '∞' : String(target),
        epoch: event.epoch.toFixed(2),
        loss: event.trainLoss.toFixed(4),
        val,
        speed,
        timeLeft: formatDuration(etaSeconds),
      });
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

/** What computes the run: "kernels native-avx512 on 2 threads", or "torch 2.11.0 cuda:0, 2 processes × 1 thread". */
function computeText({ engine, kernel, threads, processes }: StartEvent): string {
  const threadCount = `${threads} thread${threads === 1 ? '' : 's'}`;
  if (engine === 'charrnn') return `kernels ${kernel} on ${threadCount}`;
  return `${kernel}, ${processes} process${processes === 1 ? '' : 'es'} × ${threadCount}`;
}
