// The only place that exits the process: every error carries its exit code up to here.
import { writeSync } from 'node:fs';
import { EXIT, isCronvaultError } from './errors.ts';
import { redactText } from './redact.ts';
import { VERSION } from './version.ts';

/**
 * `cronvault --version` alone is answered first, before commander and the commands are loaded
 * and before process.stdout even exists (creating it loads Node's stream modules): scripts and
 * monitors call it to probe the install (BENCHMARKS.md). Same text as commander's. True when it
 * was answered; a closed pipe (`| head -0`) is no error, as for every command below.
 */
const args = process.argv.slice(2);
const versionOnly = args.length === 1 && (args[0] === '--version' || args[0] === '-V');

const answeredVersion = (): boolean => {
  if (!versionOnly) return false;
  try {
    writeSync(1, `${VERSION}\n`);
  } catch (error) {
    // EAGAIN (a non-blocking pipe that is full) and the like: the ordinary stream copes.
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') return false;
  }
  return true;
};

const versionAnswered = answeredVersion();

// `cronvault status | head` closes the pipe early; that is not an error worth a stack trace.
if (!versionAnswered)
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
      throw error;
    });
  }

const main = async (): Promise<number> => {
  // --version when writing it straight to fd 1 did not work: the ordinary way, streams and all.
  if (versionOnly) {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const [{ CommanderError }, { buildProgram }] = await Promise.all([import('commander'), import('./cli.ts')]);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // Engines run in their own process groups and would outlive a hard exit. import(): the module
      // is loaded already when an engine runs, and is not worth loading at start-up when none does.
      void import('./backends/engine-process.ts').then(({ killEngineGroups }) => {
        killEngineGroups();
        process.exit(signal === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint);
      });
      return;
    }
    process.stderr.write(
      `\ncronvault: ${signal} received, stopping the engine cleanly (send it again to quit at once)\n`,
    );
    controller.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const program = buildProgram({ signal: controller.signal, setExitCode: (code) => (exitCode = code) });
  let exitCode: number = EXIT.ok;
  try {
    await program.parseAsync(process.argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help, `help` and --version are not errors; everything else commander rejects is usage,
      // the help shown for a missing command included (commander gives it exit code 1).
      const asked = error.code === 'commander.helpDisplayed' || error.code === 'commander.version';
      return asked || (error.code === 'commander.help' && error.exitCode === 0) ? EXIT.ok : EXIT.usage;
    }
    if (isCronvaultError(error)) {
      process.stderr.write(`cronvault: ${redactText(error.message)}\n`);
      return error.exitCode;
    }
    process.stderr.write(`cronvault: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT.backupFailed;
  }
};

process.exitCode = versionAnswered ? EXIT.ok : await main();
