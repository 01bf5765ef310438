/**
 * One ENI cannot blind another (issue 30): a flood of 60,000 distinct flows (spoofed sources,
 * tcpreplay at top speed) on one ENI's device, beside a neighbour ENI of the same flow log that
 * sends 2,400 datagrams over 100 flows meanwhile, into flow tables of 4,000 flows. The
 * neighbour's records are exact, without SKIPDATA; the flooded ENI's OK and SKIPDATA packets add
 * up to what tcpreplay sent, and its flows beyond its share are counted in
 * flowlog_flow_table_refused_packets_total.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../src/metrics/metric-registry';
import { openCaptureWriter } from '../../src/synth/pcap-writer';
import { DaemonProcess, bundleDaemon, readRecords, sleep, writeDaemonConfig } from '../helpers/daemon-process';
import { sampleValue, scrapeMetrics } from '../helpers/daemon-scrape';
import { NetnsLab } from '../helpers/netns';
import { superFrameBytes } from '../helpers/super-frames';
import { tempDirForFile } from '../helpers/temp-dir';

const canRun = NetnsLab.available();
const FLOOD = 60_000;

describe.skipIf(!canRun)('a flood on one ENI beside a quiet neighbour', () => {
  const dir = tempDirForFile('daemon-flood');
  const lab = new NetnsLab('ffl');
  afterAll(() => lab.remove());

  it('records the neighbour in full and the flooded ENI as OK + SKIPDATA = sent', async () => {
    const nsHost = lab.namespace('host');
    const nsA = lab.namespace('a');
    const nsB = lab.namespace('b');
    const { macB: vmA } = lab.veth(nsHost, 'ffla0', '10.214.1.1/24', nsA, 'fflpa0', '10.214.1.2/24');
    const { macB: vmB } = lab.veth(nsHost, 'fflb0', '10.214.2.1/24', nsB, 'fflpb0', '10.214.2.2/24');
    // The flood: UDP from 60,000 spoofed sources to ENI A's VM, one packet each.
    const pcap = join(dir, 'flood.pcap');
    const writer = openCaptureWriter(pcap, { snapLen: 128 });
    const vm = vmA.split(':').map((h) => parseInt(h, 16));
    for (let i = 0; i < FLOOD; i++) {
      const f = superFrameBytes({
        family: 4,
        protocol: 17,
        l3Bytes: 60,
        srcMac: [0x02, 0, 0, 0, 0, 1],
        dstMac: vm,
        src: [198, 51, (i >> 8) & 0xff, i & 0xff],
        dst: [10, 214, 1, 2],
        sport: 1024 + (i % 60_000),
        dport: 9,
      });
      writer.writePacket(1_700_000_000, 0, Uint8Array.from(f), f.length, 74);
    }
    writer.close();
    const config = writeDaemonConfig(dir, [
      'flowTable: { capacity: 4000 }',
      'metrics: { listen: "127.0.0.1:9471" }',
      'enis:',
      `  - { id: eni-flooded, interface: ffla0, mac: "${vmA}", ips: [10.214.1.2], vpcId: vpc-f, vswitchId: vsw-f, vmId: i-a }`,
      `  - { id: eni-quiet, interface: fflb0, mac: "${vmB}", ips: [10.214.2.2], vpcId: vpc-f, vswitchId: vsw-f, vmId: i-b }`,
      'flowLogs:',
      '  - { id: fl-f, resourceType: vpc, resourceId: vpc-f, aggregationInterval: "10s", sink: { type: file, path: unused.jsonl } }',
    ]);
    const out = join(dir, 'records.jsonl');
    const daemon = DaemonProcess.start(lab, nsHost, bundleDaemon(dir), config, out);
    try {
      await daemon.waitForLog('daemon started', 20_000);
      // The neighbour: 100 flows of 24 datagrams, sent while the flood runs.
      const quiet = lab.spawn(nsB, 'python3', [
        '-c',
        [
          'import socket, time',
          'socks = []',
          'for k in range(100):',
          '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
          '    s.bind(("10.214.2.2", 20000 + k))',
          '    socks.append(s)',
          'for _ in range(24):',
          '    for s in socks: s.sendto(b"q" * 72, ("10.214.2.1", 7))',
          '    time.sleep(0.02)',
        ].join('\n'),
      ]);
      const replayed = lab.exec(nsA, 'tcpreplay', ['--topspeed', '-i', 'fflpa0', pcap]);
      expect(Number(/Actual: (\d+) packets/.exec(replayed)?.[1])).toBe(FLOOD);
      expect(await new Promise((r) => quiet.on('exit', r))).toBe(0);
      await sleep(1000);
      const m = scrapeMetrics(lab, nsHost, 'http://127.0.0.1:9471');
      expect(sampleValue(m, METRIC_NAMES.flowTableRefused, { eni: 'eni-quiet' })).toBe(0);
      expect(sampleValue(m, METRIC_NAMES.flowTableRefused, { eni: 'eni-flooded' })).toBeGreaterThan(0);
      expect(await daemon.stop('SIGTERM')).toBe(0);
    } finally {
      await daemon.stop('SIGKILL');
    }
    const recs = readRecords(out);
    const sum = (eni: string, status: string, keep: (r: Record<string, string>) => boolean = () => true) =>
      recs
        .filter((r) => r['eni-id'] === eni && r['log-status'] === status && keep(r))
        .reduce((n, r) => n + Number(r.packets), 0);
    // The neighbour: every datagram, in its 100 flows, nothing skipped.
    const quietUdp = (r: Record<string, string>) => r.protocol === '17' && r.srcaddr === '10.214.2.2';
    expect(sum('eni-quiet', 'OK', quietUdp)).toBe(2400);
    expect(
      new Set(
        recs
          .filter((r) => r['eni-id'] === 'eni-quiet' && r['log-status'] === 'OK' && quietUdp(r))
          .map((r) => r.srcport),
      ).size,
    ).toBe(100);
    expect(sum('eni-quiet', 'SKIPDATA')).toBe(0);
    // The flooded ENI: what its share held, the rest SKIPDATA; together what was sent.
    const flood = (r: Record<string, string>) => r.srcaddr.startsWith('198.51.');
    expect(sum('eni-flooded', 'SKIPDATA')).toBeGreaterThan(0);
    expect(sum('eni-flooded', 'OK', flood) + sum('eni-flooded', 'SKIPDATA')).toBe(FLOOD);
  }, 120_000);
});
