/**
 * `flowlog-agent status --config FILE`: a summary for an operator. When the agent answers on
 * `metrics.listen`, its /healthz verdict and the main counters of /metrics; otherwise what it
 * left behind: the spool per flow log and the last records of each file sink.
 *
 * Exit status (like `systemctl status`): 0 running and healthy, 1 running and unhealthy,
 * 2 bad configuration, 3 not running (the offline summary was printed).
 */
import type { CommandModule } from 'yargs';
import type { AgentConfig } from '../config/types';
import { parseExposition, samplesNamed, type Sample } from '../metrics/exposition-text';
import type { HealthReport } from '../metrics/health-report';
import { formatHostPort, parseListenAddress } from '../metrics/listen-address';
import { METRIC_NAMES } from '../metrics/metric-registry';
import { readLastLines } from '../query/file-tail';
import { checkRecordLine } from '../query/record-file-reader';
import { readSpoolUsage } from '../query/spool-usage';
import { formatCount, renderTable } from '../query/text-table';
import { loadConfigOrExit } from './config-arg';
import { formatRecordsTable, type TextOutput } from './query-command';

export interface StatusOptions {
  configPath: string;
  /** Last records shown per file sink when the agent is not running; default 5. */
  lines?: number;
  /** Per request to the running agent; default 2000. */
  timeoutMs?: number;
}

export const EXIT_STATUS_UNHEALTHY = 1;
export const EXIT_STATUS_CONFIG = 2;
export const EXIT_STATUS_NOT_RUNNING = 3;

export async function runStatus(o: StatusOptions, out: TextOutput, err: TextOutput): Promise<number> {
  const config = loadConfigOrExit(o.configPath, { write: (t: string) => err.write(t) });
  if (config === null) return EXIT_STATUS_CONFIG;

  const address = config.metrics.listen === '' ? undefined : parseListenAddress(config.metrics.listen);
  if (address) {
    const base = `http://${formatHostPort(address)}`;
    const live = await fetchLive(base, o.timeoutMs ?? 2000);
    if (live.ok) {
      out.write(summariseLive(base, live.health, parseExposition(live.metricsText)));
      return live.health.status === 'ok' ? 0 : EXIT_STATUS_UNHEALTHY;
    }
    out.write(`agent: not answering on ${base} (${live.reason})\n`);
  } else {
    out.write('agent: metrics endpoint disabled in the config (metrics.listen is empty); showing what is on disk\n');
  }
  out.write(await summariseOffline(config, o.lines ?? 5));
  return EXIT_STATUS_NOT_RUNNING;
}

type LiveResult = { ok: true; health: HealthReport; metricsText: string } | { ok: false; reason: string };

async function fetchLive(base: string, timeoutMs: number): Promise<LiveResult> {
  try {
    const healthRes = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    const health = (await healthRes.json()) as HealthReport;
    const metricsRes = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!metricsRes.ok) return { ok: false, reason: `GET /metrics: HTTP ${metricsRes.status}` };
    return { ok: true, health, metricsText: await metricsRes.text() };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    return { ok: false, reason: cause?.code ?? (e as Error).message };
  }
}

function summariseLive(base: string, health: HealthReport, samples: Sample[]): string {
  let text = `agent: running on ${base}: ${health.status === 'ok' ? 'healthy' : 'UNHEALTHY'}\n`;
  // An agent of an earlier version answers problems without codes: show their kind then.
  for (const p of health.problems ?? [])
    text += `  problem ${(p as { code?: string }).code ?? (p as { kind?: string }).kind}: ${p.message}\n`;

  const byLabel = (name: string, label: string) => {
    const m = new Map<string, number>();
    for (const s of samplesNamed(samples, name))
      m.set(s.labels[label] ?? '', (m.get(s.labels[label] ?? '') ?? 0) + s.value);
    return m;
  };
  const packets = byLabel(METRIC_NAMES.capturePackets, 'eni');
  const kernel = byLabel(METRIC_NAMES.captureKernelDrops, 'eni');
  const iface = byLabel(METRIC_NAMES.captureInterfaceDrops, 'eni');
  if (packets.size > 0) {
    text += '\ncapture\n';
    text += renderTable(
      [
        { header: 'eni', align: 'left' },
        { header: 'packets', align: 'right' },
        { header: 'kernel drops', align: 'right' },
        { header: 'if drops', align: 'right' },
      ],
      [...packets].map(([eni, n]) => [
        eni,
        formatCount(n),
        formatCount(kernel.get(eni) ?? 0),
        formatCount(iface.get(eni) ?? 0),
      ]),
    );
  }

  const engines = samplesNamed(samples, METRIC_NAMES.captureDeviceEngine);
  if (engines.length > 0) {
    text += '\ncapture devices\n';
    text += renderTable(
      [
        { header: 'device', align: 'left' },
        { header: 'engine', align: 'left' },
      ],
      engines.map((s) => [
        s.labels.device ?? '',
        s.labels.hook ? `${s.labels.engine ?? ''} (${s.labels.hook})` : (s.labels.engine ?? ''),
      ]),
    );
  }

  const records = samplesNamed(samples, METRIC_NAMES.records);
  if (records.length > 0) {
    text += '\nrecords\n';
    text += renderTable(
      [
        { header: 'flow log', align: 'left' },
        { header: 'log-status', align: 'left' },
        { header: 'records', align: 'right' },
      ],
      records.map((s) => [s.labels.flow_log ?? '', s.labels.log_status ?? '', formatCount(s.value)]),
    );
  }

  const batches = samplesNamed(samples, METRIC_NAMES.sinkBatches);
  const sinkNames = [...new Set(batches.map((s) => s.labels.sink ?? ''))];
  if (sinkNames.length > 0) {
    const count = (sink: string, result: string) =>
      batches.find((s) => s.labels.sink === sink && s.labels.result === result)?.value ?? 0;
    const last = byLabel(METRIC_NAMES.sinkLastSuccess, 'sink');
    text += '\nsinks\n';
    text += renderTable(
      [
        { header: 'sink', align: 'left' },
        { header: 'sent', align: 'right' },
        { header: 'failed', align: 'right' },
        { header: 'retried', align: 'right' },
        { header: 'last success (UTC)', align: 'left' },
      ],
      sinkNames.map((sink) => {
        const at = last.get(sink);
        const when = at === undefined ? 'never' : new Date(at * 1000).toISOString().slice(0, 19).replace('T', ' ');
        return [
          sink,
          formatCount(count(sink, 'sent')),
          formatCount(count(sink, 'failed')),
          formatCount(count(sink, 'retried')),
          when,
        ];
      }),
    );
  }

  const lost = samplesNamed(samples, METRIC_NAMES.outputLostRecords).filter((s) => s.value > 0);
  const marked = samplesNamed(samples, METRIC_NAMES.outputLossSkipdata).filter((s) => s.value > 0);
  const lossKeys = [
    ...new Set([...lost, ...marked].map((s) => `${s.labels.flow_log ?? ''}\u0000${s.labels.reason ?? ''}`)),
  ];
  if (lossKeys.length > 0) {
    const value = (list: Sample[], key: string) =>
      list.find((s) => `${s.labels.flow_log ?? ''}\u0000${s.labels.reason ?? ''}` === key)?.value ?? 0;
    text += '\nlost after capture (each marked SKIPDATA in the Logstore where it could be)\n';
    text += renderTable(
      [
        { header: 'flow log', align: 'left' },
        { header: 'reason', align: 'left' },
        { header: 'records lost', align: 'right' },
        { header: 'SKIPDATA written', align: 'right' },
      ],
      lossKeys.map((k) => [...k.split('\u0000'), formatCount(value(lost, k)), formatCount(value(marked, k))]),
    );
  }

  const segments = byLabel(METRIC_NAMES.spoolSegments, 'flow_log');
  const spoolBytes = byLabel(METRIC_NAMES.spoolBytes, 'flow_log');
  if (segments.size > 0) {
    text += '\nspool\n';
    text += renderTable(
      [
        { header: 'flow log', align: 'left' },
        { header: 'segments', align: 'right' },
        { header: 'bytes', align: 'right' },
      ],
      [...segments].map(([id, n]) => [id, formatCount(n), formatCount(spoolBytes.get(id) ?? 0)]),
    );
  }
  return text;
}

async function summariseOffline(config: AgentConfig, lines: number): Promise<string> {
  const usage = await readSpoolUsage(
    config.stateDir,
    config.flowLogs.map((f) => f.id),
  );
  let text = `\nspool (${config.stateDir}/spool)\n`;
  text += renderTable(
    [
      { header: 'flow log', align: 'left' },
      { header: 'segments', align: 'right' },
      { header: 'bytes', align: 'right' },
      { header: 'note', align: 'left' },
    ],
    usage.map((u) => [
      u.flowLogId,
      formatCount(u.segments),
      formatCount(u.bytes),
      u.problem ?? (u.corrupt > 0 ? `${u.corrupt} file${u.corrupt === 1 ? '' : 's'} in corrupt/` : ''),
    ]),
  );
  for (const fl of config.flowLogs) {
    if (fl.sink.type !== 'file') continue;
    const file = fl.sink.path;
    let tail: string[];
    try {
      tail = await readLastLines(file, lines);
    } catch (e) {
      text += `\nlast records of ${fl.id} (${file}): cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`;
      continue;
    }
    const records = tail.map(checkRecordLine).filter((r): r is Record<string, string> => typeof r !== 'string');
    text += `\nlast ${records.length} record${records.length === 1 ? '' : 's'} of ${fl.id} (${file})\n`;
    if (records.length > 0) text += formatRecordsTable(records.reverse());
  }
  return text;
}

interface StatusArgv {
  config: string;
  lines: number;
}

export const statusCommand: CommandModule<object, StatusArgv> = {
  command: 'status',
  describe: 'Summarise a running agent (health, counters) or, if it is not running, its spool and last records',
  builder: (yargs) =>
    yargs
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'YAML configuration file' })
      .option('lines', { alias: 'n', type: 'number', default: 5, describe: 'Last records shown per file sink' }),
  handler: async (argv) => {
    process.exitCode = await runStatus({ configPath: argv.config, lines: argv.lines }, process.stdout, process.stderr);
  },
};
