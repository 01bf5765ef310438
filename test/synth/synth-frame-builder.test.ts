import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIpv4, parseIpv6, parseMac } from '../../src/synth/address-codec';
import {
  FrameBuilder,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  newFrameSpec,
} from '../../src/synth/frame-builder';
import { openCaptureWriter } from '../../src/synth/pcap-writer';
import { tempDirForFile } from '../helpers/temp-dir';
import { tsharkFields, tsharkProblemFrames } from '../helpers/tshark-fields';

const dir = tempDirForFile('synth-frames');

interface Case {
  name: string;
  family: 4 | 6;
  protocol: number;
  payload: number;
  vlans: number[];
  pad: boolean;
  snap?: number;
  /** Predicted by hand: 14 (Ethernet) + 4 per tag + IP header + transport header + payload (+ padding). */
  wire: number;
  l3: number;
}

const CASES: Case[] = [
  {
    name: 'v4 TCP SYN, padded to 60',
    family: 4,
    protocol: PROTO_TCP,
    payload: 0,
    vlans: [],
    pad: true,
    wire: 60,
    l3: 40,
  },
  { name: 'v4 TCP SYN, unpadded', family: 4, protocol: PROTO_TCP, payload: 0, vlans: [], pad: false, wire: 54, l3: 40 },
  {
    name: 'v4 TCP odd payload',
    family: 4,
    protocol: PROTO_TCP,
    payload: 1001,
    vlans: [],
    pad: false,
    wire: 1055,
    l3: 1041,
  },
  {
    name: 'v4 UDP in VLAN 100',
    family: 4,
    protocol: PROTO_UDP,
    payload: 33,
    vlans: [100],
    pad: false,
    wire: 79,
    l3: 61,
  },
  { name: 'v4 ICMP echo', family: 4, protocol: PROTO_ICMP, payload: 56, vlans: [], pad: false, wire: 98, l3: 84 },
  {
    name: 'v4 ICMP odd payload',
    family: 4,
    protocol: PROTO_ICMP,
    payload: 57,
    vlans: [],
    pad: false,
    wire: 99,
    l3: 85,
  },
  {
    name: 'v6 TCP full segment, QinQ',
    family: 6,
    protocol: PROTO_TCP,
    payload: 1440,
    vlans: [100, 200],
    pad: false,
    wire: 1522,
    l3: 1500,
  },
  { name: 'v6 UDP empty', family: 6, protocol: PROTO_UDP, payload: 0, vlans: [], pad: true, wire: 62, l3: 48 },
  { name: 'v6 UDP odd', family: 6, protocol: PROTO_UDP, payload: 1451, vlans: [7], pad: false, wire: 1517, l3: 1499 },
  {
    name: 'v6 ICMPv6 echo odd',
    family: 6,
    protocol: PROTO_ICMPV6,
    payload: 7,
    vlans: [],
    pad: false,
    wire: 69,
    l3: 55,
  },
  {
    name: 'v4 UDP cut to 64 bytes',
    family: 4,
    protocol: PROTO_UDP,
    payload: 500,
    vlans: [],
    pad: false,
    snap: 64,
    wire: 542,
    l3: 528,
  },
  {
    name: 'v6 TCP cut inside the header',
    family: 6,
    protocol: PROTO_TCP,
    payload: 100,
    vlans: [],
    pad: false,
    snap: 40,
    wire: 174,
    l3: 160,
  },
];

const FIELDS = [
  'frame.len',
  'frame.cap_len',
  'vlan.id',
  'ip.len',
  'ip.proto',
  'ipv6.plen',
  'ipv6.nxt',
  'ip.src',
  'ipv6.src',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags',
  'tcp.len',
  'udp.srcport',
  'udp.dstport',
  'udp.length',
  'icmp.type',
  'icmpv6.type',
  'ip.checksum.status',
  'tcp.checksum.status',
  'udp.checksum.status',
  'icmp.checksum.status',
  'icmpv6.checksum.status',
] as const;

describe('FrameBuilder', () => {
  const builder = new FrameBuilder();
  const path = join(dir, 'frames.pcap');
  const built: Array<{ wireLen: number; capLen: number; l3Bytes: number }> = [];
  const w = openCaptureWriter(path);
  for (const [i, c] of CASES.entries()) {
    const spec = newFrameSpec();
    spec.srcMac = parseMac('00:16:3e:00:00:05');
    spec.dstMac = parseMac('ee:ff:ff:ff:ff:ff');
    spec.vlanIds = c.vlans;
    spec.family = c.family;
    spec.srcIp = c.family === 4 ? parseIpv4('10.0.0.5') : parseIpv6('fd00::a00:5');
    spec.dstIp = c.family === 4 ? parseIpv4('198.18.0.1') : parseIpv6('2001:db8::1');
    spec.protocol = c.protocol;
    spec.srcPort = 40000 + i;
    spec.dstPort = 443;
    spec.tcpFlags = c.payload === 0 ? 0x02 : 0x18;
    spec.tcpSeq = 0xfffffff0; // near the wrap: written as an unsigned 32-bit value
    spec.icmpType = c.protocol === PROTO_ICMP ? 8 : 128;
    spec.payloadBytes = c.payload;
    spec.padToEthernetMinimum = c.pad;
    const r = builder.build(spec, c.snap);
    built.push({ ...r });
    w.writePacket(1_700_000_000, i * 1000, builder.frame, r.capLen, r.wireLen);
  }
  w.close();
  const rows = tsharkFields(path, FIELDS);

  it('reports the lengths predicted by header arithmetic', () => {
    expect(built).toEqual(
      CASES.map((c) => ({ wireLen: c.wire, capLen: Math.min(c.wire, c.snap ?? Infinity), l3Bytes: c.l3 })),
    );
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s: tshark sees the intended headers', (_name, c, i) => {
    const r = rows[i];
    expect(r['frame.len']).toBe(String(c.wire));
    expect(r['frame.cap_len']).toBe(String(Math.min(c.wire, c.snap ?? Infinity)));
    expect(r['vlan.id']).toBe(c.vlans.join(','));
    if (c.family === 4) {
      expect([r['ip.len'], r['ip.proto'], r['ip.src']]).toEqual([String(c.l3), String(c.protocol), '10.0.0.5']);
    } else {
      expect([r['ipv6.plen'], r['ipv6.nxt'], r['ipv6.src']]).toEqual([
        String(c.l3 - 40),
        String(c.protocol),
        'fd00::a00:5',
      ]);
    }
    if (c.snap !== undefined && c.snap < c.wire) return; // cut frames: checked below
    expect(r['ip.checksum.status']).toBe(c.family === 4 ? '1' : '');
    if (c.protocol === PROTO_TCP) {
      expect([r['tcp.srcport'], r['tcp.dstport'], r['tcp.len'], r['tcp.checksum.status']]).toEqual([
        String(40000 + i),
        '443',
        String(c.payload),
        '1',
      ]);
      expect(Number(r['tcp.flags'])).toBe(c.payload === 0 ? 0x02 : 0x18);
    } else if (c.protocol === PROTO_UDP) {
      expect([r['udp.srcport'], r['udp.dstport'], r['udp.length'], r['udp.checksum.status']]).toEqual([
        String(40000 + i),
        '443',
        String(8 + c.payload),
        '1',
      ]);
    } else if (c.protocol === PROTO_ICMP) {
      expect([r['icmp.type'], r['icmp.checksum.status']]).toEqual(['8', '1']);
    } else {
      expect([r['icmpv6.type'], r['icmpv6.checksum.status']]).toEqual(['128', '1']);
    }
  });

  it('cut frames keep full IP lengths; the transport checksum cannot be verified', () => {
    const cutUdp = rows[CASES.findIndex((c) => c.name === 'v4 UDP cut to 64 bytes')];
    expect([cutUdp['ip.checksum.status'], cutUdp['udp.checksum.status'], cutUdp['udp.length']]).toEqual([
      '1',
      '2',
      '508',
    ]);
  });

  it('no frame is malformed or carries a warning other than the intended truncation', () => {
    const problems = tsharkProblemFrames(path);
    const cutFrames = CASES.flatMap((c, i) => (c.snap !== undefined ? [String(i + 1)] : []));
    expect(problems.filter((p) => !cutFrames.includes(p.split(':')[0]))).toEqual([]);
  });

  it('refuses impossible packets', () => {
    const spec = newFrameSpec();
    spec.payloadBytes = 65535 - 40 + 1;
    expect(() => builder.build(spec)).toThrow(RangeError);
    spec.payloadBytes = 0;
    spec.vlanIds = [4095];
    expect(() => builder.build(spec)).toThrow('VLAN id 4095');
    spec.vlanIds = [];
    spec.protocol = 132;
    expect(() => builder.build(spec)).toThrow('protocol 132');
  });
});
