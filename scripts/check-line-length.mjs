// Lines of TypeScript and scripts stay at most 120 characters. Like ESLint's max-len with
// ignoreStrings, ignoreTemplateLiterals and ignoreRegExpLiterals, a line holding a string,
// template or regular-expression literal may be longer: breaking a message or a pattern in two
// makes it harder to find with grep, which is how operators trace an error to its source.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 120;
const files = execFileSync(
  'git',
  ['ls-files', '--cached', '--others', '--exclude-standard', 'src', 'test', 'scripts', 'bench', 'sim'],
  { encoding: 'utf8' },
)
  .split('\n')
  .filter((file) => /\.(ts|mjs)$/.test(file) && !file.startsWith('test/fixtures/'));
const holdsLiteral = /(['"`]).*\1|\/[^/\s].*\/[dgimsuy]*[.,;)\]]/;
const long = [];
for (const file of files) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.length > MAX && !holdsLiteral.test(line)) long.push(`${file}:${index + 1}: ${line.length} characters`);
    });
}
if (long.length > 0) {
  process.stderr.write(
    `lines longer than ${MAX} characters (outside string, template and regexp literals):\n${long.join('\n')}\n`,
  );
  process.exitCode = 1;
} else process.stdout.write(`line length: ${files.length} files, no line over ${MAX} characters outside literals\n`);
