/**
 * Packets and bytes as the wire carried them, with the kernel as the oracle: a "VM" namespace
 * sends through a veth whose host end is an ENI's device, with offloads on (the default: TSO,
 * GSO and UDP GSO hand the host super-frames of up to 64 KiB) and off (`ethtool -K`: every
 * segment a frame of its own), both ways. The daemon's packets must equal the sender's own TCP
 * segment counters (nstat TcpOutSegs + TcpRetransSegs, which count segments whatever the
 * offloads: the VM's for what leaves the VM, the host's for what reaches it) and, offloads off,
 * the device's packet counters; its bytes must equal the sender's IP octet counters (one L3
 * length per super-frame) plus the headers each extra segment repeats. The frames it read equal
 * the device's counters (one per super-frame). UDP GSO (UDP_SEGMENT) is checked by
 * arithmetic on what was sent. tcpdump writes the device meanwhile: a replay of its file (which
 * knows only frames: segments derived from the MTU and the MSS of the SYNs) must give the live
 * records, also for a connection whose MSS the host clamped below the MTU.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, bundleDaemon, readRecords, sleep, writeDaemonConfig } from '../helpers/daemon-process';
import { NetnsLab } from '../helpers/netns';
import { holdSharedRxTimestamps } from '../helpers/shared-rx-timestamps';
import { tempDirForFile } from '../helpers/temp-dir';

const REPO = join(__dirname, '..', '..');
const BIN = join(REPO, 'bin', 'flowlog-agent');
const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const canRun = NetnsLab.available() && ['iperf3', 'tcpdump', 'python3', 'ethtool', 'nstat'].every(has);

type Rec = Record<string, string>;
const VM4 = '10.212.0.2';
const HOST4 = '10.212.0.1';
const VM6 = 'fd12::2';
const HOST6 = 'fd12::1';

/** A UDP GSO sender: `count` sends of each payload size, segmented by the kernel at `gso` bytes. */
function udpGsoScript(dst: string, port: number, srcPort: number, gso: number, sizes: number[], count: number): string {
  const family = dst.includes(':') ? 'AF_INET6' : 'AF_INET';
  return [
    'import socket',
    `s = socket.socket(socket.${family}, socket.SOCK_DGRAM)`,
    `s.bind(("", ${srcPort}))`,
    `s.setsockopt(socket.SOL_UDP, 103, ${gso})  # UDP_SEGMENT`,
    `for _ in range(${count}):`,
    ...sizes.map((n) => `    s.sendto(b"x" * ${n}, ("${dst}", ${port}))`),
  ].join('\n');
}

/** Sums of records: packets and bytes by direction and protocol, for one family. */
function sums(recs: readonly Rec[], family: 4 | 6, direction: 'in' | 'out', protocol?: string) {
  let packets = 0;
  let bytes = 0;
  for (const r of recs) {
    if (r['log-status'] !== 'OK' || r.direction !== direction || r.srcaddr.includes(':') !== (family === 6)) continue;
    if (protocol !== undefined && r.protocol !== protocol) continue;
    packets += Number(r.packets);
    bytes += Number(r.bytes);
  }
  return { packets, bytes };
}

/** OK records keyed by everything but the counts (as daemon-live-replay.test.ts), for one protocol. */
function okFlows(recs: readonly Rec[], keep: (r: Rec) => boolean): Array<[string, string]> {
  const m = new Map<string, { packets: number; bytes: number }>();
  for (const r of recs) {
    if (r['log-status'] !== 'OK' || !keep(r)) continue;
    const key = [r.srcaddr, r.srcport, r.dstaddr, r.dstport, r.protocol, r.direction, r.start, r.end].join(' ');
    const v = m.get(key) ?? { packets: 0, bytes: 0 };
    v.packets += Number(r.packets);
    v.bytes += Number(r.bytes);
    m.set(key, v);
  }
  return [...m.entries()].map(([k, v]): [string, string] => [k, `${v.packets} ${v.bytes}`]).sort();
}

describe.skipIf(!canRun)('GSO/GRO super-frames count as the segments the wire carried', () => {
  const dir = tempDirForFile('daemon-super-frames');
  const lab = new NetnsLab('fsf');
  let nsHost = '';
  let nsVm = '';
  let iperf: ChildProcess | null = null;
  let iperf2: ChildProcess | null = null;
  let bundle = '';
  let config = '';

  beforeAll(async () => {
    nsHost = lab.namespace('host');
    nsVm = lab.namespace('vm');
    execFileSync('ip', [
      'link',
      'add',
      'fsfv0',
      'netns',
      nsVm,
      'type',
      'veth',
      'peer',
      'name',
      'fsfh0',
      'netns',
      nsHost,
    ]);
    for (const [ns, dev, v4, v6] of [
      [nsVm, 'fsfv0', VM4, VM6],
      [nsHost, 'fsfh0', HOST4, HOST6],
    ]) {
      // IPv6 without router solicitations or address detection: no stray ICMPv6 while counting.
      lab.exec(ns, 'sysctl', [
        '-qw',
        `net.ipv6.conf.${dev}.router_solicitations=0`,
        `net.ipv6.conf.${dev}.accept_dad=0`,
      ]);
      lab.exec(ns, 'ip', ['addr', 'add', `${v4}/24`, 'dev', dev]);
      lab.exec(ns, 'ip', ['addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      lab.exec(ns, 'ip', ['link', 'set', dev, 'up']);
    }
    const vmMac = lab.mac(nsVm, 'fsfv0');
    const hostMac = lab.mac(nsHost, 'fsfh0');
    // Static neighbours: no ARP or neighbour discovery between the counters' readings.
    lab.exec(nsVm, 'ip', ['neigh', 'replace', HOST4, 'lladdr', hostMac, 'dev', 'fsfv0', 'nud', 'permanent']);
    lab.exec(nsVm, 'ip', ['neigh', 'replace', HOST6, 'lladdr', hostMac, 'dev', 'fsfv0', 'nud', 'permanent']);
    lab.exec(nsHost, 'ip', ['neigh', 'replace', VM4, 'lladdr', vmMac, 'dev', 'fsfh0', 'nud', 'permanent']);
    lab.exec(nsHost, 'ip', ['neigh', 'replace', VM6, 'lladdr', vmMac, 'dev', 'fsfh0', 'nud', 'permanent']);
    iperf = lab.spawn(nsHost, 'iperf3', ['-s', '-p', '5201']);
    iperf2 = lab.spawn(nsHost, 'iperf3', ['-s', '-p', '5202']);
    bundle = bundleDaemon(dir);
    config = writeDaemonConfig(dir, [
      // The ring's PACKET_VNET_HDR path is what this tests (frames read against the device's
      // frames); the eBPF engine's gso_segs counting is ebpf-gso's and daemon-ebpf's.
      'capture: { engine: libpcap }',
      'enis:',
      `  - { id: eni-sf0, interface: fsfh0, mac: "${vmMac}", ips: ["${VM4}", "${VM6}"], vpcId: vpc-s, vswitchId: vsw-s, vmId: i-s }`,
      'flowLogs:',
      '  - { id: fl-s, resourceType: vpc, resourceId: vpc-s, aggregationInterval: "60s", sink: { type: file, path: unused.jsonl } }',
    ]);
    await sleep(1500); // link-up multicast reports are over before anything is counted
  });
  afterAll(() => {
    iperf?.kill('SIGKILL');
    iperf2?.kill('SIGKILL');
    lab.remove();
  });

  /** Absolute kernel counters of the VM's and the host's namespace (nstat -a, no history file). */
  const nstat = (): Record<string, number> => ({ ...counters(nsVm, ''), ...counters(nsHost, 'host.') });
  const counters = (ns: string, prefix: string): Record<string, number> => {
    const out = lab.exec(ns, 'nstat', ['-asz']);
    return Object.fromEntries(
      out
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 2 && /^\d+$/.test(f[1]))
        .map((f) => [prefix + f[0], Number(f[1])]),
    );
  };
  const deviceFrames = () =>
    ['rx_packets', 'tx_packets'].reduce(
      (n, c) => n + Number(lab.exec(nsHost, 'cat', [`/sys/class/net/fsfh0/statistics/${c}`])),
      0,
    );

  /** Runs `traffic` under a daemon (and tcpdump when `pcap` is given); returns records and counter deltas. */
  async function measure(name: string, traffic: () => void, pcap?: string) {
    const out = join(dir, `${name}.jsonl`);
    const tcpdump =
      pcap === undefined
        ? null
        : lab.spawn(nsHost, 'tcpdump', ['-i', 'fsfh0', '-n', '-s', '128', '-B', '32768', '-w', pcap]);
    let tcpdumpText = '';
    tcpdump?.stderr?.on('data', (d: Buffer) => (tcpdumpText += d.toString()));
    const daemon = DaemonProcess.start(lab, nsHost, bundle, config, out);
    try {
      await daemon.waitForLog('capture started', 20_000);
      for (let i = 0; tcpdump !== null && i < 100 && !tcpdumpText.includes('listening on'); i++) await sleep(50);
      const before = nstat();
      const framesBefore = deviceFrames();
      traffic();
      // Until the counters stand still (a connection's last segments follow the client's exit),
      // then past the ring's block timeout and the read pause.
      let after = nstat();
      for (let i = 0; i < 20; i++) {
        await sleep(300);
        const again = nstat();
        const still = Object.keys(again).every((k) => again[k] === after[k]);
        after = again;
        if (still) break;
      }
      const frames = deviceFrames() - framesBefore;
      expect(await daemon.stop('SIGTERM')).toBe(0);
      const stopped = daemon.logLines().find((l) => l.msg === 'daemon stopped') as Record<string, number>;
      const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      const started = daemon.logLines().find((l) => l.msg === 'capture started') as Record<string, unknown>;
      return { records: readRecords(out) as Rec[], delta, frames, framesRead: stopped.framesRead, started };
    } finally {
      await daemon.stop('SIGKILL');
      if (tcpdump !== null) {
        await sleep(1500); // tcpdump's libpcap reads a TPACKET_V3 block once its 1 s timeout retires it
        const exited = new Promise((r) => tcpdump.on('exit', r));
        tcpdump.kill('SIGINT');
        await exited;
        expect(tcpdumpText).toMatch(/\b0 packets dropped by kernel/);
      }
    }
  }

  const iperf3 = (host: string, extra: string[] = [], port = 5201) =>
    lab.exec(nsVm, 'iperf3', ['-c', host, '-p', String(port), '-n', '8M', ...extra]);

  it.each([
    ['the VM sends, IPv4, offloads on', 'on', 4, 0],
    ['the VM sends, IPv6, offloads on', 'on', 6, 0],
    ['the VM sends, IPv4, offloads off', 'off', 4, 0],
    ['the VM sends, IPv6, offloads off', 'off', 6, 0],
    ['the VM sends, IPv4, offloads on, the MSS clamped to 1000', 'on', 4, 1000],
    ['the host sends (iperf3 -R), IPv6, offloads on', 'on', 6, -1],
  ] as const)(
    "TCP bulk, %s: packets are the sender's segments, bytes its octets plus the repeated headers",
    async (_name, offloads, family, advmss) => {
      for (const [ns, dev] of [
        [nsVm, 'fsfv0'],
        [nsHost, 'fsfh0'],
      ]) {
        lab.exec(ns, 'ethtool', [
          '-K',
          dev,
          'tso',
          offloads,
          'gso',
          offloads,
          'gro',
          offloads,
          'tx-udp-segmentation',
          offloads,
        ]);
      }
      // advmss: the host announces that MSS (a route's advmss), below what the MTU gives.
      if (advmss > 0)
        lab.exec(nsHost, 'ip', ['route', 'replace', `${VM4}/32`, 'dev', 'fsfh0', 'advmss', String(advmss)]);
      let m: Awaited<ReturnType<typeof measure>>;
      try {
        // -1: iperf3 -R, the host sends (its TSO super-frames leave through the ENI's device).
        m = await measure(`tcp-${offloads}-${family}-${advmss}`, () =>
          iperf3(family === 4 ? HOST4 : HOST6, advmss < 0 ? ['-R'] : []),
        );
      } finally {
        if (advmss > 0) lab.exec(nsHost, 'ip', ['route', 'del', `${VM4}/32`, 'dev', 'fsfh0']);
      }
      expect(m.records.filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
      expect(m.started.segments).toBe('kernel');
      const v =
        family === 4
          ? { req: 'IpOutRequests', oct: 'IpExtOutOctets', icmp: 'IcmpOutMsgs', header: 20 + 32 }
          : { req: 'Ip6OutRequests', oct: 'Ip6OutOctets', icmp: 'Icmp6OutMsgs', header: 40 + 32 };
      // Each direction against its sender's own counters: the VM's for `out`, the host's for `in`.
      const sentBy = { out: '', in: 'host.' };
      let segments = 0;
      let skbs = 0;
      for (const direction of ['out', 'in'] as const) {
        const p = sentBy[direction];
        const all = sums(m.records, family, direction);
        const tcp = sums(m.records, family, direction, '6');
        // Segments: TCP's own count (data and control connection alike; OutSegs leaves
        // retransmissions to RetransSegs), whatever the offloads.
        const sent = m.delta(`${p}TcpOutSegs`) + m.delta(`${p}TcpRetransSegs`);
        expect(tcp.packets).toBe(sent);
        expect(all.packets).toBe(sent + m.delta(`${p}${v.icmp}`));
        // Bytes: the IP layer counted one L3 length per packet it sent (a super-frame once); each
        // further segment repeats the IP header and the TCP header with its timestamps option.
        expect(all.bytes).toBe(m.delta(`${p}${v.oct}`) + (all.packets - m.delta(`${p}${v.req}`)) * v.header);
        segments += all.packets;
        skbs += m.delta(`${p}${v.req}`);
      }
      // Most of 8 MiB of data (iperf3 may end the test with some of it unsent): thousands of segments.
      expect(sums(m.records, family, advmss < 0 ? 'in' : 'out', '6').packets).toBeGreaterThan(2000);
      expect(m.framesRead).toBe(m.frames);
      // The device counts frames: with offloads on one per super-frame, far fewer than the
      // segments; off, every segment a frame.
      if (offloads === 'on') expect(m.frames).toBeLessThan(segments / 5);
      else expect(m.frames).toBe(segments);
      expect(skbs).toBeLessThanOrEqual(m.frames);
    },
    60_000,
  );

  it.each(['on', 'off'] as const)(
    'UDP GSO (UDP_SEGMENT), offloads %s: each send counts as its segments',
    async (offloads) => {
      lab.exec(nsVm, 'ethtool', ['-K', 'fsfv0', 'tso', offloads, 'gso', offloads, 'tx-udp-segmentation', offloads]);
      // 40 sends each of 12,000 bytes (10 segments of 1,200) and 11,500 (9 of 1,200 and one of 700),
      // over IPv4 and IPv6.
      const m = await measure(`udp-${offloads}`, () => {
        lab.exec(nsVm, 'python3', ['-c', udpGsoScript(HOST4, 9000, 40001, 1200, [12000, 11500], 40)]);
        lab.exec(nsVm, 'python3', ['-c', udpGsoScript(HOST6, 9000, 40002, 1200, [12000, 11500], 40)]);
      });
      expect(m.records.filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
      expect(m.delta('UdpOutDatagrams') + m.delta('Udp6OutDatagrams')).toBe(160); // the kernel counts sends
      for (const [family, header] of [
        [4, 28],
        [6, 48],
      ] as const) {
        const udp = sums(m.records, family, 'out', '17');
        expect(udp.packets).toBe(40 * (10 + 10));
        expect(udp.bytes).toBe(40 * (12000 + 11500) + udp.packets * header);
      }
    },
    60_000,
  );

  it("a replay of tcpdump's file of the same super-frames gives the live records (segments derived from the MTU and the MSS)", async () => {
    for (const [ns, dev] of [
      [nsVm, 'fsfv0'],
      [nsHost, 'fsfh0'],
    ]) {
      lab.exec(ns, 'ethtool', ['-K', dev, 'tso', 'on', 'gso', 'on', 'gro', 'on', 'tx-udp-segmentation', 'on']);
    }
    const pcap = join(dir, 'super-frames.pcap');
    // One receive stamp per frame for the daemon and tcpdump alike (see holdSharedRxTimestamps):
    // the records are compared with their start and end seconds.
    const releaseTimestamps = await holdSharedRxTimestamps();
    const m = await measure(
      'replayed',
      () => {
        iperf3(HOST4);
        iperf3(HOST6);
        // The host announces an MSS of 1,000 for this one (a route's advmss): 988-byte segments,
        // where the MTU alone would give 1,448. Port 5202's server: the flow can be told apart.
        lab.exec(nsHost, 'ip', ['route', 'replace', `${VM4}/32`, 'dev', 'fsfh0', 'advmss', '1000']);
        try {
          iperf3(HOST4, ['-n', '2M'], 5202);
        } finally {
          lab.exec(nsHost, 'ip', ['route', 'del', `${VM4}/32`, 'dev', 'fsfh0']);
        }
        // A UDP GSO sender that fills the MTU (1,472 bytes a segment over IPv4): derivable.
        lab.exec(nsVm, 'python3', ['-c', udpGsoScript(HOST4, 9000, 40003, 1472, [14720, 10000], 20)]);
      },
      pcap,
    ).finally(releaseTimestamps);
    const live = m.records;
    expect(live.filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
    const out = join(dir, 'replay.jsonl');
    const replay = spawn(process.execPath, [BIN, 'replay', '--pcap', pcap, '--config', config, '--output', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let summary = '';
    replay.stderr?.on('data', (d: Buffer) => (summary += d.toString()));
    expect(await new Promise((r) => replay.on('exit', r))).toBe(0);
    expect(summary).toMatch(/super-frames \(over the MTU of 1500\): \d+ frames counted as \d+ packets \(derived \d+\)/);
    const keep = (r: Rec) => r.protocol === '6' || r.protocol === '17';
    const fromFile = okFlows(readRecords(out), keep);
    expect(fromFile.length).toBeGreaterThanOrEqual(8); // 4 connections, both directions, and the UDP flow
    const fromLive = okFlows(live, keep);
    // The connection whose MSS was clamped: in the file, a TSO frame no larger than the MTU holding
    // two or more 988-byte segments looks like one packet (nothing but its size could tell), so
    // the replay counts each such frame as one; tshark lists them. Every other flow is equal.
    const dataKey = fromLive
      .filter(([k]) => k.includes(' 5202 6 out '))
      .sort((a, b) => Number(b[1].split(' ')[0]) - Number(a[1].split(' ')[0]))[0][0];
    expect(fromFile.filter(([k]) => k !== dataKey)).toEqual(fromLive.filter(([k]) => k !== dataKey));
    const fields = execFileSync(
      'tshark',
      ['-r', pcap, '-Y', 'tcp.dstport == 5202 && ip.len <= 1500 && tcp.len > 988', '-T', 'fields', '-e', 'tcp.len'],
      { encoding: 'utf8' },
    );
    const hidden = fields
      .split('\n')
      .filter(Boolean)
      .reduce((n, len) => n + Math.ceil(Number(len) / 988) - 1, 0);
    const counts = (flows: Array<[string, string]>) =>
      (flows.find(([k]) => k === dataKey) as [string, string])[1].split(' ').map(Number);
    const [livePackets, liveBytes] = counts(fromLive);
    const [filePackets, fileBytes] = counts(fromFile);
    expect(filePackets).toBe(livePackets - hidden);
    expect(fileBytes).toBe(liveBytes - hidden * 52);
    // Derived from the MSS the host announced: 988 bytes a segment, not the MTU's 1,448.
    expect(livePackets).toBeGreaterThan((2 * 1024 * 1024) / 988);
  }, 90_000);
});
