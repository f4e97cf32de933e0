// How operator input is shown inside error messages, and which characters input may not hold.
// A message quotes what was typed so it can be found and fixed, but stays one line and short:
// a 10 MB value or a newline in a path must not turn a cron mail into a wall of text.

/** Quoted input is cut after this many characters. */
const MAX_QUOTED_CHARS = 100;

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\0': '\\0',
};

/**
 * `"text"`, with control characters escaped (so the message stays on one line) and, past
 * MAX_QUOTED_CHARS, cut with an ellipsis and the full length: `"aaaa…" (5000 characters)`.
 */
export const quote = (text: string, max = MAX_QUOTED_CHARS): string => {
  const chars = [...text];
  const shown = chars.length > max ? chars.slice(0, max).join('') : text;
  const escaped = shown.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\]/g,
    (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return chars.length > max ? `"${escaped}…" (${chars.length} characters)` : `"${escaped}"`;
};

/** C0 and C1 control characters, DEL, and the Unicode line and paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

const CONTROL_NAMES: Record<string, string> = {
  '\0': 'a NUL byte',
  '\n': 'a newline',
  '\r': 'a carriage return',
  '\t': 'a tab',
  '\u001b': 'an escape character',
};

const describeCharacter = (c: string): string =>
  CONTROL_NAMES[c] ?? `the control character U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * The first control character the text may not hold, with its 1-based position, or undefined.
 * `shell` text (a command, an environment value) may hold newlines and tabs; nothing may hold
 * a NUL, which no file name, argument or environment variable can carry.
 */
export const findControlCharacter = (
  text: string,
  allow: 'none' | 'shell' = 'none',
): { position: number; name: string } | undefined => {
  // One search over the whole text first: almost all text is clean, and the config of 500 jobs
  // (every value and every key of it) comes through here at each command.
  if (!CONTROL.test(text)) return undefined;
  let position = 0;
  for (const c of text) {
    position += 1;
    if (!CONTROL.test(c)) continue;
    if (allow === 'shell' && (c === '\n' || c === '\t')) continue;
    return { position, name: describeCharacter(c) };
  }
  return undefined;
};
