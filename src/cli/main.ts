import yargs, { type CommandModule } from 'yargs';
import { StdoutClosedError, stdoutWasClosed } from '../output/stdout-closed';
import type { CommandName } from './command-names';

/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * Commands load their modules only when run: `replay` need not pay for the Log Service SDK or
 * prom-client at start-up (a quarter of a second), while `--help` loads them all to list them.
 */
const COMMANDS: Record<CommandName, () => CommandModule<object, never>> = {
  replay: () => (require('./replay-command') as typeof import('./replay-command')).replayCommand as never,
  run: () => (require('./run-command') as typeof import('./run-command')).runCommand as never,
  validate: () => (require('./validate-command') as typeof import('./validate-command')).validateCommand as never,
  generate: () => (require('./generate-command') as typeof import('./generate-command')).generateCommand as never,
  query: () => (require('./query-command') as typeof import('./query-command')).queryCommand as never,
  report: () => (require('./report-command') as typeof import('./report-command')).reportCommand as never,
  status: () => (require('./status-command') as typeof import('./status-command')).statusCommand as never,
  check: () => (require('./check-command') as typeof import('./check-command')).checkCommand as never,
  init: () => (require('./init-command') as typeof import('./init-command')).initCommand as never,
  sls: () => (require('./sls-command') as typeof import('./sls-command')).slsCommand as never,
  spool: () => {
    const { createSpoolCommand } = require('./spool-command') as typeof import('./spool-command');
    const { SinkFactory } = require('../output/sink-factory') as typeof import('../output/sink-factory');
    const { configuredEniRecords } =
      require('../output/delivered-output') as typeof import('../output/delivered-output');
    return createSpoolCommand({
      drainSetup: (config) => {
        const sinks = new SinkFactory(config);
        const lossFallback = (id: string) => {
          const fl = config.flowLogs.find((f) => f.id === id);
          return fl === undefined ? [] : configuredEniRecords(config, fl);
        };
        return { sinkFactory: (id) => sinks.createById(id), options: config.delivery, lossFallback };
      },
    }) as never;
  },
};

/**
 * Parses the command line and runs one command. Exit codes: 0 ok, 1 runtime failure, 2 bad usage,
 * config or input. Whatever goes wrong ends in one line on stderr, never a stack trace
 * (FLOWLOG_DEBUG=1 adds it); a reader closing standard output (`| head`) ends the command quietly
 * with 0.
 */
export function main(argv: string[]): void {
  const fatal = (err: unknown): never => {
    if (err instanceof StdoutClosedError || stdoutWasClosed() || (err as NodeJS.ErrnoException)?.code === 'EPIPE')
      process.exit(0);
    process.stderr.write(`flowlog-agent: ${(err as Error)?.message ?? String(err)}\n`);
    if (process.env.FLOWLOG_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    process.exit(1);
  };
  process.stdout.on('error', fatal);
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  void yargs(argv)
    .scriptName('flowlog-agent')
    .usage('$0 <command> [options]\n\nVPC flow logs from packet captures, per ENI, to Log Service or files.')
    .command(commandsFor(argv))
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .recommendCommands()
    .fail((msg, err) => {
      // A usage problem (yargs' own message or a failed .check) is exit 2; an error a command threw is 1.
      // (yargs hands a failed .check's text over as `err` too, as a string.)
      if (err instanceof Error && err.name !== 'YError') fatal(err);
      process.stderr.write(
        `flowlog-agent: ${msg ?? (err instanceof Error ? err.message : String(err))}\nRun with --help for usage.\n`,
      );
      process.exit(2);
    })
    .help()
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .parseAsync()
    .catch(fatal);
}

function commandsFor(argv: string[]): Array<CommandModule<object, never>> {
  const name = argv.find((a) => !a.startsWith('-'));
  const only = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name as CommandName] : undefined;
  return only ? [only()] : Object.values(COMMANDS).map((load) => load());
}
