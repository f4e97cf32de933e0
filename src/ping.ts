// Dead-man's-switch pings for hosts no Prometheus watches: a run tells a monitor it started,
// succeeded or failed, and the monitor alerts when the pings stop or say "fail". Three
// protocols (`ping.kind`):
//   healthchecks  POST <url>/start, <url> (success), <url>/fail, or <url>/<exit code> with
//                 exit_code: true; the body is the last 10 KB of the run's log.
//   uptime-kuma   GET <push url>?status=up|down&msg=<summary>; Kuma has no start signal.
//   ntfy          POST <topic url> with the log tail as the message (4 KB, ntfy's limit) and a title.
// A ping never changes the run's result: a failed one is retried briefly and reported.
import type { JobConfig } from './config.ts';
import type { PingConfig, PingEvent } from './hooks-config.ts';
import type { Logger } from './log.ts';
import { lastBytes } from './log-tail.ts';
import { redactText } from './redact.ts';

/** What a ping says about the run. */
export interface PingReport {
  /** The code `cronvault run` exits with for this job; 0 for start. */
  exitCode: number;
  /** One line: the summary or why the run failed (Uptime Kuma's msg, ntfy's title). */
  summary: string;
  /** The run's log so far, redacted (the body of Healthchecks and ntfy pings). */
  log: string;
}

export interface PingOptions {
  /** Tries per ping (default 3). */
  attempts?: number;
  /** Time limit of one try (default 5 s). */
  timeoutMs?: number;
  /** Pause between tries (default 1 s). */
  delayMs?: number;
}

/** ntfy turns a longer message into an attachment, or cuts it. */
const NTFY_MESSAGE_BYTES = 4096;
/** Uptime Kuma shows msg in a list: one line, kept short. */
const KUMA_MESSAGE_CHARS = 200;

interface PingRequest {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

const withPath = (base: string, suffix: string): URL => {
  const url = new URL(base);
  if (suffix) url.pathname = `${url.pathname.replace(/\/+$/, '')}/${suffix}`;
  return url;
};

/** The request a ping of `event` makes, or undefined when the kind has no such signal. */
const pingRequest = (
  job: Pick<JobConfig, 'name' | 'hostname'>,
  ping: PingConfig,
  event: PingEvent,
  report: PingReport,
): PingRequest | undefined => {
  const text = { 'content-type': 'text/plain; charset=utf-8' };
  switch (ping.kind) {
    case 'healthchecks': {
      const suffix =
        event === 'start' ? 'start' : ping.exitCode ? String(report.exitCode) : event === 'failure' ? 'fail' : '';
      return { url: withPath(ping.url, suffix), method: 'POST', headers: text, body: report.log };
    }
    case 'uptime-kuma': {
      if (event === 'start') return undefined;
      const url = new URL(ping.url);
      url.searchParams.set('status', event === 'success' ? 'up' : 'down');
      url.searchParams.set('msg', report.summary.slice(0, KUMA_MESSAGE_CHARS));
      return { url, method: 'GET', headers: {} };
    }
    case 'ntfy': {
      const said = { start: 'started', success: 'succeeded', failure: 'failed' }[event];
      return {
        url: new URL(ping.url),
        method: 'POST',
        headers: {
          ...text,
          'x-title': `cronvault ${job.name} on ${job.hostname}: backup ${said}`,
          'x-tags': { start: 'arrow_forward', success: 'white_check_mark', failure: 'x' }[event],
          'x-priority': event === 'failure' ? '4' : '3',
        },
        body: event === 'start' ? report.summary : lastBytes(report.log, NTFY_MESSAGE_BYTES),
      };
    }
  }
};

/** fetch refuses URLs with credentials: they travel as basic auth instead. */
const moveCredentials = (request: PingRequest): PingRequest => {
  const { url } = request;
  if (!url.username && !url.password) return request;
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const bare = new URL(url);
  bare.username = '';
  bare.password = '';
  return {
    ...request,
    url: bare,
    headers: { ...request.headers, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  };
};

/** A monitor's 4xx will not change on a retry; a 5xx, a refused connection or a timeout may. */
class PermanentPingError extends Error {}

const sendOnce = async (request: PingRequest, timeoutMs: number): Promise<void> => {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const said = (await response.text().catch(() => '')).trim().slice(0, 100);
  if (response.ok) return;
  const message = `answered ${response.status} ${response.statusText}${said ? `: ${said}` : ''}`;
  throw response.status >= 400 && response.status < 500 ? new PermanentPingError(message) : new Error(message);
};

const failureReason = (error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === 'TimeoutError') return 'no answer in time';
  return cause?.code ?? cause?.message ?? (error as Error).message;
};

/**
 * Sends the ping for `event` when the job's `ping.on` asks for it. Resolves true when it was
 * sent (or not asked for), false when every try failed; the failure is logged as a warning.
 */
export const sendPing = async (
  job: Pick<JobConfig, 'name' | 'hostname' | 'ping'>,
  event: PingEvent,
  report: PingReport,
  log: Logger,
  options: PingOptions = {},
): Promise<boolean> => {
  const { ping } = job;
  if (!ping?.on.includes(event)) return true;
  const planned = pingRequest(job, ping, event, { ...report, log: redactText(report.log) });
  if (!planned) return true;
  const request = moveCredentials(planned);
  const attempts = options.attempts ?? 3;
  let reason = '';
  let tries = 0;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    tries = attempt;
    try {
      await sendOnce(request, options.timeoutMs ?? 5000);
      return true;
    } catch (error) {
      reason = failureReason(error);
      if (error instanceof PermanentPingError) break;
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 1000));
    }
  }
  log.warn(
    `${event} ping to ${redactText(ping.url)} failed after ${tries} ${tries === 1 ? 'try' : 'tries'} (${reason}); the backup's result is unchanged`,
  );
  return false;
};
