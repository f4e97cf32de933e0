// Reads a dump as it streams past, with a checker of its own format (`pg_restore --list` for a
// custom-format PostgreSQL dump), so a stream that is not a dump fails the run. The checker
// reads what it needs (the header and table of contents) and exits; the rest is not fed to it.
import { once } from 'node:events';
import { execa } from 'execa';

export interface DumpCheck {
  /** Feeds one chunk; resolves when the checker took it (or is gone), so memory stays bounded. */
  feed(chunk: Buffer): Promise<void>;
  /** Ends the input and returns what the checker objected to, or undefined when it accepted it. */
  finish(): Promise<string | undefined>;
}

interface CheckerResult {
  exitCode?: number;
  signal?: string;
  stderr?: unknown;
}

/** What the checker objected to, or undefined when it accepted the dump. */
export const checkVerdict = (binary: string, done: CheckerResult): string | undefined => {
  // A checker that could not start (not installed) checks nothing; the exit code still does.
  if (done.exitCode === 0 || (done.exitCode === undefined && !done.signal)) return undefined;
  const detail =
    String(done.stderr ?? '')
      .trim()
      .split('\n')
      .pop() ?? '';
  return `${binary} rejected the dump (exit ${done.exitCode ?? done.signal})${detail ? `: ${detail}` : ''}`;
};

export const startDumpCheck = (argv: string[]): DumpCheck => {
  const [file, ...args] = argv;
  const checker = execa(file!, args, {
    reject: false,
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    buffer: { stderr: true },
  });
  let closed = false;
  checker.stdin?.on('error', () => {
    closed = true;
  });
  checker.stdin?.on('close', () => {
    closed = true;
  });
  const result = checker.then((done) => {
    closed = true;
    return done;
  });
  return {
    async feed(chunk) {
      if (closed || !checker.stdin) return;
      if (!checker.stdin.write(chunk)) await Promise.race([once(checker.stdin, 'drain'), result]);
    },
    async finish() {
      if (!closed) checker.stdin?.end();
      return checkVerdict(file!, await result);
    },
  };
};
