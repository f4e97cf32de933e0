// The one place that decides whether output is coloured and lays out aligned tables, so every
// command looks the same on a terminal and stays plain text in cron mail and pipes.

export interface ColorChoice {
  /** false after --no-color; undefined when the user said nothing. */
  color?: boolean;
}

/**
 * Colour only for a person at a terminal: not with --no-color, not when NO_COLOR is set (any
 * value, https://no-color.org), not on TERM=dumb, never into a pipe or a file.
 */
export const useColor = (stream: { isTTY?: boolean }, choice: ColorChoice = {}): boolean =>
  choice.color !== false && Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';

const ANSI = { bold: '1', dim: '2', red: '31', green: '32', yellow: '33', cyan: '36' } as const;
export type AnsiColor = keyof typeof ANSI;

/** A painter bound to one decision: paint('red', text) is text itself when colour is off. */
export const painter =
  (color: boolean) =>
  (style: AnsiColor, text: string): string =>
    color ? `\u001b[${ANSI[style]}m${text}\u001b[0m` : text;

/**
 * Rows of cells as aligned lines: columns two spaces apart, the last column not padded, no
 * trailing blanks (cron mail and diffs stay clean).
 */
export const renderTable = (rows: string[][]): string[] => {
  if (rows.length === 0) return [];
  // Loops, not map/spread per column: `status` lays out 500 rows of 10 cells.
  const widths = rows[0]!.map(() => 0);
  for (const row of rows)
    for (let col = 0; col < widths.length; col += 1) widths[col] = Math.max(widths[col]!, (row[col] ?? '').length);
  return rows.map((row) => {
    let line = '';
    for (let col = 0; col < row.length; col += 1) {
      const cell = row[col]!;
      line += col === 0 ? '' : '  ';
      line += col === row.length - 1 ? cell : cell.padEnd(widths[col]!);
    }
    return line.trimEnd();
  });
};
