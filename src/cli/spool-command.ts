/**
 * `flowlog-agent spool status|drain`: look into and empty the per-flow-log delivery spools under
 * `<stateDir>/spool/<flowLogId>` (see src/output/spool/spool.ts for the layout).
 */
import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { AgentConfig } from '../config/types';
import type { FlowRecord } from '../flow/record';
import type { Logger } from '../log';
import { Delivery, type DeliveryOptions } from '../output/delivery/delivery';
import type { Sink } from '../output/sink';
import { Spool } from '../output/spool/spool';
import { SpoolLockedError } from '../output/spool/spool-lock';
import { readSpoolStatuses, type SpoolDirStatus } from '../output/spool/spool-status';
import { loadConfigOrExit } from './config-arg';

/** Where the handlers write; process.stdout/stderr or a test double. */
export interface TextOutput {
  write(text: string): unknown;
}

/** Builds the sink of a flow log, or undefined when the flow log is no longer configured. */
export type SinkFactory = (flowLogId: string) => Sink | undefined;

export interface DrainSetup {
  stateDir: string;
  sinkFactory: SinkFactory;
  options: DeliveryOptions;
  /** How long each flow log's spool may take to drain, default 60 000. */
  timeoutMs?: number;
  /** Where the spool and delivery log (default: the process logger). */
  logger?: Logger;
  /** Records of the ENIs a flow log covers, for the SKIPDATA of a loss nothing else names (see SpoolOptions.lossFallback). */
  lossFallback?: (flowLogId: string) => readonly FlowRecord[];
}

/**
 * Prints one line per flow log spool: segments, records, bytes, age of the oldest segment,
 * files in corrupt/ (plus invalid segments and stray files not yet set aside) and the owning pid.
 * Read-only.
 * Returns 0, or 1 when the state directory cannot be read.
 */
export async function runSpoolStatus(stateDir: string, out: TextOutput, nowMs = Date.now()): Promise<number> {
  let statuses: SpoolDirStatus[];
  try {
    statuses = await readSpoolStatuses(stateDir);
  } catch (err) {
    out.write(`read spool status in ${stateDir}: ${(err as Error).message}\n`);
    return 1;
  }
  if (statuses.length === 0) {
    out.write(`no spool under ${path.join(stateDir, 'spool')}\n`);
    return 0;
  }
  const rows = [['FLOW LOG', 'SEGMENTS', 'RECORDS', 'BYTES', 'OLDEST', 'CORRUPT', 'INCOMPLETE', 'OWNER']];
  for (const s of statuses) {
    rows.push([
      s.flowLogId,
      String(s.segments),
      String(s.records),
      String(s.bytes),
      s.oldestCreatedMs === undefined ? '-' : formatAge(nowMs - s.oldestCreatedMs),
      String(s.corruptFiles + s.invalidSegments + s.strayFiles),
      String(s.tempFiles),
      s.ownerPid === undefined ? '-' : `pid ${s.ownerPid}`,
    ]);
  }
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => r[col].length)));
  for (const row of rows) {
    // Flow log ids align left, numbers right.
    const cells = row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]) : cell.padStart(widths[col])));
    out.write(`${cells.join('  ')}\n`);
  }
  return 0;
}

/**
 * Delivers every flow log's spool with its configured sink, one flow log at a time, then
 * prints what each delivered and what remains. Returns 0 when every spool is empty, 1 when
 * something remains (sink failing, flow log no longer configured, spool owned by a running
 * daemon, timeout).
 */
export async function runSpoolDrain(setup: DrainSetup, out: TextOutput): Promise<number> {
  let statuses: SpoolDirStatus[];
  try {
    statuses = await readSpoolStatuses(setup.stateDir);
  } catch (err) {
    out.write(`read spool in ${setup.stateDir}: ${(err as Error).message}\n`);
    return 1;
  }
  let remaining = 0;
  for (const status of statuses) {
    const left = await drainOne(status, setup, out);
    remaining += left;
  }
  out.write(remaining === 0 ? 'spool empty\n' : `${remaining} records remain spooled\n`);
  return remaining === 0 ? 0 : 1;
}

/** Drains one flow log's spool; returns the records left in it. */
async function drainOne(status: SpoolDirStatus, setup: DrainSetup, out: TextOutput): Promise<number> {
  const id = status.flowLogId;
  if (status.segments === 0 && status.invalidSegments === 0) {
    out.write(
      `${id}: empty${status.strayFiles > 0 ? ` (${status.strayFiles} file(s) the spool did not write: set aside to corrupt/ at its next open)` : ''}\n`,
    );
    return 0;
  }
  const sink = setup.sinkFactory(id);
  if (!sink) {
    out.write(`${id}: no flow log with this id in the configuration; ${status.records} records left\n`);
    return status.records;
  }
  let spool: Spool;
  try {
    const fallback = setup.lossFallback;
    spool = await Spool.open(status.dir, {
      measure: sink.measure,
      maxBytes: setup.options.spoolMaxBytes,
      logger: setup.logger,
      lossFallback: fallback === undefined ? undefined : () => fallback(id),
    });
  } catch (err) {
    await sink.close().catch(() => undefined);
    const why = err instanceof SpoolLockedError ? `in use by running process ${err.holderPid}` : (err as Error).message;
    out.write(`${id}: open spool: ${why}; ${status.records} records left\n`);
    return status.records;
  }
  const delivery = new Delivery(sink, spool, setup.options, { logger: setup.logger });
  await delivery.flush(Date.now() + (setup.timeoutMs ?? 60_000));
  const left = await delivery.close();
  const delivered = delivery.stats.recordsDelivered;
  const failure = left.failure ? ` (${left.failure.kind}: ${left.failure.reason})` : '';
  out.write(`${id}: delivered ${delivered} records; ${left.remainingRecords} records remain${failure}\n`);
  return left.remainingRecords;
}

/** "45s", "12m05s", "3h07m", "2d04h". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

/** What the lead wires in: how a loaded configuration becomes sinks and delivery options. */
export interface SpoolCommandDeps {
  drainSetup(config: AgentConfig): Omit<DrainSetup, 'stateDir' | 'timeoutMs' | 'logger'>;
}

interface StatusArgs {
  stateDir?: string;
  config?: string;
}
interface DrainArgs {
  config: string;
  timeout: number;
}

/** The `spool` command with its `status` and `drain` subcommands, for registration in main.ts. */
export function createSpoolCommand(deps: SpoolCommandDeps): CommandModule<object, object> {
  const status: CommandModule<object, StatusArgs> = {
    command: 'status',
    describe: 'Show what each flow log has waiting in its delivery spool',
    builder: (y: Argv) =>
      y
        .option('state-dir', { type: 'string', describe: 'State directory (holds spool/)' })
        .option('config', { alias: 'c', type: 'string', describe: 'YAML configuration file (for its stateDir)' })
        .check((a) =>
          a['state-dir'] || a.config
            ? true
            : 'spool status needs the state directory: give --config FILE (its stateDir) or --state-dir DIR',
        ),
    handler: async (argv) => {
      let stateDir = argv.stateDir;
      if (!stateDir) {
        const config = loadConfigOrExit(argv.config as string, process.stderr);
        if (!config) {
          process.exitCode = 2;
          return;
        }
        stateDir = config.stateDir;
      }
      process.exitCode = await runSpoolStatus(stateDir, process.stdout);
    },
  };
  const drain: CommandModule<object, DrainArgs> = {
    command: 'drain',
    describe: 'Deliver everything spooled with the configured sinks; exit 1 if anything remains',
    builder: (y: Argv) =>
      y
        .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'YAML configuration file' })
        .option('timeout', { type: 'number', default: 60, describe: 'Seconds to keep trying per flow log' }),
    handler: async (argv) => {
      const config = loadConfigOrExit(argv.config, process.stderr);
      if (!config) {
        process.exitCode = 2;
        return;
      }
      const setup: DrainSetup = {
        ...deps.drainSetup(config),
        stateDir: config.stateDir,
        timeoutMs: argv.timeout * 1000,
      };
      process.exitCode = await runSpoolDrain(setup, process.stdout);
    },
  };
  return {
    command: 'spool <command>',
    describe: 'Inspect or drain the delivery spool',
    builder: (y: Argv) => y.command(status).command(drain).demandCommand(1),
    handler: () => undefined,
  };
}
