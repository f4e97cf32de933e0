// Wires commander to the command modules; no command's work is done here.
import { Command, Option } from 'commander';
import { Logger, type Verbosity } from './log.ts';
import { UsageError } from './errors.ts';
import { VERSION } from './version.ts';
import { runCommand, type RunFlags } from './commands/run.ts';
import { explainCommand, type ExplainFlags } from './commands/retention.ts';
import { checkCommand } from './commands/check.ts';
import { cronCommand, type CronOptions } from './commands/cron.ts';
import { systemdCommand, type SystemdOptions } from './commands/systemd.ts';
import { statusCommand } from './commands/status.ts';
import { historyCommand, type HistoryFlags } from './commands/history.ts';
import { snapshotsCommand } from './commands/snapshots.ts';
import { restoreCommand, type RestoreFlags } from './commands/restore.ts';
import { initCommand } from './commands/init.ts';

export interface ProgramContext {
  signal: AbortSignal;
  setExitCode: (code: number) => void;
}

const EXIT_CODES_HELP = `
Exit codes:
  0    success (warnings included)
  1    backup failed (or retention failed/refused, or a check did not pass)
  2    usage or configuration error
  75   another run of the job holds its lock
  130  interrupted (SIGINT), 143 terminated (SIGTERM)`;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const verbosityOf = (options: { quiet?: boolean; verbose?: boolean }): Verbosity => (options.quiet ? 'quiet' : options.verbose ? 'verbose' : 'normal');

const configOption = () => new Option('-c, --config <file>', 'config file (default: $CRONVAULT_CONFIG or /etc/cronvault/config.yml)');

export const buildProgram = (context: ProgramContext): Command => {
  const program = new Command('cronvault')
    .description('Back up paths and databases from cron with restic or duplicati-cli: retention, retries by exit code, Prometheus textfile metrics.')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\nExamples:\n  cronvault run influxdb                 run one job from /etc/cronvault/config.yml\n  cronvault run --all --quiet            run every job (cron)\n  cronvault status                       how every job is doing\n  cronvault retention explain "1W:1D,4W:1W,12M:1M"\n${EXIT_CODES_HELP}`);
  program.configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('run')
    .description('Back up one job (or --all) with retries, apply retention, write metrics')
    .argument('[job]', 'job name from the config')
    .addOption(configOption())
    .option('-a, --all', 'run every job in the config, one after another')
    .option('-q, --quiet', 'print only warnings and errors (for cron: mail only when something is wrong)')
    .option('-v, --verbose', "also print the engine's own output")
    .option('--force-retention', 'apply retention even if it removes more than retention_max_delete, this once')
    .option('--path <dir>', 'without a config: the path to back up (job name derived from it)')
    .addOption(new Option('--engine <engine>', 'with --path: engine').choices(['restic', 'duplicati']))
    .option('--repository <url>', 'with --path: restic repository or duplicati target URL')
    .option('--password-file <file>', 'with --path: file holding the repository password')
    .option('--password-command <cmd>', 'with --path: command printing the repository password')
    .option('--retention <policy>', 'with --path: retention, e.g. "1W:1D,4W:1W,12M:1M" or none')
    .option('--textfile-dir <dir>', "with --path: node_exporter's textfile directory")
    .option('--pushgateway-url <url>', 'with --path: also push the metrics to this Pushgateway')
    .option('--state-dir <dir>', 'with --path: where locks, state and history live')
    .option('--hostname <name>', 'with --path: host name recorded in snapshots')
    .option('--binary <file>', 'with --path: engine executable')
    .option('--exclude <pattern>', 'with --path: exclude pattern (repeatable)', collect)
    .option('--retry-attempts <n>', 'with --path: attempts before giving up (default 10)')
    .option('--retry-min-delay <duration>', 'with --path: shortest wait between attempts (default 1s)')
    .option('--retry-max-delay <duration>', 'with --path: longest wait between attempts (default 60s)')
    .option('--timeout <duration>', 'with --path: give up on the whole run after this long')
    .option('--schedule <cron>', 'with --path: the cron schedule, exported for missed-run alerts')
    .option('--init', 'with --path: create the restic repository if it does not exist')
    .addHelpText('after', `\nExamples:\n  cronvault run influxdb\n  cronvault run --all --quiet\n  cronvault run --path /var/lib/influxdb --engine duplicati --repository file:///mnt/usb \\\n      --password-file /etc/cronvault/repo.pass --retention "1W:1D,4W:1W,12M:1M" \\\n      --textfile-dir /var/lib/prometheus/node-exporter\n${EXIT_CODES_HELP}`)
    .action(async (job: string | undefined, flags: RunFlags & { quiet?: boolean; verbose?: boolean }) => {
      const log = new Logger({ verbosity: verbosityOf(flags) });
      context.setExitCode(await runCommand(job, flags, log, context.signal));
    });

  program
    .command('check')
    .description('Validate the config and check engines, password files, repositories and directories')
    .addOption(configOption())
    .option('--json', 'machine-readable result')
    .addHelpText('after', '\nExample:\n  cronvault check --config /etc/cronvault/config.yml\n\nExit 0 only when every check passes; 2 when the config itself is invalid.')
    .action(async (flags: { config?: string; json?: boolean }) => {
      context.setExitCode(await checkCommand(flags));
    });

  program
    .command('cron')
    .description('Print the crontab lines for every job, or install them in /etc/cron.d')
    .addOption(configOption())
    .option('--install', 'write them to the cron file atomically')
    .option('--file <file>', 'cron file to write with --install', '/etc/cron.d/cronvault')
    .option('--user <user>', 'user the jobs run as', 'root')
    .option('--bin <path>', 'cronvault executable in the lines', '/usr/local/bin/cronvault')
    .option('--host <name>', "host name the times of unscheduled jobs are drawn for (the role uses the inventory name; default: each job's hostname)")
    .option('--force', 'with --install: replace a cron file the Ansible role manages')
    .addHelpText('after', '\nJobs without a schedule run daily at a time between 1:00 and 4:59 drawn from "<host>/<job>", exactly as the Ansible role draws it: stable on one host, spread across a fleet.\n\nExamples:\n  cronvault cron\n  cronvault cron --install')
    .action(async (flags: CronOptions) => {
      process.stdout.write(await cronCommand(flags));
    });

  program
    .command('systemd')
    .description('Print a systemd service and timer per job (an alternative to cron), or install them')
    .addOption(configOption())
    .option('--install', 'write the units to --dir atomically (and remove units of jobs no longer configured)')
    .option('--dir <dir>', 'unit directory for --install', '/etc/systemd/system')
    .option('--bin <path>', 'cronvault executable in ExecStart=', '/usr/bin/cronvault')
    .option('--user <user>', 'user the jobs run as', 'root')
    .option('--host <name>', "host name the times of unscheduled jobs are drawn for (as for `cronvault cron`; default: each job's hostname)")
    .option('--randomized-delay <duration>', 'RandomizedDelaySec= of each timer', '5m')
    .option('--nice <n>', 'Nice= of each service', '10')
    .addHelpText('after', '\nEach timer fires at the job\'s cron schedule translated to OnCalendar= (local time, like cron), or for a job without one at the daily time `cronvault cron` draws. Persistent=true catches up a run missed while the host was off; it is recorded in the metrics and history like any run. Schedules that never run are refused (exit 2).\n\nExamples:\n  cronvault systemd\n  cronvault systemd --install')
    .action(async (flags: SystemdOptions) => {
      process.stdout.write(await systemdCommand(flags));
    });

  program
    .command('status')
    .description('One line per job: last run, outcome, exit code in words, last success, next run')
    .addOption(configOption())
    .option('--json', 'machine-readable, stable schema (docs/status-json.md)')
    .addHelpText('after', '\nJobs that failed, never ran or missed their schedule are marked "!" (red or yellow on a terminal).\n\nExamples:\n  cronvault status\n  cronvault status --json | jq \'.jobs[] | select(.healthy | not) | .name\'\n\nExit 0 only when every job is healthy (last run succeeded, warnings included, and not overdue); 1 otherwise.')
    .action(async (flags: { config?: string; json?: boolean }) => {
      context.setExitCode(await statusCommand(flags));
    });

  program
    .command('history')
    .description("A job's last runs: start, duration, outcome, exit code, attempts, data added")
    .argument('<job>', 'job name from the config')
    .addOption(configOption())
    .option('-n, --number <count>', 'how many runs, newest first (default 20)')
    .option('--json', 'machine-readable')
    .addHelpText('after', '\nExamples:\n  cronvault history influxdb\n  cronvault history influxdb -n 5 --json')
    .action(async (job: string, flags: HistoryFlags) => {
      context.setExitCode(await historyCommand(job, flags));
    });

  program
    .command('snapshots')
    .description("List the job's own snapshots (this host, this job's tag)")
    .argument('<job>', 'job name from the config')
    .addOption(configOption())
    .option('--json', 'machine-readable')
    .addHelpText('after', '\nExample:\n  cronvault snapshots influxdb --json')
    .action(async (job: string, flags: { config?: string; json?: boolean }) => {
      context.setExitCode(await snapshotsCommand(job, flags, context.signal));
    });

  program
    .command('restore')
    .description('Restore a snapshot of a job with its engine')
    .argument('<job>', 'job name from the config')
    .addOption(configOption())
    .option('-t, --target <dir>', 'directory to restore into (must be empty unless --force)')
    .option('-s, --snapshot <id>', 'snapshot ID from `cronvault snapshots`, or latest', 'latest')
    .option('-i, --include <path>', 'restore only this path (repeatable)', collect)
    .option('--to-stdout', 'write a command job\'s dump (or one --include file) to standard output')
    .option('-f, --force', 'restore into a non-empty directory, overwriting files with the same names')
    .option('-q, --quiet', 'print only warnings and errors')
    .option('-v, --verbose', "also print the engine's own output")
    .addHelpText('after', '\nA path job is restored with its full path below the target: /var/lib/influxdb lands in DIR/var/lib/influxdb.\n\nExamples:\n  cronvault restore influxdb --target /srv/restore\n  cronvault restore influxdb --target /srv/restore --snapshot 4f3a9c1e --include /var/lib/influxdb/meta\n  cronvault restore postgres --to-stdout > dump.sql\n\nExit 2 when the target is not empty (without --force) or the snapshot is not the job\'s own.')
    .action(async (job: string, flags: RestoreFlags & { quiet?: boolean; verbose?: boolean }) => {
      const log = new Logger({ verbosity: verbosityOf(flags) });
      context.setExitCode(await restoreCommand(job, flags, log, context.signal));
    });

  program
    .command('init')
    .description("Create the job's repository if it does not exist yet")
    .argument('<job>', 'job name from the config')
    .addOption(configOption())
    .addHelpText('after', '\nSafe to run again: an existing repository is reported ("already exists") and left alone, exit 0.\n\nExample:\n  cronvault init influxdb')
    .action(async (job: string, flags: { config?: string }) => {
      context.setExitCode(await initCommand(job, flags, new Logger({ verbosity: 'normal' }), context.signal));
    });

  const retention = program
    .command('retention')
    .description('Work with retention policies')
    .addHelpText('after', '\nExample:\n  cronvault retention explain "1W:1D,4W:1W,12M:1M"');
  retention
    .command('explain')
    .description('Say in words what a retention policy keeps, and the exact engine flags')
    .argument('<policy>', 'e.g. "1W:1D,4W:1W,12M:1M", "U:1Y" or none')
    .addOption(new Option('--engine <engine>', 'engine to translate for').choices(['restic', 'duplicati']).default('restic'))
    .option('--restic-version <version>', 'restic version to translate for (default: the installed one)')
    .addOption(new Option('--rounding <mode>', 'what to do with intervals restic cannot express').choices(['refuse', 'keep-more']).default('refuse'))
    .addHelpText('after', '\nExamples:\n  cronvault retention explain "1W:1D,4W:1W,12M:1M"\n  cronvault retention explain "7D:0s,3M:1D,10Y:2M" --engine duplicati\n\nExit 2 when the policy is invalid.')
    .action(async (policy: string, flags: ExplainFlags) => {
      const { text, problem } = await explainCommand(policy, flags);
      process.stdout.write(`${text}\n`);
      // The reason is already in the explanation above; the error only sets the exit code.
      if (problem) throw new UsageError('E_RETENTION', `${flags.engine ?? 'restic'} cannot apply "${policy}" (see above)`);
    });

  return program;
};
