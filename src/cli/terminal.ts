/** Where messages go and how they look: stderr only, colour and bars only on a real terminal. */
import { Chalk, type ChalkInstance } from 'chalk';

export interface TerminalOptions {
  quiet: boolean;
  color: boolean;
}

export interface Terminal {
  /** Colour and progress bars are allowed (stderr is a TTY; no NO_COLOR, CI, --no-color or --quiet). */
  readonly fancy: boolean;
  readonly quiet: boolean;
  readonly paint: ChalkInstance;
  /** One line to stderr (suppressed by --quiet). */
  info(line: string): void;
  /** A warning on stderr, shown even with --quiet. */
  warn(line: string): void;
}

/** Colour may be used on `stream`: it is a terminal, --no-color was not given, and neither NO_COLOR nor CI is set. */
export function colorAllowed(stream: NodeJS.WriteStream, color: boolean): boolean {
  return Boolean(stream.isTTY) && color && process.env.NO_COLOR === undefined && !process.env.CI;
}

export function createTerminal(options: TerminalOptions): Terminal {
  const fancy = colorAllowed(process.stderr, options.color) && !options.quiet;
  const paint = new Chalk({ level: fancy ? 1 : 0 });
  return {
    fancy,
    quiet: options.quiet,
    paint,
    info: (line) => {
      if (!options.quiet) process.stderr.write(`${line}\n`);
    },
    warn: (line) => process.stderr.write(`${paint.yellow('warning:')} ${line}\n`),
  };
}

/** Writes to stdout, waiting when the pipe is full; resolves false once the reader has gone (EPIPE). */
export class StdoutWriter {
  private closed = false;

  constructor() {
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') this.closed = true;
      else throw error;
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async write(text: string): Promise<boolean> {
    if (this.closed) return false;
    if (!process.stdout.write(text)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          process.stdout.off('drain', done);
          process.stdout.off('error', done);
          process.stdout.off('close', done);
          resolve();
        };
        process.stdout.once('drain', done);
        process.stdout.once('error', done);
        process.stdout.once('close', done);
      });
    }
    return !this.closed;
  }
}

export function formatCount(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return `${Math.round(value)}`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '--';
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

export const STDIN_PLACEHOLDER = '\u0000stdin';

/** A corpus argument as the user wrote it: '-' (stdin) comes through yargs under a placeholder. */
export function corpusArgument(value: string): string {
  return value === STDIN_PLACEHOLDER ? '-' : value;
}
