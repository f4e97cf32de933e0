// The newest part of one run's log, for the body of a ping: a bounded buffer of whole lines,
// so a run that logs for hours holds at most `maxBytes` of it in memory.

/** Healthchecks.io keeps the first 10 KB of a ping body: the tail is what fits. */
const LOG_TAIL_BYTES = 10 * 1024;

export class LogTail {
  private readonly lines: string[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes = LOG_TAIL_BYTES) {}

  /** Adds one line (already redacted); drops the oldest lines beyond the bound. */
  add = (line: string): void => {
    this.lines.push(line);
    this.bytes += Buffer.byteLength(line) + 1;
    while (this.bytes > this.maxBytes && this.lines.length > 1)
      this.bytes -= Buffer.byteLength(this.lines.shift()!) + 1;
  };

  /** The last `maxBytes` (or fewer) of the log; a single overlong line is cut from its start. */
  text(maxBytes = this.maxBytes): string {
    return lastBytes(`${this.lines.join('\n')}\n`, maxBytes);
  }
}

/** The last `maxBytes` of text, cut on a byte boundary without a broken UTF-8 character at the front. */
export const lastBytes = (text: string, maxBytes: number): string => {
  const buffer = Buffer.from(text);
  return buffer.length <= maxBytes
    ? text
    : buffer
        .subarray(buffer.length - maxBytes)
        .toString('utf8')
        .replace(/^\uFFFD+/, '');
};
