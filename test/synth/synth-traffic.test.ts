import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectedFlowTotals, flowTotalKey } from '../../src/synth/expected-totals';
import { planTraffic, type SynthPacket, type TrafficOptions } from '../../src/synth/traffic';
import { tempDirForFile } from '../helpers/temp-dir';
import { tsharkFields, tsharkProblemFrames } from '../helpers/tshark-fields';

const dir = tempDirForFile('synth-traffic');

const OPTIONS: TrafficOptions = {
  packets: 600,
  flows: 40,
  seed: 7,
  // Not minute-aligned, 150 s long: windows of 60 s starting 1699999980, ...040, ...100, ...160.
  startSec: 1_700_000_030,
  durationSec: 150,
  ipv6Share: 0.25,
  enis: [
    { ip: '10.0.0.5', mac: '00:16:3e:00:00:05' },
    { ip: '10.0.1.7', mac: '00:16:3e:00:01:07', ipv6: '2408:4000::7' },
  ],
};
const ENI_MACS = ['00:16:3e:00:00:05', '00:16:3e:00:01:07'];
const ENI_ADDRS = new Map([
  ['10.0.0.5', 0],
  ['fd00::a00:5', 0],
  ['10.0.1.7', 1],
  ['2408:4000::7', 1],
]);

describe('traffic plan', () => {
  const plan = planTraffic(OPTIONS);

  it('splits packets and families exactly as asked', () => {
    expect(plan.flows).toHaveLength(40);
    expect(plan.flows.reduce((s, f) => s + f.packets, 0)).toBe(600);
    expect(plan.flows.every((f) => f.packets >= 1)).toBe(true);
    expect(plan.flows.filter((f) => f.family === 6)).toHaveLength(10); // round(40 * 0.25)
    expect(plan.flows.map((f) => f.eniIndex)).toEqual(plan.flows.map((_, i) => i % 2));
    for (const f of plan.flows) {
      expect(ENI_ADDRS.get(f.eniAddr)).toBe(f.eniIndex);
      expect(f.family === 4 ? f.eniAddr.includes('.') : f.eniAddr.includes(':')).toBe(true);
      if (f.protocol === 1 || f.protocol === 58) expect([f.eniPort, f.remotePort]).toEqual([0, 0]);
    }
  });

  it('gives every flow a distinct 5-tuple', () => {
    const keys = new Set(
      plan.flows.map((f) => `${f.eniAddr} ${f.eniPort} ${f.remoteAddr} ${f.remotePort} ${f.protocol}`),
    );
    expect(keys.size).toBe(40);
    // Also for a plan large enough to wrap the 2^17 remote hosts several times.
    const big = planTraffic({ ...OPTIONS, packets: 140_000, flows: 140_000, ipv6Share: 0.1 });
    const bigKeys = new Set(
      big.flows.map((f) => `${f.eniAddr} ${f.eniPort} ${f.remoteAddr} ${f.remotePort} ${f.protocol}`),
    );
    expect(bigKeys.size).toBe(140_000);
  });

  it('is deterministic per seed', () => {
    const a = planTraffic(OPTIONS).writeCapture(join(dir, 'a.pcap'));
    const b = planTraffic(OPTIONS).writeCapture(join(dir, 'b.pcap'));
    planTraffic({ ...OPTIONS, seed: 8 }).writeCapture(join(dir, 'c.pcap'));
    expect(a).toEqual({ ...b, path: a.path });
    expect(readFileSync(join(dir, 'a.pcap')).equals(readFileSync(join(dir, 'b.pcap')))).toBe(true);
    expect(readFileSync(join(dir, 'a.pcap')).equals(readFileSync(join(dir, 'c.pcap')))).toBe(false);
  });

  it('sorts by time even when (time, index) does not fit a double', () => {
    // 10^8 s of microseconds (2^46.5) times 2^9 packet slots exceeds 2^53: the comparator path.
    const long = planTraffic({ ...OPTIONS, durationSec: 100_000_000, packets: 300, flows: 30 });
    let prev = -1;
    long.forEachPacket((p) => {
      const t = p.tsSec * 1e9 + p.tsNsec;
      expect(t).toBeGreaterThanOrEqual(prev);
      prev = t;
    });
  });

  it('validates its options', () => {
    expect(() => planTraffic({ ...OPTIONS, flows: 601 })).toThrow('flows 601 exceed packets 600');
    expect(() => planTraffic({ ...OPTIONS, ipv6Share: 1.5 })).toThrow('ipv6Share 1.5');
    expect(() => planTraffic({ ...OPTIONS, enis: [] })).toThrow('no ENI');
    expect(() => planTraffic({ ...OPTIONS, startSec: 1.5 })).toThrow('start 1.5');
    expect(() => planTraffic({ ...OPTIONS, vlanIds: [4095] })).toThrow('VLAN id 4095');
    expect(() => planTraffic({ ...OPTIONS, enis: [{ ip: '10.0.0.256', mac: '00:16:3e:00:00:05' }] })).toThrow(
      'IPv4 address',
    );
  });
});

describe('generated capture read back by tshark', () => {
  const plan = planTraffic(OPTIONS);
  const path = join(dir, 'mix.pcap');
  const summary = plan.writeCapture(path, { tsResolution: 'ns' });
  const intended: Array<
    Omit<SynthPacket, 'frame' | 'flow'> & { src: string; dst: string; protocol: number; eniIndex: number }
  > = [];
  plan.forEachPacket((p) => {
    const { frame: _frame, flow, ...rest } = p;
    intended.push({
      ...rest,
      src: p.outbound ? flow.eniAddr : flow.remoteAddr,
      dst: p.outbound ? flow.remoteAddr : flow.eniAddr,
      protocol: flow.protocol,
      eniIndex: flow.eniIndex,
    });
  });
  const rows = tsharkFields(path, [
    'frame.time_epoch',
    'frame.len',
    'eth.src',
    'eth.dst',
    'ip.src',
    'ip.dst',
    'ip.proto',
    'ip.len',
    'ipv6.src',
    'ipv6.dst',
    'ipv6.nxt',
    'ipv6.plen',
    'tcp.srcport',
    'tcp.dstport',
    'tcp.flags',
    'udp.srcport',
    'udp.dstport',
  ]);
  const ts = (r: Record<string, string>): number => Number(r['frame.time_epoch']);

  it('has every packet, in time order, inside the asked span', () => {
    expect(rows).toHaveLength(600);
    expect(summary.packets).toBe(600);
    for (let i = 1; i < rows.length; i++) expect(ts(rows[i])).toBeGreaterThanOrEqual(ts(rows[i - 1]));
    expect(ts(rows[0])).toBeGreaterThanOrEqual(1_700_000_030);
    expect(ts(rows[599])).toBeLessThan(1_700_000_030 + 150);
  });

  it('matches the intended headers packet by packet', () => {
    const seen = rows.map((r) => {
      const v4 = r['ip.src'] !== '';
      const sport = r['tcp.srcport'] || r['udp.srcport'] || '0';
      const dport = r['tcp.dstport'] || r['udp.dstport'] || '0';
      return {
        time: r['frame.time_epoch'],
        src: v4 ? r['ip.src'] : r['ipv6.src'],
        dst: v4 ? r['ip.dst'] : r['ipv6.dst'],
        protocol: Number(v4 ? r['ip.proto'] : r['ipv6.nxt']),
        l3: v4 ? Number(r['ip.len']) : 40 + Number(r['ipv6.plen']),
        ports: [Number(sport), Number(dport)],
        tcpFlags: r['tcp.flags'] === '' ? 0 : Number(r['tcp.flags']),
        eth: [r['eth.src'], r['eth.dst']],
        wire: Number(r['frame.len']),
      };
    });
    expect(seen).toEqual(
      intended.map((p) => ({
        time: `${p.tsSec}.${String(p.tsNsec).padStart(9, '0')}`,
        src: p.src,
        dst: p.dst,
        protocol: p.protocol,
        l3: p.l3Bytes,
        ports: [p.srcPort, p.dstPort],
        tcpFlags: p.tcpFlags,
        eth: p.outbound ? [ENI_MACS[p.eniIndex], 'ee:ff:ff:ff:ff:ff'] : ['ee:ff:ff:ff:ff:ff', ENI_MACS[p.eniIndex]],
        // 14 bytes of Ethernet; frames delivered to the ENI are padded to 60.
        wire: p.outbound ? 14 + p.l3Bytes : Math.max(60, 14 + p.l3Bytes),
      })),
    );
  });

  it('dissects cleanly: valid checksums, nothing malformed', () => {
    expect(tsharkProblemFrames(path)).toEqual([]);
  });

  it('expected totals agree with what tshark counts per direction, 5-tuple and window', () => {
    const counted = new Map<string, { packets: number; bytes: number }>();
    for (const r of rows) {
      const v4 = r['ip.src'] !== '';
      const src = v4 ? r['ip.src'] : r['ipv6.src'];
      const sec = Math.floor(ts(r));
      const key = flowTotalKey({
        direction: ENI_ADDRS.has(src) ? 'out' : 'in',
        srcaddr: src,
        srcport: r['tcp.srcport'] || r['udp.srcport'] || '0',
        dstaddr: v4 ? r['ip.dst'] : r['ipv6.dst'],
        dstport: r['tcp.dstport'] || r['udp.dstport'] || '0',
        protocol: v4 ? r['ip.proto'] : r['ipv6.nxt'],
        windowStartSec: sec - (sec % 60),
      });
      const c = counted.get(key) ?? { packets: 0, bytes: 0 };
      c.packets++;
      c.bytes += v4 ? Number(r['ip.len']) : 40 + Number(r['ipv6.plen']);
      counted.set(key, c);
    }
    const totals = expectedFlowTotals(plan, 60);
    expect(new Map(totals.map((t) => [flowTotalKey(t), { packets: t.packets, bytes: t.bytes }]))).toEqual(counted);
    expect(new Set(totals.map((t) => t.windowStartSec))).toEqual(
      new Set([1_699_999_980, 1_700_000_040, 1_700_000_100, 1_700_000_160]),
    );
    expect(totals.reduce((s, t) => s + t.packets, 0)).toBe(600);
    expect(totals.reduce((s, t) => s + t.bytes, 0)).toBe(summary.l3Bytes);
    // Every flow of two or more packets shows both directions.
    for (const f of plan.flows.filter((x) => x.packets >= 2)) {
      const dirs = new Set(
        totals
          .filter((t) => t.srcaddr === f.eniAddr || t.dstaddr === f.eniAddr)
          .filter((t) => (t.direction === 'out' ? t.dstaddr : t.srcaddr) === f.remoteAddr && t.protocol === f.protocol)
          .map((t) => t.direction),
      );
      expect(dirs).toEqual(new Set(['in', 'out']));
    }
  });

  it('puts every frame in the asked VLANs', () => {
    const tagged = join(dir, 'vlan.pcapng');
    planTraffic({ ...OPTIONS, packets: 50, flows: 5, vlanIds: [42, 7] }).writeCapture(tagged, { format: 'pcapng' });
    const tags = tsharkFields(tagged, ['vlan.id']).map((r) => r['vlan.id']);
    expect(tags).toEqual(new Array(50).fill('42,7'));
  });
});
