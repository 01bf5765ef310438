import type { CommandModule } from 'yargs';
import type { CaptureFileReport } from '../capture/file/offline-source';
import { DECODE_STATUS_NAMES, DecodeStatus, MALFORMED_STATUSES } from '../packet/decode/packet-view';
import { MIN_MTU_BYTES, SUPER_FRAME_OUTCOME_NAMES } from '../packet/decode/super-frame';
import type { AgentConfig } from '../config/types';
import { Agent, type AgentCounters } from '../agent/agent';
import { existingBytes, inputFileProblem, isDirectory } from './cli-files';
import { StdoutClosedError, stdoutWasClosed } from '../output/stdout-closed';
import { loadConfigOrExit } from './config-arg';
import { openRecordOutput } from '../output/open-record-output';
import type { RecordOutput } from '../output/record-output';

export interface ReplayOptions {
  pcaps: string[];
  configPath: string;
  /** '-' for stdout, a file path, or undefined for each flow log's own sink. */
  output?: string;
  /** Append to the `output` file instead of replacing it. */
  append?: boolean;
  maxGapWindows: number;
  /** How long to try delivering at the end before leaving the rest in the spool. */
  flushTimeoutMs: number;
  /** Hand the common frames of pcap and pcapng files to the WebAssembly kernel (default true); see src/packet/wasm. */
  kernel?: boolean;
  /** MTU of the captured device (overrides capture.mtuBytes): larger frames are super-frames. */
  mtu?: number;
  /** Streams for the summary and warnings (stderr) and progress; injectable for tests. */
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface ReplaySummary {
  files: CaptureFileReport[];
  frames: number;
  /** Flows recorded, summed over windows and aggregation intervals. */
  flows: number;
  decoded: number;
  malformed: Record<string, number>;
  notIp: number;
  unattributed: number;
  records: { ok: number; nodata: number; skipdata: number; filtered: number };
  latePackets: number;
  timelineRestarts: number;
  tableFullPackets: number;
  /** Per ENI id: packets and L3 bytes attributed to it (each direction it matched counts). */
  enis: Record<string, { packets: number; bytes: number }>;
  /** Packets handled by the WebAssembly kernel (the rest by the TypeScript path). */
  kernelPackets: number;
  /** GSO/GRO super-frames (larger than the MTU) by how their segments were found, and the packets they stood for. */
  superFrames: { frames: Record<string, number>; packets: number; mtu: number };
  delivery: { delivered: number; spooled: number };
  /** Decapsulation (a config with overlay VPCs). */
  overlay?: { tunnels: number; tunnelFragments: number; unknownVni: number };
}

/** Exit status of a replay an input of which could not be read whole (as for a bad config). */
export const EXIT_REPLAY_BAD_INPUT = 2;

/**
 * Replays capture files through the same pipeline as the daemon, with the packets' own
 * timestamps driving the windows. Returns the process exit code: 0; 1 when records stay spooled
 * (a sink unreachable); 2 for a bad config or option, or when a capture file cannot be read as
 * one, or only in part (empty, not a capture, a truncated or damaged file, a link type the agent
 * does not read): each such file gets one line naming it, and the files that can be read are
 * still replayed and delivered. A closed standard output (`| head`) ends it quietly, 0.
 */
export async function runReplay(o: ReplayOptions): Promise<{ code: number; summary?: ReplaySummary }> {
  for (const p of o.pcaps) {
    const problem = inputFileProblem(p, 'a capture file (pcap or pcapng)');
    if (problem !== undefined) {
      o.err.write(`flowlog-agent replay: ${p}: ${problem}\n`);
      return { code: EXIT_REPLAY_BAD_INPUT };
    }
  }
  if (o.append === true && (o.output === undefined || o.output === '-')) {
    o.err.write('flowlog-agent replay: --append adds to the --output FILE: name one\n');
    return { code: 2 };
  }
  if (o.output !== undefined && o.output !== '-' && isDirectory(o.output)) {
    o.err.write(`flowlog-agent replay: --output ${o.output}: is a directory, not a file\n`);
    return { code: 2 };
  }
  if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < MIN_MTU_BYTES || o.mtu > 65536)) {
    o.err.write(`flowlog-agent replay: --mtu must be an integer from ${MIN_MTU_BYTES} to 65536, got ${o.mtu}\n`);
    return { code: 2 };
  }
  const config = loadConfigOrExit(o.configPath, o.err);
  if (config === null) return { code: 2 };
  if (o.mtu !== undefined) config.capture.mtuBytes = o.mtu;
  tellAppends(o, config);

  let output: RecordOutput;
  try {
    output = await openRecordOutput(config, o.output, o.flushTimeoutMs, o.append ?? false);
  } catch (err) {
    o.err.write(`flowlog-agent replay: ${(err as Error).message}\n`);
    return { code: 1 };
  }
  try {
    return await replayInto(o, config, output);
  } catch (err) {
    if (err instanceof StdoutClosedError) return { code: 0 }; // `replay --output - | head`: nobody reads on
    throw err;
  }
}

/**
 * Says, once per file, when this replay adds to records already there: `--output FILE --append`,
 * or a flow log's file sink (which, as the daemon's, always appends): a second run of the same
 * capture would otherwise double every count without a word.
 */
function tellAppends(o: ReplayOptions, config: AgentConfig): void {
  const targets: Array<[string, string]> = [];
  if (o.output !== undefined && o.output !== '-' && o.append === true) targets.push([o.output, '--append']);
  if (o.output === undefined) {
    for (const fl of config.flowLogs)
      if (fl.sink.type === 'file') targets.push([fl.sink.path, `flow log ${fl.id}'s file sink appends`]);
  }
  for (const [file, why] of targets) {
    const bytes = existingBytes(file);
    if (bytes > 0)
      o.err.write(
        `flowlog-agent replay: appending to ${file}, which already holds ${bytes} bytes of records (${why}; --output FILE writes a fresh file)\n`,
      );
  }
}

async function replayInto(
  o: ReplayOptions,
  config: AgentConfig,
  output: RecordOutput,
): Promise<{ code: number; summary?: ReplaySummary }> {
  const agent = Agent.forReplay(config, output, { maxGapWindows: o.maxGapWindows, kernel: o.kernel ?? true });
  if (agent.kernelUnavailable !== undefined) {
    o.err.write(
      `flowlog-agent replay: WebAssembly kernel unavailable, replaying in TypeScript alone: ${agent.kernelUnavailable}\n`,
    );
  }
  const started = Date.now();
  const progress = o.err.isTTY
    ? (path: string, packets: number) => {
        const rate = Math.round((agent.counters().frames / Math.max(1, Date.now() - started)) * 1000);
        o.err.write(`\r\x1b[2K${path}: ${packets.toLocaleString('en')} packets (${rate.toLocaleString('en')}/s)`);
      }
    : undefined;
  const files = agent.readFiles(o.pcaps, progress);
  if (progress) o.err.write('\r\x1b[2K');
  agent.finish();
  const delivery = await output.close();

  for (const f of files) {
    if (f.skipped) o.err.write(`flowlog-agent replay: ${f.path}: not read: ${f.skipped}\n`);
    else if (f.readError) o.err.write(`flowlog-agent replay: ${f.path}: read only in part: ${f.readError}\n`);
  }
  const c = agent.counters();
  const malformed: Record<string, number> = {};
  for (const s of MALFORMED_STATUSES) {
    if (c.byStatus[s] > 0) malformed[DECODE_STATUS_NAMES[s]] = c.byStatus[s];
  }
  const summary: ReplaySummary = {
    files,
    frames: c.frames,
    flows: c.flush.flows,
    decoded: c.byStatus[DecodeStatus.Ok],
    malformed,
    notIp: c.byStatus[DecodeStatus.NotIp],
    unattributed: c.unattributed,
    records: { ...c.records },
    latePackets: c.latePackets,
    timelineRestarts: c.timelineRestarts,
    tableFullPackets: c.tableFullPackets,
    enis: Object.fromEntries(config.enis.map((e, i) => [e.id, { packets: c.eniPackets[i], bytes: c.eniBytes[i] }])),
    kernelPackets: c.kernelPackets,
    superFrames: superFramesOf(c, config.capture.mtuBytes),
    ...(agent.decapsulatesAll
      ? {
          overlay: {
            tunnels: c.overlay.decapsulated,
            tunnelFragments: c.overlay.outerFragments,
            unknownVni: c.overlay.unknownVni,
          },
        }
      : {}),
    delivery,
  };
  o.err.write(formatSummary(summary, Date.now() - started));
  const unreadable = files.some((f) => f.skipped !== undefined || f.readError !== undefined);
  return { code: unreadable ? EXIT_REPLAY_BAD_INPUT : delivery.spooled > 0 ? 1 : 0, summary };
}

/** Super-frames by outcome (those with any), and the packets they stood for. */
function superFramesOf(c: AgentCounters, mtu: number): ReplaySummary['superFrames'] {
  const s = c.superFrames;
  const frames: Record<string, number> = {};
  let n = 0;
  SUPER_FRAME_OUTCOME_NAMES.forEach((name, i) => {
    if (s.byOutcome[i] > 0) frames[name] = s.byOutcome[i];
    n += s.byOutcome[i];
  });
  return { frames, packets: n + s.extraSegments, mtu };
}

function formatSummary(s: ReplaySummary, elapsedMs: number): string {
  const read = s.files.filter((f) => !f.skipped).length;
  const malformed = Object.entries(s.malformed)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const lines = [
    `replay: ${read} of ${s.files.length} files read, ${s.frames} packets, ${s.flows} flows in ${(elapsedMs / 1000).toFixed(2)} s`,
    `  decoded ${s.decoded}, not IP ${s.notIp}, malformed ${malformed || '0'}, unattributed ${s.unattributed}` +
      (s.kernelPackets ? `; ${s.kernelPackets} in the WebAssembly kernel` : ''),
    `  records: OK ${s.records.ok}, NODATA ${s.records.nodata}, SKIPDATA ${s.records.skipdata}` +
      (s.records.filtered ? ` (${s.records.filtered} left out by trafficType)` : ''),
  ];
  const superFrames = Object.values(s.superFrames.frames).reduce((a, b) => a + b, 0);
  if (superFrames > 0) {
    const how = Object.entries(s.superFrames.frames)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(
      `  super-frames (over the MTU of ${s.superFrames.mtu}): ${superFrames} frames counted as ${s.superFrames.packets} packets (${how})`,
    );
  }
  if (s.overlay)
    lines.push(
      `  overlay: ${s.overlay.tunnels} packets out of tunnels, ${s.overlay.tunnelFragments} later outer fragments, ${s.overlay.unknownVni} of unknown VNIs (unattributed)`,
    );
  if (s.tableFullPackets)
    lines.push(`  flow table full: ${s.tableFullPackets} packets not recorded (SKIPDATA written)`);
  if (s.latePackets) lines.push(`  late packets counted in the next window: ${s.latePackets}`);
  if (s.timelineRestarts) lines.push(`  timeline restarts (time jumped between captures): ${s.timelineRestarts}`);
  if (s.delivery.spooled)
    lines.push(
      `  NOT DELIVERED: ${s.delivery.spooled} records spooled for later delivery (flowlog-agent spool status)`,
    );
  return lines.join('\n') + '\n';
}

export const replayCommand: CommandModule<
  object,
  {
    pcap: string[];
    config: string;
    output?: string;
    append: boolean;
    'max-gap-windows': number;
    'flush-timeout': number;
    kernel: boolean;
    mtu?: number;
  }
> = {
  command: 'replay',
  describe: 'turn capture files (pcap, pcapng) into flow-log records, packet times driving the windows',
  builder: (y) =>
    y
      .option('pcap', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'capture file; repeat for several, read in order as one stream',
      })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'agent configuration (YAML)' })
      .option('output', {
        type: 'string',
        nargs: 1,
        describe: "'-' for JSON Lines on stdout, or a file (replaced; see --append); default: each flow log's sink",
      })
      .option('append', {
        type: 'boolean',
        default: false,
        describe: 'add to the --output file instead of replacing it (said on stderr when it holds records)',
      })
      .option('max-gap-windows', {
        type: 'number',
        default: 1440,
        describe: 'empty windows between packets still written as NODATA before a time jump starts a new timeline',
      })
      .option('flush-timeout', {
        type: 'number',
        default: 30,
        describe: 'seconds to keep delivering at the end before leaving records in the spool',
      })
      .option('kernel', {
        type: 'boolean',
        default: true,
        describe:
          'take common frames of pcap and pcapng files through the WebAssembly kernel (--no-kernel: TypeScript only)',
      })
      .option('mtu', {
        type: 'number',
        describe:
          'MTU of the captured device (default: capture.mtuBytes, 1500); larger TCP/UDP frames count as the segments it gives',
      }),
  handler: async (argv) => {
    const { code } = await runReplay({
      pcaps: argv.pcap,
      configPath: argv.config,
      output: argv.output,
      append: argv.append,
      maxGapWindows: argv['max-gap-windows'],
      flushTimeoutMs: argv['flush-timeout'] * 1000,
      kernel: argv.kernel,
      ...(argv.mtu === undefined ? {} : { mtu: argv.mtu }),
      err: process.stderr,
    });
    // Its reader left: stop now, before work still under way notices the output is gone.
    if (stdoutWasClosed()) process.exit(0);
    process.exitCode = code;
  },
};
