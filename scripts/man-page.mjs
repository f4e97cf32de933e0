// Writes cronvault(1) in roff from the bundle's own --help texts, so the man page can never
// disagree with the program it ships with. Usage: node scripts/man-page.mjs BUNDLE DATE > cronvault.1
// DATE (YYYY-MM-DD) comes from SOURCE_DATE_EPOCH, for reproducible builds.
import { execFileSync } from 'node:child_process';

const [bundle, date] = process.argv.slice(2);
if (!bundle || !date) {
  console.error('usage: node scripts/man-page.mjs BUNDLE YYYY-MM-DD');
  process.exit(2);
}

// A fixed width keeps commander's line wrapping the same on every build machine.
const help = (...args) =>
  execFileSync(process.execPath, [bundle, ...args, '--help'], {
    encoding: 'utf8',
    env: { ...process.env, COLUMNS: '78' },
  });

/** Text for roff: backslashes escaped, hyphens literal, no line read as a request. */
const roff = (text) =>
  text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n')
    .trimEnd();

/** The command names listed under "Commands:" in a help text (none when it has no such list). */
const commandsIn = (text) => {
  const start = text.indexOf('\nCommands:\n');
  if (start < 0) return [];
  const block = text.slice(start + '\nCommands:\n'.length).split('\n\n')[0];
  return [...block.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((name) => name !== 'help');
};

const version = execFileSync(process.execPath, [bundle, '--version'], { encoding: 'utf8' }).trim();
const top = help();
const commands = commandsIn(top);
// The paragraph after "Usage:", unwrapped.
const description = top.split('\n\n')[1].replace(/\s+/g, ' ').trim();

const sections = [
  `.TH CRONVAULT 1 "${date}" "cronvault ${version}" "User Commands"`,
  '.SH NAME',
  'cronvault \\- back up paths and databases with restic or duplicati\\-cli, with Prometheus metrics',
  '.SH SYNOPSIS',
  '.B cronvault',
  '.I command',
  '.RI [ options ]',
  '.SH DESCRIPTION',
  roff(description.trim()),
  '.PP',
  'The configuration is read from',
  '.IR /etc/cronvault/config.yml ,',
  'or the file named by',
  '.B \\-\\-config',
  'or',
  '.BR CRONVAULT_CONFIG .',
  'Each command and its options follow, as printed by',
  '.BR "cronvault \\fIcommand\\fP \\-\\-help" .',
  '.SH OVERVIEW',
  '.nf',
  roff(top),
  '.fi',
  '.SH COMMANDS',
  ...commands.flatMap((name) => {
    const text = help(name);
    // retention has subcommands of its own.
    return [
      `.SS ${name}`,
      '.nf',
      roff(text),
      '.fi',
      ...commandsIn(text).flatMap((sub) => [`.SS "${name} ${sub}"`, '.nf', roff(help(name, sub)), '.fi']),
    ];
  }),
  '.SH FILES',
  '.TP',
  '.I /etc/cronvault/config.yml',
  'the configuration (a commented example when installed by the package)',
  '.TP',
  '.I /var/lib/cronvault',
  'state: locks, the last metrics and the run history of each job',
  '.TP',
  '.I /var/lib/prometheus/node\\-exporter/cronvault_*.prom',
  'the metrics node_exporter reads',
  '.SH ENVIRONMENT',
  '.TP',
  '.B CRONVAULT_CONFIG',
  'the configuration file when',
  '.B \\-\\-config',
  'is not given',
  '.TP',
  '.B JOURNAL_STREAM',
  'set by systemd: log lines written to the journal carry no timestamp of their own',
  '.SH SEE ALSO',
  '.BR restic (1),',
  '.BR crontab (5),',
  '.BR systemd.timer (5),',
  '.IR /usr/share/doc/cronvault/README.md.gz',
  '',
];
process.stdout.write(sections.join('\n'));
