import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGenerate, type GenerateOptions } from '../../../src/cli/generate-command';
import { openCaptureWriter } from '../../../src/synth/pcap-writer';
import { randomPacket } from '../../helpers/random-frames';
import { everyAddressConfig, replayToRecords, scratchDir, writeConfig } from '../../helpers/replay-run';
import { prng } from '../../helpers/views';
import { superFrameBytes, superFrameMix } from '../../helpers/super-frames';
import { CORPUS_DIR, skipWithoutCorpus } from '../../helpers/corpus';

const ROOT = join(__dirname, '..', '..', '..');
const CORPUS = CORPUS_DIR;
const dir = scratchDir('packet-kernel');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { write: () => true };
const START = 1_700_000_000; // 20 s into a minute, 200 s into 5 minutes: windows of both sizes close inside

/** Writes a synthetic capture (see `flowlog-agent generate`) and returns its path. */
function capture(name: string, o: Partial<GenerateOptions>): string {
  const path = join(dir, name);
  const code = runGenerate(
    {
      out: path,
      packets: 20_000,
      flows: 300,
      seed: 7,
      start: START,
      durationSec: 400,
      eniIps: ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8'],
      eniMacs: [],
      eniIpv6s: [],
      ipv6Share: 0.3,
      format: 'pcap',
      snapLen: 262144,
      tsResolution: 'us',
      vlanIds: [],
      windowSec: 60,
      ...o,
    },
    quiet,
    quiet,
  );
  expect(code).toBe(0);
  return path;
}

/**
 * Generated traffic has four ENI addresses, 10.0.0.5-8 (and fd00::a00:5-8); the config has three
 * ENIs attributed three ways (MAC; exact addresses; prefixes; .8 belongs to none), a fourth that owns the
 * remote IPv4 range (so such a packet of the first three is also one of it: two ENIs, and two
 * new flows in one table), and flow logs of 1 and 5 minutes (two aggregators).
 */
function config(name: string, capacity = 1_000_000, extra = ''): string {
  return writeConfig(
    dir,
    `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
flowTable: { capacity: ${capacity} }
enis:
  - { id: eni-mac, mac: "00:16:3e:00:00:05", vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
  - { id: eni-host, ips: ["10.0.0.6", "fd00::a00:6"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2 }
  - { id: eni-prefix, ips: ["10.0.0.6/31", "fd00::a00:6/127"], vpcId: vpc-1, vswitchId: vsw-2, vmId: i-3 }
  - { id: eni-remote, ips: ["198.18.0.0/15"], vpcId: vpc-1, vswitchId: vsw-3, vmId: i-4 }
flowLogs:
  - { id: fl-mac, resourceType: eni, resourceId: eni-mac, aggregationInterval: 1, extraFields: [tcp-flags], sink: { type: stdout } }
  - { id: fl-vpc1, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 5, sink: { type: stdout } }
  - { id: fl-prefix, resourceType: eni, resourceId: eni-prefix, aggregationInterval: 1, sink: { type: stdout } }
${extra}`,
    name,
  );
}

/** Replays both ways; the records and every counter must be equal. Returns the kernel's share. */
async function bothWays(
  pcaps: string[],
  configPath: string,
  maxGapWindows = 1440,
): Promise<{ kernel: number; frames: number; records: number; flows: Array<Record<string, string>> }> {
  const withKernel = await replayToRecords(pcaps, configPath, dir, maxGapWindows, true);
  const without = await replayToRecords(pcaps, configPath, dir, maxGapWindows, false);
  expect(withKernel.code).toBe(without.code);
  expect(without.summary!.kernelPackets).toBe(0);
  const kernel = withKernel.summary!.kernelPackets;
  expect(withKernel.records.length).toBe(without.records.length);
  for (let i = 0; i < without.records.length; i++) {
    if (JSON.stringify(withKernel.records[i]) !== JSON.stringify(without.records[i])) {
      expect({ record: i, ...withKernel.records[i] }).toEqual({ record: i, ...without.records[i] });
    }
  }
  expect({ ...withKernel.summary, kernelPackets: 0 }).toEqual(without.summary); // per-ENI packets and bytes too
  return { kernel, frames: without.summary!.frames, records: without.records.length, flows: without.records };
}

describe('the WebAssembly packet kernel writes what the TypeScript path writes', () => {
  it('is built from its source (npm run build:kernel)', () => {
    execFileSync(process.execPath, [join(ROOT, 'tools', 'build-kernel.js'), '--check'], { stdio: 'pipe' });
  });

  it.each([
    ['pcap', 'us'],
    ['pcapng', 'ns'],
  ] as const)(
    'MAC, address and prefix ENIs, two ENIs a packet, windows of 1 and 5 minutes (%s)',
    async (format, tsResolution) => {
      const r = await bothWays([capture(`mixed.${format}`, { format, tsResolution })], config('mixed.yaml'));
      expect(r.records).toBeGreaterThan(1000);
      // Every packet but the first of each 1-minute window (it closes the last) goes through the kernel.
      expect(r.kernel).toBeGreaterThan(r.frames * 0.99);
    },
  );

  it('many ENIs: the MAC and address tables probed (hashed) rather than scanned', async () => {
    // 30 ENIs of MACs and addresses no packet carries, before and after the three that match:
    // more than the inventory scans, so the kernel probes the same hash tables it does.
    const fillers = (from: number) =>
      Array.from(
        { length: 15 },
        (_, i) =>
          `  - { id: eni-fill${from + i}, mac: "02:00:00:00:${(from + i).toString(16).padStart(2, '0')}:01", ips: ["10.9.${from + i}.1", "fd09::${from + i}"], vpcId: vpc-1, vswitchId: vsw-9, vmId: i-9 }`,
      );
    const path = writeConfig(
      dir,
      `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
${fillers(0).join('\n')}
  - { id: eni-mac, mac: "00:16:3e:00:00:05", vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
  - { id: eni-host, ips: ["10.0.0.6", "fd00::a00:6", "10.0.0.7"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2 }
  - { id: eni-prefix, ips: ["198.18.0.0/15"], vpcId: vpc-1, vswitchId: vsw-2, vmId: i-3 }
${fillers(15).join('\n')}
flowLogs:
  - { id: fl-vpc1, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 1, sink: { type: stdout } }
`,
      'many.yaml',
    );
    const r = await bothWays([capture('many.pcap', {})], path);
    expect(r.records).toBeGreaterThan(1000);
    expect(new Set(r.flows.filter((f) => f['log-status'] === 'OK').map((f) => f['eni-id']))).toEqual(
      new Set(['eni-mac', 'eni-host', 'eni-prefix']),
    );
    expect(r.kernel).toBeGreaterThan(r.frames * 0.99);
  });

  it('a table that fills up (SKIPDATA) and grows its index', async () => {
    const path = capture('full.pcap', { flows: 2000, packets: 30_000 });
    // The kernel takes the packets of flows in the table; new flows of a full table are the host's.
    const shares: number[] = [];
    for (const capacity of [5, 60, 700, 100_000]) {
      const r = await bothWays([path], config(`full-${capacity}.yaml`, capacity));
      shares.push(r.kernel / r.frames);
    }
    expect(shares[0]).toBeGreaterThan(0);
    expect(shares[3]).toBeGreaterThan(0.9);
  });

  it('late packets, a timeline restart, frames the kernel leaves (802.1Q), pcapng, nanoseconds, short snaplen', async () => {
    const first = capture('first.pcap', { durationSec: 150 });
    const late = capture('late.pcap', { start: START + 130, durationSec: 100, seed: 8, tsResolution: 'ns' });
    const vlan = capture('vlan.pcap', { vlanIds: [100], packets: 3000, start: START + 200 });
    const snap = capture('snap.pcap', { snapLen: 54, packets: 3000, start: START + 300, seed: 9 });
    const ng = capture('ng.pcapng', { format: 'pcapng', packets: 3000, start: START + 400 });
    const earlier = capture('earlier.pcap', { start: START - 100_000, packets: 3000 });
    const r = await bothWays([first, late, vlan, snap, ng, earlier], config('late.yaml'));
    expect(r.kernel).toBeGreaterThan(20_000);
    expect(r.kernel).toBeLessThan(r.frames - 3000); // none of the 802.1Q frames
  });

  it('random headers and snaplens, many just outside what the kernel takes', async () => {
    const r = prng(20261125);
    const path = join(dir, 'random.pcap');
    const writer = openCaptureWriter(path);
    const eni = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x05];
    const gateway = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    for (let n = 0; n < 20_000;) {
      const { ethertype, ip, fast } = randomPacket(r);
      // Mostly frames of the lane's shape (their lengths and snaplens still vary), so the
      // kernel is asked about each of the others rather than backing off.
      if (!(fast && ethertype === (ip[0] >> 4 === 4 ? 0x0800 : 0x86dd)) && r() < 0.85) continue;
      // Some IPv6 sources share their first word with 10.0.0.6 (an IPv4 ENI address), the rest 0.
      if (ethertype === 0x86dd && ip[0] >> 4 === 6 && r() < 0.2)
        ip.splice(8, 16, 10, 0, 0, 6, ...new Array<number>(12).fill(0));
      const macs = r() < 0.5 ? [...eni, ...gateway] : [...gateway, ...eni];
      const frame = Uint8Array.from([...macs, ethertype >> 8, ethertype & 0xff, ...ip]);
      const capLen = r() < 0.7 ? frame.length : 14 + Math.floor(r() * (frame.length - 13));
      writer.writePacket(START + Math.floor(n++ / 50), 0, frame, capLen, frame.length);
    }
    writer.close();
    const result = await bothWays([path], config('random.yaml'));
    expect(result.kernel).toBeGreaterThan(5000);
  });

  it('lookups it remembers: consecutive frames whose MACs or addresses differ in one word only', async () => {
    // The kernel remembers each side's last MAC and address answer; a key word it failed to
    // compare would attribute the second frame of such a pair to the first one's ENI.
    const eni = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x05];
    const gateway = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    const v6 = (...words: number[]) => words.flatMap((w) => [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff]);
    const ends: Array<{ mac: number[]; ip: number[] }> = [
      { mac: eni, ip: [10, 0, 0, 9] }, // eni-mac
      { mac: [0x01, ...eni.slice(1)], ip: [10, 0, 0, 9] }, // MAC high half differs: none
      { mac: [...eni.slice(0, 5), 0x06], ip: [10, 0, 0, 9] }, // MAC low word differs: none
      { mac: gateway, ip: [10, 0, 0, 5] }, // eni-v4
      { mac: eni, ip: v6(0xfd000000, 0, 0, 9) }, // eni-mac
      { mac: [0x01, ...eni.slice(1)], ip: v6(0xfd000000, 0, 0, 9) },
      { mac: gateway, ip: v6(0x0a000005, 0, 0, 0) }, // 10.0.0.5's word as IPv6: none
      { mac: gateway, ip: v6(0xfd000000, 0, 0, 5) }, // eni-v6
      { mac: gateway, ip: v6(0xfd010000, 0, 0, 5) }, // word 0 differs: none
      { mac: gateway, ip: v6(0xfd000000, 1, 0, 5) }, // word 1: eni-w1
      { mac: gateway, ip: v6(0xfd000000, 0, 1, 5) }, // word 2: none
      { mac: gateway, ip: v6(0xfd000000, 0, 0, 6) }, // word 3: none
    ];
    const pairs: Array<[number, number]> = [];
    for (let a = 0; a < ends.length; a++) {
      for (let b = 0; b < ends.length; b++) if (a !== b && ends[a].ip.length === ends[b].ip.length) pairs.push([a, b]);
    }
    const r = prng(20261206);
    const path = join(dir, 'remembered.pcap');
    const writer = openCaptureWriter(path);
    let n = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = pairs.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
      }
      for (const [a, b] of pairs) {
        const src = ends[a];
        const dst = ends[b];
        const udp = [0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0, 0, 1, 2, 3, 4]; // 40000 -> 53, 4 bytes
        const ip =
          src.ip.length === 4
            ? [0x45, 0, 0, 20 + udp.length, 0, 0, 0x40, 0, 64, 17, 0, 0, ...src.ip, ...dst.ip]
            : [0x60, 0, 0, 0, 0, udp.length, 17, 64, ...src.ip, ...dst.ip];
        const ethertype = src.ip.length === 4 ? [0x08, 0x00] : [0x86, 0xdd];
        const frame = Uint8Array.from([...dst.mac, ...src.mac, ...ethertype, ...ip, ...udp]);
        writer.writePacket(START + Math.floor(n++ / 100), 0, frame, frame.length, frame.length);
      }
    }
    writer.close();
    const path2 = writeConfig(
      dir,
      `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
  - { id: eni-mac, mac: "00:16:3e:00:00:05", vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
  - { id: eni-v4, ips: ["10.0.0.5"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2 }
  - { id: eni-v6, ips: ["fd00::5"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-3 }
  - { id: eni-w1, ips: ["fd00:0:0:1::5"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-4 }
flowLogs:
  - { id: fl-vpc1, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 1, sink: { type: stdout } }
`,
      'remembered.yaml',
    );
    const result = await bothWays([path], path2);
    expect(result.kernel).toBeGreaterThan(result.frames * 0.99);
    expect(new Set(result.flows.filter((f) => f['log-status'] === 'OK').map((f) => f['eni-id']))).toEqual(
      new Set(['eni-mac', 'eni-v4', 'eni-v6', 'eni-w1']),
    );
  });

  it('a flow past 4 GiB in a window (the byte count carries into its high word)', async () => {
    // 66,000 TCP packets of one flow, each 65,535 bytes long by its IP header, 54 bytes captured.
    const path = join(dir, 'carry.pcap');
    const writer = openCaptureWriter(path, { snapLen: 54 });
    // prettier-ignore
    const frame = Uint8Array.from([
      0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x05, 0x08, 0x00, // Ethernet, from the ENI
      0x45, 0x00, 0xff, 0xff, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, // IPv4, total length 65535, TCP
      10, 0, 0, 5, 198, 18, 0, 1, // source, destination
      0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0, // TCP 40000 -> 443, ACK
    ]);
    for (let n = 0; n < 66_000; n++)
      writer.writePacket(START + Math.floor(n / 2000), 0, frame, frame.length, 65535 + 14);
    writer.close();
    // A device of MTU 65536 (loopback's): whole frames, not super-frames of 1500-byte segments.
    const r = await bothWays([path], config('carry.yaml', 1_000_000, 'capture: { mtuBytes: 65536 }\n'));
    expect(r.kernel).toBeGreaterThan(65_000);
    // All 33 seconds of it lie in one window of each interval (START is 20 s into a minute).
    const flows = r.flows.filter((x) => x['eni-id'] === 'eni-mac' && x.srcport === '40000');
    expect(flows.map((x) => [x.packets, x.bytes])).toEqual([
      ['66000', String(66_000 * 65_535)],
      ['66000', String(66_000 * 65_535)],
    ]);
  });

  it('super-frames in a capture file: segments derived from the MTU and the MSS of SYNs, the same both ways', async () => {
    const eni = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x05];
    const gateway = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    const path = join(dir, 'super.pcap');
    const writer = openCaptureWriter(path, { snapLen: 128 });
    for (const f of superFrameMix(prng(20261208), 20_000, START, { eni, gateway }, () => 0)) {
      writer.writePacket(f.tsSec, 0, Uint8Array.from(f.frame), f.capLen, f.wireLen);
    }
    // Arithmetic on one flow: a SYN-ACK announcing MSS 1000 to 10.0.0.5:40009 (a port the mix
    // does not use), then one 64,000-byte-payload frame the other way: 65 segments of 988.
    const flow = {
      family: 4 as const,
      protocol: 6 as const,
      srcMac: eni,
      dstMac: gateway,
      src: [10, 0, 0, 5],
      dst: [10, 0, 0, 1],
      sport: 40009,
      dport: 5201,
    };
    const synAck = superFrameBytes({
      ...flow,
      srcMac: gateway,
      dstMac: eni,
      src: flow.dst,
      dst: flow.src,
      sport: 5201,
      dport: 40009,
      l3Bytes: 44,
      synMss: 1000,
    });
    writer.writePacket(START + 499, 0, Uint8Array.from(synAck), synAck.length, synAck.length + 14);
    const data = superFrameBytes({ ...flow, l3Bytes: 52 + 64_000 });
    writer.writePacket(START + 499, 1, Uint8Array.from(data), data.length, 14 + 52 + 64_000);
    writer.close();
    const r = await bothWays([path], config('super.yaml'));
    expect(r.kernel).toBeGreaterThan(10_000); // the ordinary frames
    const one = r.flows.filter((x) => x.srcport === '40009' && x['log-status'] === 'OK');
    expect(one.map((x) => [x.packets, x.bytes])).toEqual([
      ['65', String(64_000 + 65 * 52)],
      ['65', String(64_000 + 65 * 52)],
    ]);
    // Frames over the MTU were segmented on both paths (the summaries are compared whole).
    const packets = r.flows.filter((x) => x['log-status'] === 'OK').reduce((n, x) => n + Number(x.packets), 0);
    expect(packets).toBeGreaterThan(2 * r.frames);
  });

  it('a flood of new flows on one ENI beside a quiet neighbour: the neighbour recorded in full, the flood OK + SKIPDATA', async () => {
    // 30,000 flows from eni-mac (one packet each) and 250 of eni-host (4 packets each), interleaved,
    // into tables of 2,000 flows: eni-mac gets its guarantee and the pool, eni-host all of its own.
    const eni = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x05];
    const gateway = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    const path = join(dir, 'flood.pcap');
    const writer = openCaptureWriter(path, { snapLen: 128 });
    let n = 0;
    for (let i = 0; i < 30_000; i++) {
      const f = superFrameBytes({
        family: 4,
        protocol: 17,
        l3Bytes: 60,
        srcMac: gateway,
        dstMac: eni,
        src: [203, 0, (i >> 8) & 0xff, i & 0xff],
        dst: [10, 0, 0, 9],
        sport: 1024 + (i % 50_000),
        dport: 53,
      });
      writer.writePacket(START + Math.floor(n++ / 2000), 0, Uint8Array.from(f), f.length, 74);
      if (i % 30 === 0) {
        const k = (i / 30) % 250;
        const q = superFrameBytes({
          family: 4,
          protocol: 17,
          l3Bytes: 100,
          srcMac: gateway,
          dstMac: gateway,
          src: [192, 0, 2, 1],
          dst: [10, 0, 0, 6],
          sport: 30_000 + k,
          dport: 443,
        });
        writer.writePacket(START + Math.floor(n++ / 2000), 0, Uint8Array.from(q), q.length, 114);
      }
    }
    writer.close();
    const yaml = `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
flowTable: { capacity: 2000 }
enis:
  - { id: eni-mac, mac: "00:16:3e:00:00:05", vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
  - { id: eni-host, ips: ["10.0.0.6"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2 }
flowLogs:
  - { id: fl-vpc1, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 10, sink: { type: stdout } }
`;
    const r = await bothWays([path], writeConfig(dir, yaml, 'flood.yaml'));
    // The kernel refuses the flood itself: it never hands those packets to TypeScript.
    expect(r.kernel).toBeGreaterThan(r.frames * 0.95);
    const sum = (eniId: string, status: string) =>
      r.flows
        .filter((x) => x['eni-id'] === eniId && x['log-status'] === status)
        .reduce((s, x) => s + Number(x.packets), 0);
    expect(sum('eni-host', 'OK')).toBe(1000);
    expect(sum('eni-host', 'SKIPDATA')).toBe(0);
    expect(r.flows.filter((x) => x['eni-id'] === 'eni-host' && x['log-status'] === 'OK').length).toBe(250);
    expect(sum('eni-mac', 'OK')).toBe(500 + 1000); // its guarantee (2000 / 4) and the pool (1000)
    expect(sum('eni-mac', 'OK') + sum('eni-mac', 'SKIPDATA')).toBe(30_000);
  });

  it('pcapng: interfaces of other link types, resolutions and offsets, other blocks, sections, broken blocks', async () => {
    // A TCP frame from 10.0.0.5 (by the ENI's MAC) with source port `port`; or, for a raw IPv4
    // interface, an IP packet to 10.0.0.6 from 8.0.69.1, whose bytes read as Ethernet would be
    // an unfragmented IPv4 packet too. Each broken block below sits in the window of the packets
    // before it, so only the checks under test stop the kernel there.
    // prettier-ignore
    const ether = (port: number) =>
      Buffer.from([
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x05, 0x08, 0x00,
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 5, 198, 18, 0, 1,
        port >> 8, port & 0xff, 0x01, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
      ]);
    // prettier-ignore
    const raw = () => Buffer.from([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 8, 0, 69, 1, 10, 0, 0, 6, 0x40, 0x00, 0, 80, ...new Array<number>(20).fill(0)]);
    const block = (type: number, body: Buffer) => {
      const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
      const total = padded.length + 12;
      const head = Buffer.alloc(8);
      head.writeUInt32LE(type, 0);
      head.writeUInt32LE(total, 4);
      const tail = Buffer.alloc(4);
      tail.writeUInt32LE(total, 0);
      return Buffer.concat([head, padded, tail]);
    };
    const shb = () =>
      block(
        0x0a0d0d0a,
        Buffer.from([0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      );
    const idb = (linkType: number, tsresol?: number, tsoffset?: number) => {
      const parts = [Buffer.from([linkType & 0xff, linkType >> 8, 0, 0, 0, 0, 4, 0])];
      if (tsresol !== undefined) parts.push(Buffer.from([9, 0, 1, 0, tsresol, 0, 0, 0]));
      if (tsoffset !== undefined) {
        const o = Buffer.from([14, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        o.writeBigUInt64LE(BigInt(tsoffset), 4);
        parts.push(o);
      }
      if (parts.length > 1) parts.push(Buffer.alloc(4)); // opt_endofopt
      return block(1, Buffer.concat(parts));
    };
    /** An Enhanced Packet Block, or (type) another block of the same layout. */
    const epb = (iface: number, units: bigint, frame: Buffer, capLen = frame.length, type = 6) => {
      const head = Buffer.alloc(20);
      head.writeUInt32LE(iface, 0);
      head.writeUInt32LE(Number(units >> 32n), 4);
      head.writeUInt32LE(Number(units & 0xffffffffn), 8);
      head.writeUInt32LE(capLen, 12);
      head.writeUInt32LE(frame.length, 16);
      return block(type, Buffer.concat([head, frame]));
    };
    const t = BigInt(START);
    const packets = (n: number, each: (i: number) => Buffer) => Array.from({ length: n }, (_, i) => each(i));
    const fileA = Buffer.concat([
      shb(),
      idb(1, 6, 1000), // Ethernet, microseconds, 1000 s later
      idb(1, 9), // Ethernet, nanoseconds
      idb(101), // raw IPv4
      idb(1, 0x80 | 33), // Ethernet, 2^33 units a second: the reader's approximate division
      ...packets(400, (i) => {
        const kind = i % 8;
        if (kind === 5) return epb(2, (t + BigInt(i)) * 1_000_000n, raw());
        if (kind === 6) return epb(3, (t + BigInt(i)) << 33n, ether(41000 + i));
        if (kind === 7) return epb(1, (t + BigInt(i)) * 1_000_000_000n, ether(42000 + i), 54, 0x40000bad); // a custom block, skipped
        // interface 0 stamps 1000 s early, and its offset puts the packet beside interface 1's
        return kind % 2 === 0
          ? epb(0, (t - 1000n + BigInt(i)) * 1_000_000n, ether(40000 + (i % 50)))
          : epb(1, (t + BigInt(i)) * 1_000_000_000n, ether(40000 + (i % 50)));
      }),
      shb(),
      idb(1), // one interface now: a packet of interface 1 ends the file
      ...packets(50, (i) => epb(0, (t + 500n + BigInt(i)) * 1_000_000n, ether(43000 + i))),
      epb(1, (t + 549n) * 1_000_000_000n, ether(44000)), // interface 1 was the last section's
      ...packets(50, (i) => epb(0, (t + 600n + BigInt(i)) * 1_000_000n, ether(45000 + i))),
    ]);
    const fileB = Buffer.concat([
      shb(),
      idb(1),
      ...packets(50, (i) => epb(0, (t + 700n + BigInt(i)) * 1_000_000n, ether(46000 + i))),
      epb(0, (t + 755n) * 1_000_000n, ether(47000), 200), // its captured length overruns the block
      ...packets(50, (i) => epb(0, (t + 756n + BigInt(i)) * 1_000_000n, ether(48000 + i))),
    ]);
    writeFileSync(join(dir, 'a.pcapng'), fileA);
    writeFileSync(join(dir, 'b.pcapng'), fileB);
    const r = await bothWays([join(dir, 'a.pcapng'), join(dir, 'b.pcapng')], config('pcapng.yaml'));
    expect(r.kernel).toBeGreaterThan(250);
    expect(r.frames).toBe(350 + 50 + 50); // custom blocks skipped; each file ends at its broken block
  });

  it('stays out of the way of agent-side rules (actions)', async () => {
    const withRules = readFileSync(config('rules.yaml'), 'utf8').replace(
      'vmId: i-1 }',
      'vmId: i-1, securityGroups: [{ id: sg-1, rules: [{ direction: ingress, protocol: tcp, portRange: "443/443", cidr: 0.0.0.0/0 }] }] }',
    );
    const r = await bothWays([capture('rules.pcap', { packets: 3000 })], writeConfig(dir, withRules, 'rules.yaml'));
    expect(r.kernel).toBe(0);
  });

  it('says so and replays in TypeScript when its memory would be too large', async () => {
    // Two aggregators of two 11-million-flow tables each: about 3.9 GB for the kernel's memory.
    const path = config('huge.yaml', 11_000_000);
    const { summary, stderr } = await replayToRecords([capture('huge.pcap', { packets: 2000 })], path, dir);
    expect(stderr).toMatch(
      /^flowlog-agent replay: WebAssembly kernel unavailable, replaying in TypeScript alone: flow tables of 11000000 flows exceed its memory$/m,
    );
    expect(summary!.kernelPackets).toBe(0);
    expect(summary!.frames).toBe(2000);
  });

  it('every capture of the tcpdump corpus, one ENI owning every address', { timeout: 300_000 }, async (ctx) => {
    skipWithoutCorpus(ctx);
    const files = readdirSync(CORPUS)
      .filter((f) => /\.pcap(ng)?$/.test(f))
      .sort()
      .map((f) => join(CORPUS, f));
    expect(files.length).toBeGreaterThanOrEqual(800);
    const r = await bothWays(files, writeConfig(dir, everyAddressConfig(dir), 'corpus.yaml'), 0);
    expect(r.kernel).toBeGreaterThan(1000);
  });
});
