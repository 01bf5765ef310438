import yargs from 'yargs';
import { replayCommand } from './replay-command';
import { validateCommand } from './validate-command';
import { runCommand } from './run-command';
import { createSpoolCommand } from './spool-command';
import { SinkFactory } from '../sink/sink-factory';

/** Parses the command line and runs one command. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config. */
export function main(argv: string[]): void {
  void yargs(argv)
    .scriptName('flowlog-agent')
    .usage('$0 <command> [options]\n\nVPC flow logs from packet captures, per ENI, to Log Service or files.')
    .command(replayCommand)
    .command(runCommand)
    .command(validateCommand)
    .command(
      createSpoolCommand({
        drainSetup: (config) => {
          const sinks = new SinkFactory(config);
          return { sinkFactory: (id) => sinks.createById(id), options: config.delivery };
        },
      }),
    )
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .recommendCommands()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`flowlog-agent: ${msg}\nRun with --help for usage.\n`);
      process.exit(2);
    })
    .help()
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .parseAsync()
    .catch((err: unknown) => {
      process.stderr.write(`flowlog-agent: ${(err as Error).message ?? String(err)}\n`);
      process.exit(1);
    });
}
