/**
 * Where messages go and how they look (stderr only; colour and bars only on a real terminal), and
 * stdout writes that end cleanly.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { constants, readFileSync, readlinkSync } from 'node:fs';
import { CharrnnError, EXIT } from '../errors.js';

export interface TerminalOptions {
  quiet: boolean;
  /** False under --no-color. */
  color: boolean;
}

export interface Terminal {
  /** A progress bar may be drawn on stderr: a terminal that takes colour (not TERM=dumb), and no --quiet. */
  readonly bar: boolean;
  readonly quiet: boolean;
  readonly paint: ChalkInstance;
  /** One line to stderr (suppressed by --quiet). */
  info(line: string): void;
}

/**
 * Whether colour may be written to `stream`; the one place that decides. --no-color turns it off; then
 * FORCE_COLOR turns it on even off a terminal (0 or false: off); then NO_COLOR (only when non-empty,
 * as no-color.org says), CI and TERM=dumb turn it off; otherwise it follows whether `stream` is a terminal.
 */
export function colorAllowed(
  stream: NodeJS.WriteStream,
  colorFlag: boolean,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (!colorFlag) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if (env.NO_COLOR || env.CI || env.TERM === 'dumb') return false;
  return Boolean(stream.isTTY);
}

export function createTerminal(options: TerminalOptions): Terminal {
  const color = colorAllowed(process.stderr, options.color);
  // FORCE_COLOR may colour a log file, but a bar needs a screen whose cursor can return to the line start.
  const bar = color && Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb' && !options.quiet;
  const paint = new Chalk({ level: color ? 1 : 0 });
  return {
    bar,
    quiet: options.quiet,
    paint,
    info: (line) => {
      if (!options.quiet) process.stderr.write(`${line}\n`);
    },
  };
}

/**
 * Characters that must not reach a terminal raw: C0 and C1 controls and DEL (they move the cursor, clear
 * the screen, set the title, end the line), separators other than the space (invisible, or a line break),
 * and the bidirectional controls (they reorder what follows them).
 */
const UNPRINTABLE = '(?! )[\\p{Cc}\\p{Z}\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]';
const UNPRINTABLE_CHAR = new RegExp(UNPRINTABLE, 'u');
const UNPRINTABLE_CHARS = new RegExp(UNPRINTABLE, 'gu');
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const hex = (code: number, digits: number): string => code.toString(16).padStart(digits, '0');
/** Three octal digits, always: a shell's \ddd ends after three, whatever follows (\xHH may not end after two). */
const octal = (byte: number): string => byte.toString(8).padStart(3, '0');

/** An unprintable character as it would be typed: `\n`, `\x1b`, `\u2028`. */
function escapeChar(char: string): string {
  const code = char.codePointAt(0)!;
  return NAMED_ESCAPES[char] ?? (code < 0x100 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`);
}

/**
 * Text from a file or the command line as a terminal should show it, on one line: every unprintable
 * character escaped. The one escaping for everything shown that a file or a user chose: vocabularies,
 * paths, origins, error messages.
 */
export function escapeControls(text: string): string {
  return text.replace(UNPRINTABLE_CHARS, escapeChar);
}

/** What generated text keeps of the unprintable characters: its layout (line ends, tabs, spaces of any width). */
const LAYOUT_CHAR = /^[\n\t\p{Zs}]$/u;

/**
 * Generated text (a sample) as a terminal should show it: as escapeControls does, but its lines, tabs and
 * spaces kept (CRLF made LF), so it reads as text and still cannot move the cursor or recolour the screen.
 */
export function displayText(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .replace(UNPRINTABLE_CHARS, (char) => (LAYOUT_CHAR.test(char) ? char : escapeChar(char)));
}

/** Characters a POSIX shell reads as part of a bare word, anywhere in it. */
const SHELL_SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;

/**
 * A word (a path) as a POSIX shell must be given it, for a command line suggested to the user: bare when
 * every character is safe, else in single quotes, or as $'…' with each unprintable character's UTF-8
 * bytes as \xHH when it holds one (single quotes would keep a newline, and the suggestion would break).
 */
export function shellQuote(word: string): string {
  if (SHELL_SAFE.test(word)) return word;
  if (!UNPRINTABLE_CHAR.test(word)) return `'${word.replaceAll("'", "'\\''")}'`;
  const escaped = word
    .replace(/[\\']/g, (char) => `\\${char}`)
    .replace(UNPRINTABLE_CHARS, (char) => [...Buffer.from(char, 'utf8')].map((byte) => `\\${octal(byte)}`).join(''));
  return `$'${escaped}'`;
}

/**
 * Writes a line to stderr that starts at the left margin of a clear line: on a terminal the line is
 * cleared first, so an error raised while a progress bar is drawn replaces the bar instead of trailing it.
 * Unprintable characters in it (from a path or a file) are escaped, so it stays one line and moves nothing.
 */
export function errorLine(text: string): void {
  const clear = process.stderr.isTTY && process.env.TERM !== 'dumb' ? '\r\x1b[2K' : '';
  process.stderr.write(`${clear}${escapeControls(text)}\n`);
}

/** What a failed write to stdout means, in words. */
function describeStdoutError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOSPC':
      return 'cannot write to stdout: the disk is full (ENOSPC)';
    case 'EBADF':
      return 'cannot write to stdout: it is closed or not open for writing (EBADF)';
    default:
      return `cannot write to stdout: ${error.code ?? error.message}`;
  }
}

/** The reader of stdout went away (`| head`): an ordinary end, not an error. */
function isReaderGone(error: NodeJS.ErrnoException): boolean {
  return error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED';
}

/**
 * Whether stdout was closed when charrnn started (`>&-`). Node then opens /dev/null in its place, read
 * and write, where every write succeeds unseen; a shell's `>/dev/null` opens it write-only. Read from
 * Linux's /proc; elsewhere this cannot be told, and the output goes nowhere, as before.
 */
const ACCESS_MODE = 0o3; // O_ACCMODE, which Node's fs.constants lacks

function stdoutClosedAtStart(): boolean {
  try {
    if (readlinkSync('/proc/self/fd/1') !== '/dev/null') return false;
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/1', 'utf8'));
    return flags !== null && (Number.parseInt(flags[1]!, 8) & ACCESS_MODE) === constants.O_RDWR;
  } catch {
    return false;
  }
}

/**
 * Writes to stdout one piece at a time, waiting for each to be handed to the system, so a slow reader
 * holds the writer back. Once the reader has gone (EPIPE) writes quietly return false; once a write
 * has failed (a full disk, a closed descriptor) they return false and `failure()` says why.
 */
export class StdoutWriter {
  private readerGone = false;
  private error: NodeJS.ErrnoException | null = null;

  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {
    stream.on('error', (error: NodeJS.ErrnoException) => this.record(error));
    if (stream === process.stdout && stdoutClosedAtStart()) this.error = Object.assign(new Error(), { code: 'EBADF' });
  }

  private record(error: NodeJS.ErrnoException): void {
    if (isReaderGone(error)) this.readerGone = true;
    else this.error ??= error;
  }

  get open(): boolean {
    return !this.readerGone && this.error === null;
  }

  /** Resolves true while output can go on; false once the reader has gone or a write failed. */
  async write(text: string): Promise<boolean> {
    if (!this.open) return false;
    await new Promise<void>((resolve) => {
      this.stream.write(text, (error) => {
        if (error) this.record(error);
        resolve();
      });
    });
    return this.open;
  }

  /** The one-line message for a failed write, or null when every write succeeded or the reader left. */
  failure(): string | null {
    return this.error && describeStdoutError(this.error);
  }

  /** Throws the failure, if any, as a runtime error: call it when a command is done writing. */
  throwIfFailed(): void {
    const message = this.failure();
    if (message) throw new CharrnnError(message, EXIT.runtime);
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
