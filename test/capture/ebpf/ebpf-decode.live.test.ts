/**
 * What the TC program makes of each kind of frame, table-driven: every case is frames built here
 * byte by byte (offsets commented) and the flow or loss arithmetic predicts for them. The frames
 * are replayed twice with tcpreplay: out of the host end of a veth (its TC egress sees them as
 * written: in-band VLAN tags) and into it from the VM end (its TC ingress: the receive path moves
 * the outer VLAN tag into skb->vlan_tci first). Both must give the same flows and losses.
 * The same capture also goes through `flowlog-agent replay`, which must agree on every flow the
 * program records (the differential: one decoder in C, one in TypeScript).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOSS_REASONS, LossReason, STAT_NAMES, Stat } from '../../../src/capture/ebpf/drain-layout';
import { EbpfFlowEngine } from '../../../src/capture/ebpf/ebpf-engine';
import { openCaptureWriter } from '../../../src/synth/pcap-writer';
import {
  FlowSums,
  addressBytes,
  ebpfCanRun,
  flowRows,
  ifindexOf,
  keyOf,
  lossOf,
  macBytes,
} from '../../helpers/ebpf-lab';
import { NetnsLab } from '../../helpers/netns';
import { replayToRecords, writeConfig } from '../../helpers/replay-run';
import { tempDirForFile } from '../../helpers/temp-dir';

const canRun = ebpfCanRun();
const SLOT = 2;
const ENI_MAC = '02:00:5e:00:00:01';
const PEER_MAC = '02:00:5e:00:00:02';
const OTHER_MAC = '02:00:5e:00:00:03';
const ENI_V4 = '10.55.0.9'; // named by address only (frames whose MACs are no ENI's)

function mac(m: string): number[] {
  return [...macBytes(m)];
}
function v4(a: string): number[] {
  return a.split('.').map(Number);
}
function v6(a: string): number[] {
  return [...addressBytes(a).bytes];
}
function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

/** Ethernet: 0 destination, 6 source, 12 ethertype (after any tags: [tpid, vid] pairs). */
function eth(src: string, dst: string, tags: Array<[number, number]>, type: number, body: number[]): Buffer {
  return Buffer.from([
    ...mac(dst),
    ...mac(src),
    ...tags.flatMap(([tpid, vid]) => [...u16(tpid), ...u16(vid)]),
    ...u16(type),
    ...body,
  ]);
}
/** IPv4: 0 version/IHL, 2 total length, 4 id, 6 flags/offset, 9 protocol, 12 source, 16 destination, 20 options. */
function ipv4(o: {
  src: string;
  dst: string;
  proto: number;
  body: number[];
  id?: number;
  frag?: number;
  options?: number[];
  totalLength?: number;
  ihl?: number;
}): number[] {
  const opts = o.options ?? [];
  const ihl = o.ihl ?? 5 + opts.length / 4;
  const total = o.totalLength ?? 20 + opts.length + o.body.length;
  // prettier-ignore
  return [0x40 | ihl, 0, ...u16(total), ...u16(o.id ?? 1), ...u16(o.frag ?? 0), 64, o.proto, 0, 0, ...v4(o.src), ...v4(o.dst), ...opts, ...o.body];
}
/** IPv6: 4 payload length, 6 next header, 8 source, 24 destination, then extension headers. */
function ipv6(o: { src: string; dst: string; next: number; body: number[] }): number[] {
  return [0x60, 0, 0, 0, ...u16(o.body.length), o.next, 64, ...v6(o.src), ...v6(o.dst), ...o.body];
}
/** An 8-byte-unit extension header (hop-by-hop 0, routing 43, destination options 60): 0 next, 1 length. */
function ext(next: number, units: number): number[] {
  const bytes = new Array<number>((units + 1) * 8).fill(0);
  bytes[0] = next;
  bytes[1] = units;
  if (bytes.length > 2) bytes[2] = 1; // PadN
  if (bytes.length > 3) bytes[3] = bytes.length - 4;
  return bytes;
}
function udp(sport: number, dport: number, payload: number): number[] {
  return [...u16(sport), ...u16(dport), ...u16(8 + payload), 0, 0, ...new Array<number>(payload).fill(0x61)];
}
/** TCP: 12 data offset, 13 flags. */
function tcp(sport: number, dport: number, flags: number, payload: number): number[] {
  // prettier-ignore
  return [...u16(sport), ...u16(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0, ...new Array<number>(payload).fill(0x62)];
}

interface Expected {
  flows: Array<{
    out: boolean;
    proto: number;
    src: string;
    sport: number;
    dst: string;
    dport: number;
    packets: number;
    bytes: number;
    tcpFlags?: number;
  }>;
  /** bytes: those after the link headers the program read. */
  loss: Array<{ reason: number; packets: number; bytes: number }>;
}
interface Case {
  name: string;
  frames: Buffer[];
  expect: Expected;
  /** What the ingress hook sees when it differs (the receive path moved the outer VLAN tag into skb->vlan_tci). */
  ingress?: Expected;
  /** The TypeScript decoder reads it too (for the replay differential). */
  replayAgrees?: boolean;
}

const A = '192.0.2.1';
const B = '198.51.100.7';
const A6 = '2001:db8::1';
const B6 = '2001:db8::7';

function flow(
  out: boolean,
  proto: number,
  src: string,
  sport: number,
  dst: string,
  dport: number,
  packets: number,
  bytes: number,
  tcpFlags = 0,
): Expected {
  return { flows: [{ out, proto, src, sport, dst, dport, packets, bytes, tcpFlags }], loss: [] };
}
function loss(reason: number, bytes: number): Expected {
  return { flows: [], loss: [{ reason, packets: 1, bytes }] };
}

const bigUdp = udp(3001, 4001, 1472); // 1480 bytes: a first fragment's worth
const CASES: Case[] = [
  {
    name: 'IPv4 UDP out',
    frames: [eth(ENI_MAC, PEER_MAC, [], 0x0800, ipv4({ src: A, dst: B, proto: 17, body: udp(1001, 2001, 100) }))],
    expect: flow(true, 17, A, 1001, B, 2001, 1, 128),
  },
  {
    name: 'IPv4 UDP in',
    frames: [eth(PEER_MAC, ENI_MAC, [], 0x0800, ipv4({ src: B, dst: A, proto: 17, body: udp(2002, 1002, 10) }))],
    expect: flow(false, 17, B, 2002, A, 1002, 1, 38),
  },
  {
    name: 'IPv4 options (IHL 8) before TCP',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({
          src: A,
          dst: B,
          proto: 6,
          options: [1, 1, 1, 1, 7, 7, 4, 0, 0, 0, 0, 0],
          body: tcp(1003, 2003, 0x18, 50),
        }),
      ),
    ],
    expect: flow(true, 6, A, 1003, B, 2003, 1, 32 + 20 + 50, 0x18),
  },
  {
    name: 'ICMP echo: no ports',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({ src: A, dst: '203.0.113.1', proto: 1, body: [8, 0, 0, 0, 0, 1, 0, 1] }),
      ),
    ],
    expect: flow(true, 1, A, 0, '203.0.113.1', 0, 1, 28),
  },
  {
    name: 'GRE: no ports',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({ src: A, dst: '203.0.113.2', proto: 47, body: [0, 0, 8, 0, 1, 2, 3, 4] }),
      ),
    ],
    expect: flow(true, 47, A, 0, '203.0.113.2', 0, 1, 28),
  },
  {
    name: 'SCTP ports',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({ src: A, dst: B, proto: 132, body: [...u16(1004), ...u16(2004), 0, 0, 0, 0, 0, 0, 0, 0] }),
      ),
    ],
    expect: flow(true, 132, A, 1004, B, 2004, 1, 32),
  },
  {
    name: '802.1Q tag',
    frames: [
      eth(ENI_MAC, PEER_MAC, [[0x8100, 100]], 0x0800, ipv4({ src: A, dst: B, proto: 17, body: udp(1005, 2005, 20) })),
    ],
    expect: flow(true, 17, A, 1005, B, 2005, 1, 48),
  },
  {
    name: '802.1ad + 802.1Q tags',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [
          [0x88a8, 200],
          [0x8100, 100],
        ],
        0x0800,
        ipv4({ src: A, dst: B, proto: 17, body: udp(1006, 2006, 20) }),
      ),
    ],
    expect: flow(true, 17, A, 1006, B, 2006, 1, 48),
  },
  {
    name: 'three tags: unsupported',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [
          [0x88a8, 300],
          [0x8100, 200],
          [0x8100, 100],
        ],
        0x0800,
        ipv4({ src: A, dst: B, proto: 17, body: udp(1007, 2007, 20) }),
      ),
    ],
    expect: loss(LossReason.Unsupported, 52), // 74-byte frame, 2 tags read, the third not
    ingress: flow(true, 17, A, 1007, B, 2007, 1, 48), // the outer tag in vlan_tci, two in the bytes: all read
    replayAgrees: false,
  },
  {
    name: 'MPLS: unsupported',
    frames: [
      eth(ENI_MAC, PEER_MAC, [], 0x8847, [
        0,
        0x01,
        0x01,
        0x40,
        ...ipv4({ src: A, dst: B, proto: 17, body: udp(1008, 2008, 20) }),
      ]),
    ],
    expect: loss(LossReason.Unsupported, 52),
    replayAgrees: false,
  },
  {
    name: 'ARP: not IP',
    frames: [
      eth(ENI_MAC, 'ff:ff:ff:ff:ff:ff', [], 0x0806, [
        0,
        1,
        8,
        0,
        6,
        4,
        0,
        1,
        ...mac(ENI_MAC),
        ...v4(A),
        0,
        0,
        0,
        0,
        0,
        0,
        ...v4('192.0.2.250'),
      ]),
    ],
    expect: loss(LossReason.NotIp, 28),
  },
  {
    name: 'IPv4 IHL 4: malformed',
    frames: [eth(ENI_MAC, PEER_MAC, [], 0x0800, ipv4({ src: A, dst: B, proto: 17, ihl: 4, body: udp(1009, 2009, 4) }))],
    expect: loss(LossReason.Malformed, 32),
  },
  {
    name: 'IPv4 cut inside its header: malformed',
    frames: [eth(ENI_MAC, PEER_MAC, [], 0x0800, ipv4({ src: A, dst: B, proto: 17, body: [] }).slice(0, 12))],
    expect: loss(LossReason.Malformed, 12),
  },
  {
    name: 'IPv4 total length 0 (TSO before the stack filled it): the frame says',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({ src: A, dst: B, proto: 17, totalLength: 0, body: udp(1010, 2010, 30) }),
      ),
    ],
    expect: flow(true, 17, A, 1010, B, 2010, 1, 58),
  },
  {
    name: 'IPv4 fragments joined by id',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({ src: A, dst: B, proto: 17, id: 0x4242, frag: 0x2000, body: bigUdp.slice(0, 1480) }),
      ),
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({ src: A, dst: B, proto: 17, id: 0x4242, frag: 185, body: new Array<number>(300).fill(0x61) }),
      ),
    ],
    expect: flow(true, 17, A, 3001, B, 4001, 2, 1500 + 320),
  },
  {
    name: 'IPv4 later fragment without its first: ports 0',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x0800,
        ipv4({ src: A, dst: '203.0.113.3', proto: 17, id: 0x5151, frag: 100, body: new Array<number>(40).fill(0) }),
      ),
    ],
    expect: flow(true, 17, A, 0, '203.0.113.3', 0, 1, 60),
  },
  {
    name: 'IPv6 hop-by-hop + destination options + routing before UDP',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x86dd,
        ipv6({
          src: A6,
          dst: B6,
          next: 0,
          body: [...ext(60, 0), ...ext(43, 1), ...ext(17, 0), ...udp(1011, 2011, 16)],
        }),
      ),
    ],
    expect: flow(true, 17, A6, 1011, B6, 2011, 1, 40 + 8 + 16 + 8 + 24),
  },
  {
    name: 'IPv6 AH before TCP',
    frames: [
      eth(
        PEER_MAC,
        ENI_MAC,
        [],
        0x86dd,
        ipv6({
          src: B6,
          dst: A6,
          next: 51,
          body: [6, 4, 0, 0, ...new Array<number>(20).fill(0), ...tcp(2012, 1012, 0x02, 0)],
        }),
      ),
    ],
    expect: flow(false, 6, B6, 2012, A6, 1012, 1, 40 + 24 + 20, 0x02),
  },
  {
    name: 'IPv6 ESP: no ports',
    frames: [
      eth(ENI_MAC, PEER_MAC, [], 0x86dd, ipv6({ src: A6, dst: B6, next: 50, body: new Array<number>(24).fill(1) })),
    ],
    expect: flow(true, 50, A6, 0, B6, 0, 1, 64),
  },
  {
    name: 'IPv6 five extension headers: unsupported',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x86dd,
        ipv6({
          src: A6,
          dst: B6,
          next: 0,
          body: [...ext(60, 0), ...ext(60, 0), ...ext(60, 0), ...ext(60, 0), ...ext(17, 0), ...udp(1013, 2013, 4)],
        }),
      ),
    ],
    expect: loss(LossReason.Unsupported, 40 + 40 + 12),
    replayAgrees: false,
  },
  {
    name: 'IPv6 fragments joined by id',
    frames: [
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x86dd,
        ipv6({
          src: A6,
          dst: B6,
          next: 44,
          body: [17, 0, 0, 1, 0, 0, 0x77, 0x77, ...udp(3002, 4002, 1000).slice(0, 1008)],
        }),
      ),
      eth(
        ENI_MAC,
        PEER_MAC,
        [],
        0x86dd,
        ipv6({
          src: A6,
          dst: B6,
          next: 44,
          body: [17, 0, ...u16(126 << 3), 0, 0, 0x77, 0x77, ...new Array<number>(200).fill(0)],
        }),
      ),
    ],
    expect: flow(true, 17, A6, 3002, B6, 4002, 2, 40 + 8 + 1008 + 40 + 8 + 200),
  },
  {
    name: 'no ENI MAC, ENI address: by address',
    frames: [eth(OTHER_MAC, PEER_MAC, [], 0x0800, ipv4({ src: ENI_V4, dst: B, proto: 17, body: udp(1014, 2014, 0) }))],
    expect: flow(true, 17, ENI_V4, 1014, B, 2014, 1, 28),
  },
  {
    name: 'neither MAC nor address: unattributed',
    frames: [
      eth(OTHER_MAC, PEER_MAC, [], 0x0800, ipv4({ src: B, dst: '203.0.113.9', proto: 17, body: udp(1015, 2015, 0) })),
    ],
    expect: loss(LossReason.Unattributed, 28),
  },
];

function expectedTotals(side: 'egress' | 'ingress'): {
  flows: Map<string, { packets: number; bytes: number; tcpFlags: number }>;
  loss: number[];
} {
  const flows = new Map<string, { packets: number; bytes: number; tcpFlags: number }>();
  const lossPackets = new Array<number>(LOSS_REASONS.length).fill(0);
  for (const c of CASES) {
    const e = side === 'ingress' && c.ingress ? c.ingress : c.expect;
    for (const f of e.flows) {
      const k = `${SLOT}|${f.out ? 'out' : 'in'}|${f.proto}|${f.src}|${f.sport}|${f.dst}|${f.dport}`;
      const have = flows.get(k) ?? { packets: 0, bytes: 0, tcpFlags: 0 };
      flows.set(k, {
        packets: have.packets + f.packets,
        bytes: have.bytes + f.bytes,
        tcpFlags: have.tcpFlags | (f.tcpFlags ?? 0),
      });
    }
    for (const l of e.loss) lossPackets[l.reason] += l.packets;
  }
  return { flows, loss: lossPackets };
}

describe.skipIf(!canRun)('eBPF program decoding, frame by frame', () => {
  const dir = tempDirForFile('ebpf-decode');
  const lab = new NetnsLab('fled');
  const host = 'fled0';
  const pcap = join(dir, 'cases.pcap');
  let vm = '';
  let engine: EbpfFlowEngine;
  const results: Record<
    'egress' | 'ingress',
    { sums: FlowSums; loss: number[]; lossBytes: number[]; stats: Float64Array }
  > = {} as never;

  beforeAll(async () => {
    vm = lab.namespace('vm');
    lab.uplink(vm, 'vm0', '10.79.1.2/24', host, '10.79.1.1/24');
    const w = openCaptureWriter(pcap);
    for (const c of CASES) for (const f of c.frames) w.writePacket(1_700_000_000, 0, f, f.length, f.length);
    w.close();
    engine = EbpfFlowEngine.open({ flowCapacity: 256, maxSlots: 4, maxDevices: 2 });
    engine.setSlot(SLOT, { flowQuota: 0, onSharedDevices: false });
    engine.setMac(macBytes(ENI_MAC), SLOT);
    const a = addressBytes(ENI_V4);
    engine.setAddress(a.family, a.bytes, 32, SLOT);
    await engine.attach(ifindexOf(host), { slot: SLOT, shared: false });
    const buf = engine.drainBuffers();
    for (const side of ['egress', 'ingress'] as const) {
      // nothing else may cross the device meanwhile: no IPv6 (NetnsLab), no ARP (no traffic)
      await engine.drain(buf);
      const s0 = new Float64Array(STAT_NAMES.length);
      engine.readCounters(s0);
      if (side === 'egress') execFileSync('tcpreplay', ['-q', '-i', host, pcap], { stdio: 'ignore' });
      else lab.exec(vm, 'tcpreplay', ['-q', '-i', 'vm0', pcap]);
      await new Promise((r) => setTimeout(r, 200));
      const res = await engine.drain(buf);
      const stats = new Float64Array(STAT_NAMES.length);
      engine.readCounters(stats);
      for (let i = 0; i < stats.length; i++) stats[i] -= s0[i];
      const sums = new FlowSums();
      sums.add(flowRows(buf, res.flows));
      results[side] = {
        sums,
        loss: LOSS_REASONS.map((_, r) => lossOf(buf, SLOT, r).packets),
        lossBytes: LOSS_REASONS.map((_, r) => lossOf(buf, SLOT, r).bytes),
        stats,
      };
    }
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    lab.remove();
  });

  for (const side of ['egress', 'ingress'] as const) {
    it(`records every case as predicted (${side})`, () => {
      const want = expectedTotals(side);
      const got = new Map<string, { packets: number; bytes: number; tcpFlags: number }>();
      for (const r of results[side].sums.rows.values())
        got.set(keyOf(r), { packets: r.packets, bytes: r.bytes, tcpFlags: r.tcpFlags });
      expect(got).toEqual(want.flows);
      const lossWithoutQuotaUse = results[side].loss.map((p, r) => (r === LossReason.QuotaUsed ? 0 : p));
      expect(lossWithoutQuotaUse).toEqual(want.loss);
      const wantLossBytes = new Array<number>(LOSS_REASONS.length).fill(0);
      for (const c of CASES)
        for (const l of (side === 'ingress' && c.ingress ? c.ingress : c.expect).loss)
          wantLossBytes[l.reason] += l.bytes;
      expect(results[side].lossBytes.map((b, r) => (r === LossReason.QuotaUsed ? 0 : b))).toEqual(wantLossBytes);
      expect(results[side].stats[Stat.PacketsSeen]).toBe(CASES.reduce((n, c) => n + c.frames.length, 0));
      expect(results[side].stats[Stat.FragmentsJoined]).toBe(2);
      expect(results[side].stats[Stat.FragmentsUnjoined]).toBe(1);
    });
  }

  it('agrees with `flowlog-agent replay` of the same frames on every flow both record', async () => {
    const config = writeConfig(
      dir,
      `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
  - { id: eni-dec, mac: "${ENI_MAC}", ips: ["${ENI_V4}"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
flowLogs:
  - { id: fl-dec, resourceType: eni, resourceId: eni-dec, aggregationInterval: 1, sink: { type: stdout } }
`,
    );
    const replay = await replayToRecords([pcap], config, dir);
    expect(replay.code).toBe(0);
    const theirs = new Map<string, { packets: number; bytes: number }>();
    for (const r of replay.records) {
      if (r['log-status'] !== 'OK') continue;
      const k = `${SLOT}|${r.direction}|${r.protocol}|${r.srcaddr}|${r.srcport}|${r.dstaddr}|${r.dstport}`;
      const have = theirs.get(k) ?? { packets: 0, bytes: 0 };
      theirs.set(k, { packets: have.packets + Number(r.packets), bytes: have.bytes + Number(r.bytes) });
    }
    const ours = new Map<string, { packets: number; bytes: number }>();
    for (const r of results.egress.sums.rows.values()) ours.set(keyOf(r), { packets: r.packets, bytes: r.bytes });
    // What the TypeScript decoder reads and the program does not (unsupported) is the only difference.
    const onlyReplay = CASES.filter((c) => c.replayAgrees === false).length;
    expect(theirs.size).toBe(ours.size + onlyReplay);
    for (const [k, v] of ours) expect({ k, ...theirs.get(k) }).toEqual({ k, ...v });
  });
});
