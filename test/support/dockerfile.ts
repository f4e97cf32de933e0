// Reads a Dockerfile the way the builder does for the few instructions our tests look at: lines
// joined at a trailing backslash, comments dropped, exec-form JSON arrays parsed. No docker is
// needed (none is installed here): the tests check what the image would run, and run it locally.

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ENV, USER, ENTRYPOINT, CMD, … */
  keyword: string;
  /** Everything after the keyword, continuation lines joined with a space. */
  args: string;
  /** 1-based line the instruction starts on. */
  line: number;
}

export const parseDockerfile = (text: string): Instruction[] => {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (pending === undefined && line.trim() === '')) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1) : line;
    pending = pending
      ? { text: `${pending.text} ${body.trim()}`, line: pending.line }
      : { text: body, line: index + 1 };
    if (continued) return;
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(pending.text);
    if (!match) throw new Error(`Dockerfile:${pending.line}: not an instruction: ${pending.text}`);
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: pending.line });
    pending = undefined;
  });
  return instructions;
};

/** The instructions with this keyword. */
export const instructionsOf = (instructions: Instruction[], keyword: string): Instruction[] =>
  instructions.filter((instruction) => instruction.keyword === keyword);

/** An exec-form argument list (`["a", "b"]`); throws on the shell form, which would add `/bin/sh -c`. */
export const execForm = (instruction: Instruction): string[] => {
  const parsed: unknown = JSON.parse(instruction.args);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string'))
    throw new Error(`Dockerfile:${instruction.line}: ${instruction.keyword} is not an exec-form array of strings`);
  return parsed;
};

/** Variables set by `ENV NAME=value …` instructions (unquoted values), later ones winning. */
export const envOf = (instructions: Instruction[]): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const instruction of instructionsOf(instructions, 'ENV'))
    for (const pair of instruction.args.split(/\s+/)) {
      const equals = pair.indexOf('=');
      if (equals <= 0) throw new Error(`Dockerfile:${instruction.line}: ENV needs NAME=value, found ${pair}`);
      env[pair.slice(0, equals)] = pair.slice(equals + 1);
    }
  return env;
};

/** `COPY [--flag…] SRC… DEST` as its sources and destination. */
export const copyOf = (instruction: Instruction): { sources: string[]; dest: string } => {
  const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
  return { sources: words.slice(0, -1), dest: words.at(-1)! };
};
