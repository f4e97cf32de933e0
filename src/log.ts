// Two audiences: cron (plain timestamped lines, no control characters, mailed when anything is
// printed) and a person at a terminal (colour, a live progress line). Messages are the same.
import { fstatSync } from 'node:fs';
import type { Progress } from './backends/types.ts';
import { formatBytes, formatDuration } from './durations.ts';
import { redactText } from './redact.ts';
import { type AnsiColor, painter, useColor } from './terminal.ts';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

export interface LoggerOptions {
  verbosity: Verbosity;
  /** Defaults to whether stderr is a terminal. */
  interactive?: boolean;
  stream?: NodeJS.WriteStream;
  job?: string;
  /** false after --no-color. */
  color?: boolean;
  /** Also receives every message, redacted and plain, whatever the verbosity (a run's log tail). */
  tap?: (line: string) => void;
}

/**
 * Whether `stream` goes straight to journald, which stamps each line itself. systemd sets
 * JOURNAL_STREAM to "<device>:<inode>" of that stream; comparing them (as sd_journal_stream_fd
 * documents) keeps a redirected or inherited stderr timestamped.
 */
const writesToJournal = (stream: NodeJS.WriteStream): boolean => {
  const expected = process.env.JOURNAL_STREAM;
  const fd = (stream as { fd?: unknown }).fd;
  if (!expected || typeof fd !== 'number') return false;
  try {
    const { dev, ino } = fstatSync(fd);
    return expected === `${dev}:${ino}`;
  } catch {
    return false;
  }
};

export class Logger {
  readonly interactive: boolean;
  readonly verbosity: Verbosity;
  private readonly stream: NodeJS.WriteStream;
  private readonly colorChoice?: boolean;
  private readonly painted: (style: AnsiColor, text: string) => string;
  private progressShown = false;
  private readonly journal: boolean;
  private job?: string;
  private readonly tap?: (line: string) => void;

  constructor(options: LoggerOptions) {
    this.stream = options.stream ?? process.stderr;
    this.interactive = options.interactive ?? Boolean(this.stream.isTTY);
    this.verbosity = options.verbosity;
    this.colorChoice = options.color;
    this.painted = painter(useColor({ isTTY: this.interactive }, { color: options.color }));
    this.journal = !this.interactive && writesToJournal(this.stream);
    this.job = options.job;
    this.tap = options.tap;
  }

  /** The same logger, also handing every message to `tap` (redacted, with its level). */
  tapped(tap: (line: string) => void): Logger {
    return new Logger({
      verbosity: this.verbosity,
      interactive: this.interactive,
      stream: this.stream,
      job: this.job,
      color: this.colorChoice,
      tap,
    });
  }

  /** Hands a message to the tap, even one this verbosity does not print. */
  private record(level: 'info' | 'warn' | 'error' | 'debug', message: string): void {
    this.tap?.(`${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} ${level}: ${redactText(message)}`);
  }

  forJob(job: string): Logger {
    return new Logger({
      verbosity: this.verbosity,
      interactive: this.interactive,
      stream: this.stream,
      job,
      color: this.colorChoice,
    });
  }

  private paint(style: AnsiColor, text: string): string {
    return this.painted(style, text);
  }

  private write(level: 'info' | 'warn' | 'error' | 'debug', rawMessage: string): void {
    this.record(level, rawMessage);
    const message = redactText(rawMessage);
    this.clearProgress();
    if (this.interactive) {
      const mark = {
        info: this.paint('cyan', '›'),
        warn: this.paint('yellow', '!'),
        error: this.paint('red', '✗'),
        debug: this.paint('dim', '·'),
      }[level];
      this.stream.write(`${mark} ${message}\n`);
    } else {
      const stamp = this.journal ? '' : `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} `;
      this.stream.write(`${stamp}cronvault${this.job ? `[${this.job}]` : ''} ${level}: ${message}\n`);
    }
  }

  info(message: string): void {
    if (this.verbosity !== 'quiet') this.write('info', message);
    else this.record('info', message);
  }

  success(message: string): void {
    if (this.verbosity === 'quiet') {
      this.record('info', message);
      return;
    }
    if (this.interactive) {
      this.record('info', message);
      this.clearProgress();
      this.stream.write(`${this.paint('green', '✓')} ${redactText(message)}\n`);
    } else this.write('info', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  error(message: string): void {
    this.write('error', message);
  }

  /** Engine output, shown with --verbose only. */
  engine(line: string): void {
    if (this.verbosity === 'verbose') this.write('debug', line);
  }

  /** Whether progress() draws anything: on a terminal, unless --quiet. */
  get showsProgress(): boolean {
    return this.interactive && this.verbosity !== 'quiet';
  }

  /** A live line on a terminal; nothing at all for cron. */
  progress(progress: Progress): void {
    if (!this.showsProgress) return;
    const parts = [`${progress.percent.toFixed(1).padStart(5)}%`];
    if (progress.totalFiles) parts.push(`${progress.filesDone ?? 0}/${progress.totalFiles} files`);
    if (progress.totalBytes) parts.push(`${formatBytes(progress.bytesDone ?? 0)}/${formatBytes(progress.totalBytes)}`);
    if (progress.secondsElapsed && progress.bytesDone)
      parts.push(`${formatBytes(progress.bytesDone / progress.secondsElapsed)}/s`);
    if (progress.secondsRemaining) parts.push(`ETA ${formatDuration(progress.secondsRemaining * 1000)}`);
    this.stream.write(`\r\u001b[2K${this.paint('cyan', '⟳')} ${parts.join('  ')}`);
    this.progressShown = true;
  }

  clearProgress(): void {
    if (this.progressShown) {
      this.stream.write('\r\u001b[2K');
      this.progressShown = false;
    }
  }
}
