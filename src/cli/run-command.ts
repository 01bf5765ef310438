import type { CommandModule } from 'yargs';
import { DaemonStartError, FlowlogDaemon } from '../daemon/flowlog-daemon';
import { log } from '../log';

export interface RunOptions {
  configPath: string;
  /** '-' or a file for JSON Lines (the delivery seam); undefined: each flow log's sink. */
  output?: string;
  /** Longest a stop may take before the process exits anyway (below systemd's TimeoutStopSec). */
  stopDeadlineMs?: number;
}

/**
 * Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the config. Resolves with the exit
 * code: 0 after a clean stop, 2 for a refused config, 1 when nothing can run.
 */
/**
 * libuv worker threads for the daemon, unless the environment sets them: capture devices open
 * and close on workers, each waiting about 13 ms on kernel grace periods, so 16 workers open 500
 * devices in about half a second where the default 4 took two. Read when the pool starts (the
 * first device open), so it must be set before that.
 */
const DAEMON_THREADPOOL_SIZE = '16';

export async function runDaemon(o: RunOptions): Promise<number> {
  process.env.UV_THREADPOOL_SIZE ??= DAEMON_THREADPOOL_SIZE;
  const daemon = new FlowlogDaemon({ configPath: o.configPath, output: o.output, log, err: process.stderr });
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof DaemonStartError) {
      process.stderr.write(`flowlog-agent run: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      const deadline = setTimeout(() => {
        log.error(
          { deadlineMs: o.stopDeadlineMs ?? 80_000 },
          'stop took too long; exiting without waiting for delivery',
        );
        resolve(1);
      }, o.stopDeadlineMs ?? 80_000);
      deadline.unref();
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void daemon.reload('SIGHUP'));
  });
}

export const runCommand: CommandModule<object, { config: string; output?: string }> = {
  command: 'run',
  describe: 'capture the ENIs live and write flow-log records at each window boundary (the daemon)',
  builder: (y) =>
    y
      .option('config', {
        alias: 'c',
        type: 'string',
        demandOption: true,
        describe: 'agent configuration (YAML); SIGHUP reloads it',
      })
      .option('output', {
        type: 'string',
        nargs: 1,
        describe: "'-' for JSON Lines on stdout, or a file; default: each flow log's sink",
      }),
  handler: async (argv) => {
    const code = await runDaemon({ configPath: argv.config, output: argv.output });
    // Capture handles and timers are closed by now; exit explicitly so a stuck socket of a sink
    // cannot keep the service in "deactivating" until systemd kills it.
    process.exit(code);
  },
};
