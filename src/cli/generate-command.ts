/**
 * `flowlog-agent generate --out FILE ...`: writes a synthetic, deterministic Ethernet capture
 * of ENI traffic (the quick start's way to get a capture without a cloud host), and optionally
 * the per-flow totals a correct agent must report for it.
 */
import { writeFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { formatMac, parseIpv4 } from '../synth/address-codec';
import { expectedFlowTotals } from '../synth/expected-totals';
import type { CaptureFormat, TimestampResolution } from '../synth/pcap-writer';
import { planTraffic } from '../synth/traffic';

/** Where runGenerate writes; process.stdout/stderr or a test double. */
export interface TextOutput {
  write(text: string): unknown;
}

export interface GenerateOptions {
  out: string;
  packets: number;
  flows: number;
  seed: number;
  /** Unix seconds; undefined = the whole minutes just before now, so records look fresh to Log Service. */
  start?: number;
  durationSec: number;
  eniIps: string[];
  /** Paired with eniIps by position; missing ones are 00:16:3e + the low 24 bits of the IPv4 address. */
  eniMacs: string[];
  /** Paired with eniIps by position; missing ones default to fd00::<IPv4>. */
  eniIpv6s: string[];
  ipv6Share: number;
  format: CaptureFormat;
  snapLen: number;
  tsResolution: TimestampResolution;
  vlanIds: number[];
  /** When set, the expected per-flow totals are written there as JSON lines. */
  expectedPath?: string;
  /** Aggregation window of the expected totals, seconds. */
  windowSec: number;
}

/** Exit statuses: 0 written, 1 the file could not be written, 2 bad arguments. */
export const EXIT_GENERATE_FAILED = 1;
export const EXIT_GENERATE_USAGE = 2;

/** The MAC an ECS instance would plausibly have for `ipv4`: 00:16:3e and the address's low 24 bits. */
export function defaultEniMac(ipv4: string): string {
  const b = parseIpv4(ipv4);
  return formatMac(Uint8Array.of(0x00, 0x16, 0x3e, b[1], b[2], b[3]));
}

/** Default start: whole minutes ending at the last minute boundary, long enough for the duration. */
export function defaultStartSec(nowMs: number, durationSec: number): number {
  return Math.floor(nowMs / 60_000) * 60 - Math.ceil(durationSec / 60) * 60;
}

/** Generates the capture described by `o`; returns the exit status. */
export function runGenerate(o: GenerateOptions, out: TextOutput, err: TextOutput, nowMs = Date.now()): number {
  let plan;
  const startSec = o.start ?? defaultStartSec(nowMs, o.durationSec);
  try {
    if (o.eniMacs.length > o.eniIps.length || o.eniIpv6s.length > o.eniIps.length) {
      throw new RangeError('more --eni-mac or --eni-ipv6 values than --eni-ip values');
    }
    const enis = o.eniIps.map((ip, i) => ({
      ip,
      mac: o.eniMacs[i] ?? defaultEniMac(ip),
      ...(o.eniIpv6s[i] === undefined ? {} : { ipv6: o.eniIpv6s[i] }),
    }));
    plan = planTraffic({
      packets: o.packets,
      flows: o.flows,
      seed: o.seed,
      startSec,
      durationSec: o.durationSec,
      ipv6Share: o.ipv6Share,
      enis,
      vlanIds: o.vlanIds,
    });
  } catch (e) {
    err.write(`flowlog-agent generate: ${(e as Error).message}\n`);
    return EXIT_GENERATE_USAGE;
  }
  try {
    const s = plan.writeCapture(o.out, { format: o.format, snapLen: o.snapLen, tsResolution: o.tsResolution });
    out.write(
      `wrote ${s.packets} packets of ${s.flows} flows to ${o.out} (${o.format}, ` +
        `${new Date(startSec * 1000).toISOString()} .. ${new Date((startSec + o.durationSec) * 1000).toISOString()}, ` +
        `${s.l3Bytes} bytes of IP)\n`,
    );
    if (o.expectedPath !== undefined) {
      const totals = expectedFlowTotals(plan, o.windowSec);
      writeFileSync(o.expectedPath, totals.map((t) => JSON.stringify(t)).join('\n') + '\n');
      out.write(`wrote ${totals.length} expected flow totals (${o.windowSec} s windows) to ${o.expectedPath}\n`);
    }
    return 0;
  } catch (e) {
    err.write(`flowlog-agent generate: ${(e as Error).message}\n`);
    return EXIT_GENERATE_FAILED;
  }
}

/** Parsed command line of `generate`; the handler sees the dashed names camel-cased. */
interface GenerateArgv {
  out: string;
  packets: number;
  flows: number;
  seed: number;
  start: number | undefined;
  duration: number;
  'eni-ip': string[];
  'eni-mac': string[];
  'eni-ipv6': string[];
  'ipv6-share': number;
  format: CaptureFormat;
  snaplen: number;
  'ts-resolution': TimestampResolution;
  vlan: number[];
  expected: string | undefined;
  window: number;
}

export const generateCommand: CommandModule<object, GenerateArgv> = {
  command: 'generate',
  describe: 'Write a synthetic, deterministic capture of ENI traffic (pcap or pcapng)',
  builder: (yargs) =>
    yargs
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'capture file to write' })
      .option('packets', { type: 'number', default: 10_000, describe: 'packets in the capture' })
      .option('flows', { type: 'number', default: 100, describe: 'conversations (each both directions)' })
      .option('seed', { type: 'number', default: 1, describe: 'PRNG seed; equal arguments give equal files' })
      .option('start', { type: 'number', describe: 'first second, Unix time (default: the minutes just before now)' })
      .option('duration', { type: 'number', default: 60, describe: 'seconds of traffic' })
      .option('eni-ip', {
        type: 'string',
        array: true,
        default: ['10.0.0.5'],
        describe: 'ENI IPv4 address (repeat for more ENIs)',
      })
      .option('eni-mac', {
        type: 'string',
        array: true,
        default: [],
        describe: 'ENI MAC, by position (default 00:16:3e + IPv4 low 24 bits)',
      })
      .option('eni-ipv6', {
        type: 'string',
        array: true,
        default: [],
        describe: 'ENI IPv6 address, by position (default fd00::<IPv4>)',
      })
      .option('ipv6-share', { type: 'number', default: 0, describe: 'fraction of flows that are IPv6, 0..1' })
      .option('format', { choices: ['pcap', 'pcapng'] as const, default: 'pcap' as const, describe: 'file format' })
      .option('snaplen', { type: 'number', default: 262144, describe: 'snap length; frames are cut to it' })
      .option('ts-resolution', {
        choices: ['us', 'ns'] as const,
        default: 'us' as const,
        describe: 'timestamp resolution',
      })
      .option('vlan', {
        type: 'number',
        array: true,
        default: [],
        describe: '802.1Q VLAN id on every frame (repeat to stack)',
      })
      .option('expected', { type: 'string', describe: 'also write the expected per-flow totals here (JSON lines)' })
      .option('window', { type: 'number', default: 60, describe: 'aggregation window of --expected, seconds' }),
  handler: (argv) => {
    // exitCode, not exit(): lets buffered stdout/stderr drain before the process ends.
    process.exitCode = runGenerate(
      {
        out: argv.out,
        packets: argv.packets,
        flows: argv.flows,
        seed: argv.seed,
        start: argv.start,
        durationSec: argv.duration,
        // yargs may parse an all-digit array element as a number; addresses are text.
        eniIps: argv.eniIp.map(String),
        eniMacs: argv.eniMac.map(String),
        eniIpv6s: argv.eniIpv6.map(String),
        ipv6Share: argv.ipv6Share,
        format: argv.format,
        snapLen: argv.snaplen,
        tsResolution: argv.tsResolution,
        vlanIds: argv.vlan,
        expectedPath: argv.expected,
        windowSec: argv.window,
      },
      process.stdout,
      process.stderr,
    );
  },
};
