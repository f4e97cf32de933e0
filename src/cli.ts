// Wires commander to the command modules; no command's work is done here.
import { Command, Option } from 'commander';
// Command modules are imported inside each action, never at the top: esbuild keeps a module that
// is only import()ed uninitialised until then, so `--version`, `status` and `cron` do not pay for
// execa, prom-client or the engines (see BENCHMARKS.md). Types are free: import them here.
import type { GlobalOptions } from './commands/context.ts';
import type { CronOptions } from './commands/cron.ts';
import type { FleetFlags } from './commands/fleet.ts';
import type { HistoryFlags } from './commands/history.ts';
import type { PruneFlags } from './commands/prune.ts';
import type { RestoreFlags } from './commands/restore.ts';
import type { ExplainFlags } from './commands/retention.ts';
import type { RetentionApplyFlags } from './commands/retention-apply.ts';
import type { RunFlags } from './commands/run.ts';
import { RUN_FLAGS } from './commands/run-flags.ts';
import type { SystemdOptions } from './commands/systemd.ts';
import type { VerifyFlags } from './commands/verify.ts';
import { UsageError } from './errors.ts';
import { Logger, type Verbosity } from './log.ts';
import { VERSION } from './version.ts';

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

const verbosityOf = (options: GlobalOptions): Verbosity => {
  if (options.quiet && options.verbose) throw new UsageError('E_USAGE', 'give -q/--quiet or -v/--verbose, not both');
  return options.quiet ? 'quiet' : options.verbose ? 'verbose' : 'normal';
};

/** Every option a command was given, its own and the program's (typed before or after it). */
const optionsOf = <T>(command: Command): T & GlobalOptions => command.optsWithGlobals<T & GlobalOptions>();

const loggerFor = (options: GlobalOptions): Logger =>
  new Logger({ verbosity: verbosityOf(options), color: options.color });

/** For a global option that means nothing to one command: refused, so nobody relies on it doing something. */
const refuse = (options: GlobalOptions, option: 'json', command: string, why: string): void => {
  if (options[option]) throw new UsageError('E_USAGE', `${command} has no --${option} output: ${why}`);
};

const GLOBAL_OPTIONS_HELP = `
The options above (-c, -q, -v, --json, --no-color; also NO_COLOR=1) go before or after the
command, for every command: cronvault -c FILE run JOB is cronvault run JOB -c FILE.
Logs always go to stderr, data (tables, JSON, scripts) to stdout.`;

export const buildProgram = (context: ProgramContext): Command => {
  const program = new Command('cronvault')
    // Copied into every command: `run a b` must not quietly run only a.
    .allowExcessArguments(false)
    .description(
      'Back up paths and databases from cron with restic, borg or duplicati-cli: retention, retries by exit code, Prometheus textfile metrics.',
    )
    .version(VERSION, '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    // Subcommands list the program's options under "Global Options" in their own --help.
    .configureHelp({ showGlobalOptions: true })
    .option('-c, --config <file>', 'config file (default: $CRONVAULT_CONFIG or /etc/cronvault/config.yml)')
    .option('-q, --quiet', 'log only warnings and errors (for cron: mail only when something is wrong)')
    .option('-v, --verbose', "also log the engine's own output")
    .option('--json', 'data as one JSON document on stdout (see each command)')
    .option('--no-color', 'no colour, as NO_COLOR=1 does')
    .addHelpText(
      'after',
      `\nExamples:\n  cronvault run influxdb                 run one job from /etc/cronvault/config.yml\n  cronvault -c ./config.yml run --all -q run every job of another config (cron)\n  cronvault run influxdb --dry-run       what a run would add and remove, changing nothing\n  cronvault status                       how every job is doing\n  cronvault retention explain "1W:1D,4W:1W,12M:1M"\n  eval "$(cronvault completion bash)"    tab completion, job names included\n${GLOBAL_OPTIONS_HELP}\n${EXIT_CODES_HELP}`,
    );
  program.configureOutput({ writeErr: (text) => process.stderr.write(text) });

  const run = program
    .command('run')
    .description('Back up one job (or --all) with retries, apply retention, write metrics')
    .argument('[job]', 'job name from the config');
  for (const spec of RUN_FLAGS) {
    const option = new Option(spec.flags, spec.help);
    if ('choices' in spec) option.choices(spec.choices);
    if (spec.value === 'list') option.argParser(collect);
    run.addOption(option);
  }
  run
    .addHelpText(
      'after',
      `\n--json prints the results (or, with --dry-run, the plan) as one JSON document on stdout.\n\nExamples:\n  cronvault run influxdb\n  cronvault run --all --quiet\n  cronvault run influxdb --dry-run\n  cronvault run --path /var/lib/influxdb --engine duplicati --repository file:///mnt/usb \\\n      --password-file /etc/cronvault/repo.pass --retention "1W:1D,4W:1W,12M:1M" \\\n      --textfile-dir /var/lib/prometheus/node-exporter\n${EXIT_CODES_HELP}`,
    )
    .action(async (job: string | undefined, _flags: unknown, command: Command) => {
      const options = optionsOf<RunFlags>(command);
      const { runCommand } = await import('./commands/run.ts');
      context.setExitCode(await runCommand(job, options, loggerFor(options), context.signal));
    });

  program
    .command('check')
    .description('Validate the config and check engines, password files, repositories and directories')
    .option('--config-only', 'check the config file alone: no engine, repository or directory, nothing written')
    .addHelpText(
      'after',
      '\n--json prints every check as one JSON document.\n\nExamples:\n  cronvault check --config /etc/cronvault/config.yml\n  cronvault check --config-only --config /tmp/candidate.yml\n\nExit 0 only when every check passes; 2 when the config itself is invalid.',
    )
    .action(async (_flags: unknown, command: Command) => {
      const { checkCommand } = await import('./commands/check.ts');
      context.setExitCode(await checkCommand(optionsOf<{ configOnly?: boolean }>(command)));
    });

  program
    .command('cron')
    .description('Print the crontab lines for every job, or install them in /etc/cron.d')
    .option('--install', 'write them to the cron file atomically')
    .option('--file <file>', 'cron file to write with --install', '/etc/cron.d/cronvault')
    .option('--user <user>', 'user the jobs run as', 'root')
    .option('--bin <path>', 'cronvault executable in the lines', '/usr/local/bin/cronvault')
    .option(
      '--host <name>',
      "host name the times of unscheduled jobs are drawn for (the role uses the inventory name; default: each job's hostname)",
    )
    .option('--force', 'with --install: replace a cron file the Ansible role manages')
    .addHelpText(
      'after',
      '\nJobs without a schedule run daily at a time between 1:00 and 4:59 drawn from "<host>/<job>", exactly as the Ansible role draws it: stable on one host, spread across a fleet.\n--json prints { file, installed, lines } instead of the crontab text.\n\nExamples:\n  cronvault cron\n  cronvault cron --install',
    )
    .action(async (_flags: unknown, command: Command) => {
      const { cronCommand } = await import('./commands/cron.ts');
      process.stdout.write(await cronCommand(optionsOf<CronOptions>(command)));
    });

  program
    .command('systemd')
    .description('Print a systemd service and timer per job (an alternative to cron), or install them')
    .option('--install', 'write the units to --dir atomically (and remove units of jobs no longer configured)')
    .option('--dir <dir>', 'unit directory for --install', '/etc/systemd/system')
    .option('--bin <path>', 'cronvault executable in ExecStart=', '/usr/bin/cronvault')
    .option('--user <user>', 'user the jobs run as', 'root')
    .option(
      '--host <name>',
      "host name the times of unscheduled jobs are drawn for (as for `cronvault cron`; default: each job's hostname)",
    )
    .option('--randomized-delay <duration>', 'RandomizedDelaySec= of each timer', '5m')
    .option('--nice <n>', 'Nice= of each service', '10')
    .addHelpText(
      'after',
      "\nEach timer fires at the job's cron schedule translated to OnCalendar= (local time, like cron), or for a job without one at the daily time `cronvault cron` draws. A job `cronvault verify` checks also gets cronvault_verify-<job>.service and .timer, on its verify schedule (weekly by default, as `cronvault cron` draws it). Persistent=true catches up a run missed while the host was off; it is recorded in the metrics and history like any run. Schedules that never run are refused (exit 2).\n--json prints { dir, installed, units } instead of the unit text.\n\nExamples:\n  cronvault systemd\n  cronvault systemd --install",
    )
    .action(async (_flags: unknown, command: Command) => {
      const { systemdCommand } = await import('./commands/systemd.ts');
      process.stdout.write(await systemdCommand(optionsOf<SystemdOptions>(command)));
    });

  program
    .command('status')
    .description('One line per job: last run, outcome, exit code in words, last success, next run')
    .addHelpText(
      'after',
      '\n--json: machine-readable, stable schema (docs/status-json.md).\nJobs that failed, never ran or missed their schedule are marked "!" (red or yellow on a terminal).\n\nExamples:\n  cronvault status\n  cronvault status --json | jq \'.jobs[] | select(.healthy | not) | .name\'\n\nExit 0 only when every job is healthy (last run succeeded, warnings included, and not overdue); 1 otherwise.',
    )
    .action(async (_flags: unknown, command: Command) => {
      const { statusCommand } = await import('./commands/status.ts');
      context.setExitCode(await statusCommand(optionsOf(command)));
    });

  program
    .command('fleet')
    .description('Every host and job as Prometheus sees them: last run, outcome, last success, alerts; problems first')
    .requiredOption('--prometheus <url>', 'Prometheus base URL, e.g. http://prometheus:9090 (no credentials in it)')
    .option('--selector <matchers>', 'only series matching these label matchers, e.g. \'{site="fra"}\'')
    .option('--basic-auth-file <file>', 'file holding user:password for HTTP basic auth')
    .option('--bearer-token-file <file>', 'file holding a bearer token')
    .addHelpText(
      'after',
      `\nOne row per host and job, in the words of \`cronvault status\`, from the series cronvault writes (docs/metrics.md)\nand the firing Backup* alerts; jobs with a problem first, marked "!". "(default)" marks the time \`cronvault cron\`\ndraws for a job without a schedule, read in this machine's time zone.\n--json: { schemaVersion, generatedAt, prometheus, selector, healthy, hosts, jobs } (docs/fleet-json.md).\n\nExamples:\n  cronvault fleet --prometheus http://prometheus:9090\n  cronvault fleet --prometheus https://prom.example.org --selector '{customer="acme"}' --bearer-token-file ~/.prom-token\n  cronvault fleet --prometheus http://prometheus:9090 --json | jq -r '.jobs[] | select(.healthy | not) | "\\(.host) \\(.job)"'\n\nExit 0 only when every job is healthy; 1 when one is not (or none matched); 2 bad flags or selector;\n69 Prometheus unreachable or erroring; 77 Prometheus refused the credentials.`,
    )
    .action(async (_flags: unknown, command: Command) => {
      const { fleetCommand } = await import('./commands/fleet.ts');
      context.setExitCode(await fleetCommand(optionsOf<FleetFlags>(command)));
    });

  program
    .command('history')
    .description("A job's last runs: start, duration, outcome, exit code, attempts, data added")
    .argument('<job>', 'job name from the config')
    .option('-n, --number <count>', 'how many runs, newest first (default 20)')
    .addHelpText(
      'after',
      '\n--json prints { job, runs } as one JSON document.\n\nExamples:\n  cronvault history influxdb\n  cronvault history influxdb -n 5 --json',
    )
    .action(async (job: string, _flags: unknown, command: Command) => {
      const { historyCommand } = await import('./commands/history.ts');
      context.setExitCode(await historyCommand(job, optionsOf<HistoryFlags>(command)));
    });

  program
    .command('snapshots')
    .description("List the job's own snapshots (this host, this job's tag)")
    .argument('<job>', 'job name from the config')
    .addHelpText(
      'after',
      '\n--json prints the snapshots as one JSON array.\n\nExample:\n  cronvault snapshots influxdb --json',
    )
    .action(async (job: string, _flags: unknown, command: Command) => {
      const { snapshotsCommand } = await import('./commands/snapshots.ts');
      context.setExitCode(await snapshotsCommand(job, optionsOf(command), context.signal));
    });

  program
    .command('restore')
    .description('Restore a snapshot of a job with its engine')
    .argument('<job>', 'job name from the config')
    .option('-t, --target <dir>', 'directory to restore into (must be empty unless --force)')
    .option('-s, --snapshot <id>', 'snapshot ID from `cronvault snapshots`, or latest', 'latest')
    .option('-i, --include <path>', 'restore only this path (repeatable)', collect)
    .option('--to-stdout', "write a command job's dump (or one --include file) to standard output")
    .option('-f, --force', 'restore into a non-empty directory, overwriting files with the same names')
    .option(
      '--into-database <name>',
      'postgresql/mysql jobs: pipe the dump into pg_restore/psql/mariadb for this existing database (nothing is created)',
    )
    .addHelpText(
      'after',
      "\nA path job is restored with its full path below the target: /var/lib/influxdb lands in DIR/var/lib/influxdb.\n--json is refused: restore writes files (or the dump itself to stdout), not data about them.\n\nExamples:\n  cronvault restore influxdb --target /srv/restore\n  cronvault restore influxdb --target /srv/restore --snapshot 4f3a9c1e --include /var/lib/influxdb/meta\n  cronvault restore postgres --to-stdout > dump.sql\n  cronvault restore appdb --into-database appdb_restored\n\nExit 2 when the target is not empty (without --force) or the snapshot is not the job's own.",
    )
    .action(async (job: string, _flags: unknown, command: Command) => {
      const options = optionsOf<RestoreFlags>(command);
      refuse(options, 'json', 'restore', 'it writes files, or with --to-stdout the dump itself');
      const { restoreCommand } = await import('./commands/restore.ts');
      context.setExitCode(await restoreCommand(job, options, loggerFor(options), context.signal));
    });

  program
    .command('verify')
    .description("Prove a job's backups restore: check the repository, restore a sample of the newest snapshot")
    .argument('[job]', 'job name from the config')
    .option('--all', 'every job of the config that can be verified (restic and duplicati jobs without verify: false)')
    .option(
      '--seed <text>',
      "draw the drill's sample from this seed (repeats an earlier drill; the log names each seed)",
    )
    .addHelpText(
      'after',
      "\nPart 1 runs `restic check` (verify.read_data: none, a share like 5%, or rotate). Part 2, the restore drill,\nrestores verify.sample files (default 20, each at most verify.max_file_size) of the newest snapshot into a\nprivate directory under state_dir, removed afterwards, and compares each with the snapshot's record and,\nwhen unchanged since, with the source. A command job's newest dump is read through a validator instead\n(verify.validator: pg_restore, redis-check-rdb, sqlite, gzip, zstd, xz, bzip2 or nonempty).\nA duplicati job runs `duplicati-cli test` on verify.sample volumes (read_data: 100%: all), both check and drill.\nThe outcome goes to cronvault-verify_<job>.prom (docs/metrics.md), never to the backup's own metrics.\n--json prints { exitCode, jobs } on stdout.\n\nExamples:\n  cronvault verify influxdb\n  cronvault verify --all --quiet\n  cronvault verify influxdb --seed 5f2a9c01e7b3\n\nExit 0 when every job passed, 1 when one failed, 75 when the job's backup holds its lock.",
    )
    .action(async (job: string | undefined, _flags: unknown, command: Command) => {
      const options = optionsOf<VerifyFlags>(command);
      const { verifyCommand } = await import('./commands/verify.ts');
      context.setExitCode(await verifyCommand(job, options, loggerFor(options), context.signal));
    });

  program
    .command('init')
    .description("Create the job's repository if it does not exist yet")
    .argument('<job>', 'job name from the config')
    .addHelpText(
      'after',
      '\nSafe to run again: an existing repository is reported ("already exists") and left alone, exit 0.\n--json prints { job, repository, created } on stdout.\n\nExample:\n  cronvault init influxdb',
    )
    .action(async (job: string, _flags: unknown, command: Command) => {
      const options = optionsOf(command);
      const { initCommand } = await import('./commands/init.ts');
      context.setExitCode(await initCommand(job, options, loggerFor(options), context.signal));
    });

  program
    .command('cleanup')
    .description('Remove the metrics file and state of jobs no longer declared in the config')
    .addHelpText(
      'after',
      '\nEvery `run` with a config does this too. A job removed from the config keeps its .prom file otherwise, and its\nold metrics raise BackupNotRun. History is kept; a job still running is removed after it ends.\n--json prints { removed: [{ job, files, kept? }] } on stdout.\n\nExample:\n  cronvault cleanup --config /etc/cronvault/config.yml',
    )
    .action(async (_flags: unknown, command: Command) => {
      const options = optionsOf(command);
      const { cleanupCommand } = await import('./commands/cleanup.ts');
      context.setExitCode(await cleanupCommand(options, loggerFor(options)));
    });

  const retention = program
    .command('retention')
    .description('Work with retention policies')
    .addHelpText('after', '\nExample:\n  cronvault retention explain "1W:1D,4W:1W,12M:1M"');
  retention
    .command('explain')
    .description('Say in words what a retention policy keeps, and the exact engine flags')
    .argument('<policy>', 'e.g. "1W:1D,4W:1W,12M:1M", "U:1Y" or none')
    .addOption(
      new Option('--engine <engine>', 'engine to translate for')
        .choices(['restic', 'duplicati', 'borg'])
        .default('restic'),
    )
    .option('--restic-version <version>', 'restic version to translate for (default: the installed one)')
    .addOption(
      new Option('--rounding <mode>', 'what to do with intervals restic cannot express')
        .choices(['refuse', 'keep-more'])
        .default('refuse'),
    )
    .addHelpText(
      'after',
      '\nReads no config (--config is accepted and ignored). --json prints { policy, engine, explanation, applicable, problem }.\n\nExamples:\n  cronvault retention explain "1W:1D,4W:1W,12M:1M"\n  cronvault retention explain "7D:0s,3M:1D,10Y:2M" --engine duplicati\n\nExit 2 when the policy is invalid.',
    )
    .action(async (policy: string, _flags: unknown, command: Command) => {
      const flags = optionsOf<ExplainFlags>(command);
      const { explainCommand } = await import('./commands/retention.ts');
      const { text, problem } = await explainCommand(policy, flags);
      const engine = flags.engine ?? 'restic';
      process.stdout.write(
        flags.json
          ? `${JSON.stringify({ policy, engine, explanation: text, applicable: !problem, problem: problem ?? null }, null, 2)}\n`
          : `${text}\n`,
      );
      // The reason is already in the explanation above; the error only sets the exit code.
      if (problem) throw new UsageError('E_RETENTION', `${engine} cannot apply "${policy}" (see above)`);
    });

  retention
    .command('apply')
    .description("On a trusted host: apply other hosts' retention (append-only clients cannot delete)")
    .option('--from-config <file>', "a host's config file (repeatable); its jobs are scoped by that host", collect)
    .option('--repository <url>', "reach the repository directly instead of the configs' (append-only) URL")
    .option('--password-file <file>', "the repository password file on this host, instead of the configs' own")
    .option('--dry-run', 'say what each job would remove, removing nothing')
    .option('--force-retention', 'remove even when more than retention_max_delete of a job would go')
    .addHelpText(
      'after',
      "\nThe host of a config's jobs is their `hostname` when set, else the file name without .yml (web-01.yml → web-01).\nEach job is applied as its own host would: --host, the job's tag and path, dry run and mass-deletion guard first.\n--json prints { results: [{ file, host, job, outcome, removed, kept, reason }] }.\n\nExample:\n  cronvault retention apply --from-config /srv/hosts/web-01.yml --from-config /srv/hosts/db-01.yml \\\n      --repository /srv/restic/shared --password-file /etc/cronvault/shared.pass\n\nExit 1 when any job's retention failed or was refused.",
    )
    .action(async (_flags: unknown, command: Command) => {
      const options = optionsOf<RetentionApplyFlags>(command);
      const { retentionApplyCommand } = await import('./commands/retention-apply.ts');
      context.setExitCode(await retentionApplyCommand(options, loggerFor(options), context.signal));
    });

  program
    .command('prune')
    .description(
      'Free the space of forgotten snapshots in each repository this host prunes (prune: { schedule, host })',
    )
    .option(
      '--repository <name>',
      'only this repository (its repository_name, or the repo-<hash> that `prune --json` lists)',
      collect,
    )
    .option('--dry-run', 'say what would be freed, changing nothing (restic only; no metrics written)')
    .addHelpText(
      'after',
      "\nrestic prune (borg compact) takes the repository's exclusive lock, so it runs on its own schedule on one host\nper repository: the host named by prune.host (default: each host prunes its own repositories weekly).\nA repository this host does not prune is skipped (exit 0). Writes cronvault-prune_<repository>.prom.\n--json prints { repositories: [{ repository, pruned, outcome, exitCode, reason, removedBytes, durationSeconds }] }.\n\nExamples:\n  cronvault prune\n  cronvault prune --repository shared --dry-run\n\nExit 1 when a prune failed, 75 when another prune of the repository is running.",
    )
    .action(async (_flags: unknown, command: Command) => {
      const options = optionsOf<PruneFlags>(command);
      const { pruneCommand } = await import('./commands/prune.ts');
      context.setExitCode(await pruneCommand(options, loggerFor(options), context.signal));
    });

  program
    .command('completion')
    .description('Print a shell completion script (commands, options, job names from the config)')
    .argument('<shell>', 'bash or zsh')
    .addHelpText(
      'after',
      '\nJob names are read from the config at completion time (the -c/--config on the line, else the default).\n--json is refused: the output is a shell script.\n\nExamples:\n  eval "$(cronvault completion bash)"                      in ~/.bashrc\n  cronvault completion bash > /etc/bash_completion.d/cronvault\n  cronvault completion zsh > "${fpath[1]}/_cronvault"',
    )
    .action(async (shell: string, _flags: unknown, command: Command) => {
      refuse(optionsOf(command), 'json', 'completion', 'it prints a shell script');
      const { completionCommand } = await import('./commands/completion.ts');
      process.stdout.write(completionCommand(shell, program));
    });

  // Used by the completion scripts only.
  program.command('__complete-jobs', { hidden: true }).action(async (_flags: unknown, command: Command) => {
    const { completeJobsCommand } = await import('./commands/completion.ts');
    process.stdout.write(completeJobsCommand(optionsOf(command)));
  });

  return program;
};
