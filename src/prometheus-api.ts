// A minimal client of the Prometheus HTTP API (instant queries), for `cronvault fleet`.
// Credentials come from files, never from argv or the URL, and never appear in a message.
// Each way of failing has its own exit code: bad input 2, unreachable or erroring 69, refused 77.
import { readFileSync } from 'node:fs';
import { CronvaultError, EXIT, UsageError } from './errors.ts';

export interface PrometheusAuth {
  /** A file holding `user:password` (one line). */
  basicAuthFile?: string;
  /** A file holding a bearer token (one line). */
  bearerTokenFile?: string;
}

/** One series of an instant vector: its labels and value. */
interface Sample {
  labels: Record<string, string>;
  value: number;
}

const QUERY_TIMEOUT_MS = 30_000;

const readSecret = (file: string, option: string): string => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      'E_CREDENTIALS',
      `${option} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '' || secret.includes('\n'))
    throw new UsageError('E_CREDENTIALS', `${option} ${file}: expected one non-empty line`);
  return secret;
};

const authorization = (auth: PrometheusAuth): string | undefined => {
  if (auth.basicAuthFile && auth.bearerTokenFile)
    throw new UsageError('E_USAGE', 'give --basic-auth-file or --bearer-token-file, not both');
  if (auth.bearerTokenFile) return `Bearer ${readSecret(auth.bearerTokenFile, '--bearer-token-file')}`;
  if (!auth.basicAuthFile) return undefined;
  const pair = readSecret(auth.basicAuthFile, '--basic-auth-file');
  if (!pair.includes(':'))
    throw new UsageError('E_CREDENTIALS', `--basic-auth-file ${auth.basicAuthFile}: expected "user:password"`);
  return `Basic ${Buffer.from(pair).toString('base64')}`;
};

/** The base URL, checked: http(s), no credentials in it (they would be on the command line). */
export const prometheusBaseUrl = (text: string): URL => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError('E_USAGE', `--prometheus "${text}" is not a URL (like http://prometheus:9090)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('E_USAGE', `--prometheus must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username || url.password)
    throw new UsageError(
      'E_USAGE',
      '--prometheus must not contain credentials (they would show in `ps`): put user:password in a file and give --basic-auth-file',
    );
  return url;
};

export type InstantQuery = (promql: string) => Promise<Sample[]>;

/** A function running instant queries against the Prometheus at `base`. */
export const prometheusQuery = (base: URL, auth: PrometheusAuth = {}): InstantQuery => {
  const header = authorization(auth);
  const where = base.href;
  return async (promql) => {
    // Keeps a path prefix (https://example.org/prometheus) and works with or without a final "/".
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}/api/v1/query`, base.origin);
    url.search = new URLSearchParams({ query: promql }).toString();
    let response: Response;
    try {
      response = await fetch(url, {
        headers: header ? { authorization: header } : {},
        signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      const reason =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${QUERY_TIMEOUT_MS / 1000} s`
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new CronvaultError(
        'E_PROMETHEUS_UNREACHABLE',
        EXIT.unavailable,
        `cannot reach Prometheus at ${where}: ${reason}`,
      );
    }
    if (response.status === 401 || response.status === 403)
      throw new CronvaultError(
        'E_PROMETHEUS_AUTH',
        EXIT.noPermission,
        `Prometheus at ${where} refused the request (HTTP ${response.status}): ${header ? 'check the credentials file' : 'it needs --basic-auth-file or --bearer-token-file'}`,
      );
    const body = (await response.json().catch(() => undefined)) as
      | { status?: string; errorType?: string; error?: string; data?: { resultType?: string; result?: unknown } }
      | undefined;
    if (body?.status === 'error' && body.errorType === 'bad_data')
      throw new UsageError('E_PROMETHEUS_QUERY', `Prometheus rejected the query ${promql}: ${body.error}`);
    if (!response.ok || body?.status !== 'success' || body.data?.resultType !== 'vector')
      throw new CronvaultError(
        'E_PROMETHEUS_ANSWER',
        EXIT.unavailable,
        `Prometheus at ${where} answered HTTP ${response.status}${body?.error ? `: ${body.error}` : ' without a Prometheus API answer (is this the Prometheus URL?)'}`,
      );
    return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  };
};
