// Config durations ("500ms", "30s", "5m", "1h30m", "2d") for retries and timeouts. Retention
// timespans have their own, case-sensitive grammar in src/retention/; these are the everyday kind.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * The longest duration a Node timer can hold (2^31-1 ms, about 24.8 days). A longer one does
 * not wait at all: Node fires it after 1 ms, so `timeout: 30d` stopped every run at once.
 */
export const MAX_DURATION_MS = 2_147_483_647;

/**
 * Milliseconds, or undefined when the text is not a duration. A bare number means seconds.
 * Callers check the result against MAX_DURATION_MS; one too large for a number is undefined.
 */
export const parseDuration = (text: string): number | undefined => {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed))
    return Number.isFinite(Number(trimmed) * 1000) ? Number(trimmed) * 1000 : undefined;
  if (trimmed === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < trimmed.length) {
    const start = PART.lastIndex;
    const match = PART.exec(trimmed);
    if (!match || match.index !== start) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
  }
  return Number.isFinite(total) ? total : undefined;
};

/** "37 s", "4 min 5 s", "2 h 3 min": short and readable in logs. */
export const formatDuration = (ms: number): string => {
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 60) return ms < 10_000 && ms % 1000 !== 0 ? `${(ms / 1000).toFixed(1)} s` : `${totalSeconds} s`;
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return seconds > 0 ? `${minutes} min ${seconds} s` : `${minutes} min`;
};

/** Bytes as "1.2 MiB". */
export const formatBytes = (bytes: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
};
