// Two audiences: cron (plain timestamped lines, no control characters, mailed when anything is
// printed) and a person at a terminal (colour, a live progress line). Messages are the same.
import { fstatSync } from 'node:fs';
import { formatBytes, formatDuration } from './durations.ts';
import { redactText } from './redact.ts';
import type { Progress } from './backends/types.ts';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

export interface LoggerOptions {
  verbosity: Verbosity;
  /** Defaults to whether stderr is a terminal. */
  interactive?: boolean;
  stream?: NodeJS.WriteStream;
  job?: string;
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

const useColor = (interactive: boolean): boolean => interactive && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';

export class Logger {
  readonly interactive: boolean;
  readonly verbosity: Verbosity;
  private readonly stream: NodeJS.WriteStream;
  private readonly color: boolean;
  private progressShown = false;
  private readonly journal: boolean;
  private job?: string;

  constructor(options: LoggerOptions) {
    this.stream = options.stream ?? process.stderr;
    this.interactive = options.interactive ?? Boolean(this.stream.isTTY);
    this.verbosity = options.verbosity;
    this.color = useColor(this.interactive);
    this.journal = !this.interactive && writesToJournal(this.stream);
    this.job = options.job;
  }

  forJob(job: string): Logger {
    return new Logger({ verbosity: this.verbosity, interactive: this.interactive, stream: this.stream, job });
  }

  private paint(code: string, text: string): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  private write(level: 'info' | 'warn' | 'error' | 'debug', rawMessage: string): void {
    const message = redactText(rawMessage);
    this.clearProgress();
    if (this.interactive) {
      const mark = { info: this.paint('36', '›'), warn: this.paint('33', '!'), error: this.paint('31', '✗'), debug: this.paint('2', '·') }[level];
      this.stream.write(`${mark} ${message}\n`);
    } else {
      const stamp = this.journal ? '' : `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} `;
      this.stream.write(`${stamp}cronvault${this.job ? `[${this.job}]` : ''} ${level}: ${message}\n`);
    }
  }

  info(message: string): void {
    if (this.verbosity !== 'quiet') this.write('info', message);
  }

  success(message: string): void {
    if (this.verbosity === 'quiet') return;
    if (this.interactive) {
      this.clearProgress();
      this.stream.write(`${this.paint('32', '✓')} ${redactText(message)}\n`);
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
    if (progress.secondsElapsed && progress.bytesDone) parts.push(`${formatBytes(progress.bytesDone / progress.secondsElapsed)}/s`);
    if (progress.secondsRemaining) parts.push(`ETA ${formatDuration(progress.secondsRemaining * 1000)}`);
    this.stream.write(`\r\u001b[2K${this.paint('36', '⟳')} ${parts.join('  ')}`);
    this.progressShown = true;
  }

  clearProgress(): void {
    if (this.progressShown) {
      this.stream.write('\r\u001b[2K');
      this.progressShown = false;
    }
  }
}
