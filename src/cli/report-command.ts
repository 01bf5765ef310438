/**
 * `flowlog-agent report FILE... --out report.html`, or
 * `flowlog-agent report --config FILE [--flow-log ID] [--from T] [--to T] --out report.html`:
 * the views of the Log Service dashboards (traffic over time, top talkers, ACCEPT/REJECT, per
 * ENI, between ENIs, every loss) as one self-contained HTML page, from file-sink records or
 * from a time range of a flow log's Logstore. Exit 0 written, 1 the Logstore could not be read
 * or the page not written, 2 bad arguments, config or input (a file that is not records).
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import type { AgentConfig, SlsSinkConfig } from '../config/types';
import type { FlowRecord } from '../flow/record';
import { FlowReportBuilder } from '../report/flow-report';
import { readRecordFiles, RecordFileError } from '../report/record-file-source';
import { renderReportHtml, type ReportSource } from '../report/report-html';
import { loadConfigOrExit } from './config-arg';

export interface TextOutput {
  write(text: string): unknown;
}

export interface ReportArgs {
  files: string[];
  out: string;
  config?: string;
  flowLog?: string;
  from?: string;
  to?: string;
  top?: number;
}

export const EXIT_REPORT_FAILED = 1;
export const EXIT_REPORT_USAGE = 2;
const DEFAULT_TOP = 10;

/** Overrides for tests: the clock, and the Log Service credentials. */
export interface ReportDeps {
  nowSec?: number;
  credentials?: import('../output/sls/sls-credentials-contract').SlsCredentialsProvider;
}

/**
 * A time argument: Unix seconds, an ISO 8601 date-time, `now`, or now minus a duration
 * (`now-30m`, `now-6h`, `now-2d`; `-6h` too, though on a command line it must then be written
 * `--from=-6h`, or the parser takes it for options); undefined when it is none of these.
 */
export function parseReportTime(text: string, nowSec: number): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (t === 'now') return nowSec;
  const rel = /^(?:now)?-(\d+)([smhd])$/.exec(t);
  if (rel !== null)
    return nowSec - Number(rel[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/** Runs one report; returns the exit status. Never throws for bad input. */
export async function runReport(
  args: ReportArgs,
  out: TextOutput,
  err: TextOutput,
  deps: ReportDeps = {},
): Promise<number> {
  const say = (message: string): void => void err.write(`flowlog-agent report: ${message}\n`);
  const usage = (message: string): number => {
    say(message);
    return EXIT_REPORT_USAGE;
  };
  const top = args.top ?? DEFAULT_TOP;
  if (!Number.isInteger(top) || top < 1) return usage(`--top: must be a whole number >= 1, got ${String(args.top)}`);
  if (args.files.length > 0 && args.config !== undefined)
    return usage('name record files or --config FILE (a Logstore), not both');
  if (args.files.length === 0 && args.config === undefined)
    return usage("name record files, or --config FILE to read a flow log's Logstore");
  if (args.config === undefined && (args.from !== undefined || args.to !== undefined || args.flowLog !== undefined)) {
    return usage('--from, --to and --flow-log read a Logstore: add --config FILE');
  }
  const nowSec = deps.nowSec ?? Math.floor(Date.now() / 1000);
  const builder = new FlowReportBuilder();
  const add = (r: FlowRecord): void => builder.add(r);
  let source: ReportSource;

  if (args.config === undefined) {
    try {
      const stats = await readRecordFiles(args.files, add);
      const files = args.files.length === 1 ? args.files[0] : `${args.files.length} files`;
      source = {
        description: files,
        malformedLines: stats.malformedLines,
        firstMalformed: stats.firstMalformed,
        generatedSec: nowSec,
      };
      if (stats.malformedLines > 0)
        say(
          `skipped ${stats.malformedLines} line${stats.malformedLines === 1 ? '' : 's'} that are not records (first: ${stats.firstMalformed})`,
        );
    } catch (e) {
      if (e instanceof RecordFileError) return usage(e.message);
      throw e;
    }
  } else {
    const toSec = args.to === undefined ? nowSec : parseReportTime(args.to, nowSec);
    if (toSec === undefined)
      return usage(`--to: "${args.to}" is not a time (Unix seconds, ISO 8601, now, or now-30m / now-6h / now-2d)`);
    const fromSec = args.from === undefined ? toSec - 3600 : parseReportTime(args.from, nowSec);
    if (fromSec === undefined)
      return usage(`--from: "${args.from}" is not a time (Unix seconds, ISO 8601, now, or now-30m / now-6h / now-2d)`);
    if (fromSec >= toSec) return usage(`--from must be before --to (${fromSec} >= ${toSec})`);
    const config = loadConfigOrExit(args.config, err);
    if (config === null) return EXIT_REPORT_USAGE;
    const sink = pickSink(config, args.flowLog);
    if (typeof sink === 'string') return usage(sink);
    const read = await readLogstore(config, sink, fromSec, toSec, add, deps);
    if (typeof read === 'string') {
      say(read);
      return EXIT_REPORT_FAILED;
    }
    source = {
      description: `Logstore ${sink.project}/${sink.logstore}`,
      malformedLines: read.malformed,
      firstMalformed: read.firstMalformed,
      generatedSec: nowSec,
    };
    if (read.malformed > 0)
      say(`skipped ${read.malformed} logs that are not flow-log records (first: ${read.firstMalformed})`);
  }

  const report = builder.build(top);
  const html = renderReportHtml(report, source);
  try {
    if (args.out === '-') out.write(html);
    else {
      // Written whole or not at all: a half-written page left from a failed run would mislead.
      const tmp = `${args.out}.tmp-${process.pid}`;
      writeFileSync(tmp, html);
      renameSync(tmp, args.out);
    }
  } catch (e) {
    say(`write report ${args.out}: ${(e as Error).message}`);
    return EXIT_REPORT_FAILED;
  }
  const lost = report.skipdata > 0 ? `, ${report.skipdata} SKIPDATA (loss)` : '';
  say(
    `${report.records} records (${report.flows} flows${lost}) from ${source.description} -> ${args.out === '-' ? 'stdout' : args.out} (${Math.round(html.length / 1024)} KiB)`,
  );
  return 0;
}

/** The sls sink of `--flow-log`, or the one Logstore of the config; else why not. */
function pickSink(config: AgentConfig, flowLogId: string | undefined): SlsSinkConfig | string {
  if (flowLogId !== undefined) {
    const fl = config.flowLogs.find((f) => f.id === flowLogId);
    if (fl === undefined)
      return `--flow-log: no flow log "${flowLogId}" in the config (flow logs: ${config.flowLogs.map((f) => f.id).join(', ')})`;
    if (fl.sink.type !== 'sls')
      return `--flow-log: flow log ${flowLogId} writes to a ${fl.sink.type} sink, not a Logstore; report its records with flowlog-agent report FILE`;
    return fl.sink;
  }
  const sinks = config.flowLogs.map((f) => f.sink).filter((s): s is SlsSinkConfig => s.type === 'sls');
  const distinct = new Map(
    sinks.map((s) => [JSON.stringify([s.endpoint ?? '', s.region ?? '', s.project, s.logstore]), s]),
  );
  if (distinct.size === 0) return 'no flow log of the config writes to a Logstore (sink type sls)';
  if (distinct.size > 1) return `the config names ${distinct.size} Logstores: choose one with --flow-log ID`;
  return [...distinct.values()][0];
}

/** Reads the range into `add`; the stats, or the one-line reason it failed. */
async function readLogstore(
  config: AgentConfig,
  sink: SlsSinkConfig,
  fromSec: number,
  toSec: number,
  add: (r: FlowRecord) => void,
  deps: ReportDeps,
) {
  // Loaded here: a report of files needs neither the Log Service SDK nor its start-up time.
  const { SlsApi } = await import('../output/sls/sls-api');
  const { resolveSlsCredentials } = await import('../output/sls/sls-credentials');
  const { resolveSlsEndpoint } = await import('../output/sls/sls-endpoint');
  const { readLogstoreRecords, LogstoreReadError } = await import('../report/logstore-records');
  let api;
  try {
    const credentials =
      deps.credentials ??
      resolveSlsCredentials({
        credentials: config.credentials,
        metadataUrl: config.discovery?.metadataUrl,
        hardened: config.discovery?.hardened,
        allowNormalMode: config.discovery?.allowNormalMode,
      });
    api = new SlsApi({
      endpoint: resolveSlsEndpoint(sink, config.region),
      credentials,
      connectTimeoutMs: 5000,
      readTimeoutMs: 30_000,
      userAgent: 'flowlog-agent-report',
    });
  } catch (e) {
    return `read logs of ${sink.project}/${sink.logstore}: ${(e as Error).message}`;
  }
  try {
    return await readLogstoreRecords(api, { project: sink.project, logstore: sink.logstore, fromSec, toSec }, add);
  } catch (e) {
    if (e instanceof LogstoreReadError) return e.message;
    throw e;
  } finally {
    api.close();
  }
}

interface ReportArgv {
  files: string[];
  out: string;
  config?: string;
  'flow-log'?: string;
  from?: string;
  to?: string;
  top: number;
}

export const reportCommand: CommandModule<object, ReportArgv> = {
  command: 'report [files..]',
  describe:
    'Write an HTML report (traffic, top talkers, ACCEPT/REJECT, per ENI, losses) of record files or of a Logstore',
  builder: (yargs) =>
    yargs
      .positional('files', {
        type: 'string',
        array: true,
        default: [],
        describe: 'JSON Lines record files (file sinks)',
      })
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'HTML file to write (- for stdout)' })
      .option('config', { type: 'string', describe: "read a flow log's Logstore instead (agent configuration, YAML)" })
      .option('flow-log', { type: 'string', describe: 'which flow log, when the config has several Logstores' })
      .option('from', {
        type: 'string',
        describe:
          'Logstore range start: Unix seconds, ISO 8601, now or now-30m/now-6h/now-2d (default: an hour before --to)',
      })
      .option('to', { type: 'string', describe: 'Logstore range end (default: now)' })
      .option('top', {
        alias: 't',
        type: 'number',
        default: DEFAULT_TOP,
        describe: 'rows of the top talkers and top rejected tables',
      }),
  handler: async (argv) => {
    process.exitCode = await runReport(
      {
        files: argv.files.map(String),
        out: argv.out,
        config: argv.config,
        flowLog: argv['flow-log'],
        from: argv.from,
        to: argv.to,
        top: argv.top,
      },
      process.stdout,
      process.stderr,
    );
  },
};
