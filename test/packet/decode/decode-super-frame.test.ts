/**
 * Super-frames (GSO/GRO) counted as the segments the wire carried: annotated frames decoded as
 * the recorder decodes them, then segmented (SuperFrameSegmenter) by the kernel's virtio_net_hdr
 * (the capture's segmentation word) or derived from the MTU and a SYN's MSS. Each row gives the
 * segments and the L3 bytes of all of them, worked out by hand: segments = ceil(payload / size),
 * bytes = payload + segments x the headers each segment repeats. Bad input: a device without a
 * usable MTU, a super-frame whose headers the snaplen cut, a GSO header that disagrees with the
 * frame, a segment size of 1: counted under a named outcome, recorded as best known.
 */
import { describe, expect, it } from 'vitest';
import { SUPER_FRAME_OUTCOME_NAMES, SuperFrameSegmenter } from '../../../src/packet/decode/super-frame';
import { LinkType } from '../../../src/capture/link-types';
import { FrameFeeder } from '../../fixtures/decode/decode-case';

/** The capture addon's segmentation word: bit 31 (read), hdr_len / 2, gso_type, gso_size; as int32. */
const word = (gsoType: number, gsoSize: number, hdrLen = 0) =>
  0x80000000 | ((hdrLen >> 1) << 24) | (gsoType << 16) | gsoSize | 0;
const TCPV4 = 1;
const TCPV6 = 4;
const UDP_L4 = 5;

const hex2 = (n: number) => `${(n >> 8).toString(16).padStart(2, '0')} ${(n & 0xff).toString(16).padStart(2, '0')}`;
const ETH4 = `00 16 3e 00 00 05  ee ff ff ff ff ff  08 00   # Ethernet: to 00:16:3e:00:00:05, IPv4`;
const ETH6 = `00 16 3e 00 00 05  ee ff ff ff ff ff  86 dd   # Ethernet: IPv6`;
/** IPv4 header, 20 bytes, total length `len`, protocol `proto`, 10.0.0.1 -> 10.0.0.2. */
const ipv4 = (len: number, proto: number) => `
  45 00 ${hex2(len)}       # 0: version 4, IHL 5; 2: total length ${len}
  00 01 40 00              # 4: id; 6: DF
  40 ${proto.toString(16).padStart(2, '0')} 00 00   # 8: TTL; 9: protocol ${proto}
  0a 00 00 01  0a 00 00 02 # 12: 10.0.0.1; 16: 10.0.0.2`;
/** IPv6 header, payload length `payload`, next header TCP, 2001:db8::1 -> 2001:db8::2. */
const ipv6 = (payload: number) => `
  60 00 00 00              # 0: version 6
  ${hex2(payload)} 06 40   # 4: payload length ${payload}; 6: next header 6 (TCP)
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01   # 8: 2001:db8::1
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02   # 24: 2001:db8::2`;
/** TCP header of 32 bytes (timestamps), ports 40000 -> 5201, ACK|PSH. */
const TCP_TS = `
  9c 40 14 51              # 0: source port 40000; 2: destination port 5201
  00 00 00 01 00 00 00 01  # 4: sequence; 8: acknowledgment
  80 18 01 f6 00 00 00 00  # 12: data offset 8 (32 bytes); 13: ACK|PSH; window; checksum; urgent
  01 01 08 0a 00 00 00 01 00 00 00 02   # 20: NOP NOP, timestamps (kind 8, length 10)`;
const UDP = (len: number) => `9c 41 23 28 ${hex2(len)} 00 00   # UDP: 40001 -> 9000, length ${len}`;

interface Row {
  name: string;
  hex: string;
  link?: number;
  /** The capture's segmentation word (0: none, as in a capture file). */
  segmentation?: number;
  /** Device MTU (0: not usable). */
  mtu?: number;
  capLen?: number;
  wireLen?: number;
  /** Frames decoded before this one with the same segmenter (SYNs whose MSS it learns). */
  before?: string[];
  outcome: (typeof SUPER_FRAME_OUTCOME_NAMES)[number];
  segments: number;
  bytes: number;
}

const rows: Row[] = [
  {
    name: 'IPv4 TCP TSO, the kernel says TCPV4 of 1448: 45 segments of 1448',
    hex: `${ETH4} ${ipv4(52 + 45 * 1448, 6)} ${TCP_TS}`,
    segmentation: word(TCPV4, 1448, 66),
    outcome: 'kernel',
    segments: 45,
    bytes: 45 * 1448 + 45 * 52,
  },
  {
    name: 'the same frame in a capture file: derived from the MTU (1500 - 20 - 32 = 1448)',
    hex: `${ETH4} ${ipv4(52 + 45 * 1448, 6)} ${TCP_TS}`,
    outcome: 'derived',
    segments: 45,
    bytes: 45 * 1448 + 45 * 52,
  },
  {
    name: 'a last segment shorter than the rest, and the ECN flag in gso_type (0x81)',
    hex: `${ETH4} ${ipv4(52 + 10 * 1448 + 100, 6)} ${TCP_TS}`,
    segmentation: word(0x81, 1448),
    outcome: 'kernel',
    segments: 11,
    bytes: 10 * 1448 + 100 + 11 * 52,
  },
  {
    name: 'a GSO frame no larger than one segment: one packet as it is',
    hex: `${ETH4} ${ipv4(52 + 1000, 6)} ${TCP_TS}`,
    segmentation: word(TCPV4, 1448),
    outcome: 'kernel',
    segments: 1,
    bytes: 1052,
  },
  {
    name: 'IPv6 TCP, TCPV6 of 1428: headers 40 + 32 a segment',
    hex: `${ETH6} ${ipv6(32 + 30 * 1428)} ${TCP_TS}`,
    segmentation: word(TCPV6, 1428, 86),
    outcome: 'kernel',
    segments: 30,
    bytes: 30 * 1428 + 30 * 72,
  },
  {
    name: 'IPv6 TCP in a capture file: derived (1500 - 40 - 32 = 1428)',
    hex: `${ETH6} ${ipv6(32 + 30 * 1428)} ${TCP_TS}`,
    outcome: 'derived',
    segments: 30,
    bytes: 30 * 1428 + 30 * 72,
  },
  {
    name: 'UDP GSO (UDP_L4) of 1200: 10 datagrams, each with its UDP header',
    hex: `${ETH4} ${ipv4(28 + 12000, 17)} ${UDP(8 + 12000)}`,
    segmentation: word(UDP_L4, 1200, 42),
    outcome: 'kernel',
    segments: 10,
    bytes: 12000 + 10 * 28,
  },
  {
    name: 'UDP over the MTU in a capture file: derived (1500 - 28 = 1472)',
    hex: `${ETH4} ${ipv4(28 + 10 * 1472 + 8, 17)} ${UDP(8 + 10 * 1472 + 8)}`,
    outcome: 'derived',
    segments: 11,
    bytes: 10 * 1472 + 8 + 11 * 28,
  },
  {
    name: 'a device of MTU 9000: the same 64 KiB frame is 8 segments',
    hex: `${ETH4} ${ipv4(52 + 8 * 8000, 6)} ${TCP_TS}`,
    mtu: 9000,
    outcome: 'derived',
    segments: Math.ceil((8 * 8000) / (9000 - 52)),
    bytes: 8 * 8000 + Math.ceil((8 * 8000) / (9000 - 52)) * 52,
  },
  {
    name: 'the MSS of the SYN-ACK (1000, kind 2) bounds the other direction: 988 a segment',
    before: [
      `00 16 3e 00 00 05  ee ff ff ff ff ff  08 00
       45 00 00 30  00 02 40 00  40 06 00 00  0a 00 00 02  0a 00 00 01   # IPv4, 48 bytes, 10.0.0.2 -> 10.0.0.1
       14 51 9c 40  00 00 00 01  00 00 00 02                               # TCP 5201 -> 40000
       70 12 ff ff  00 00 00 00                                            # 12: data offset 7 (28); 13: SYN|ACK
       02 04 03 e8  01 01 04 02                                            # 20: MSS 1000; NOP NOP; SACK permitted`,
    ],
    hex: `${ETH4} ${ipv4(52 + 20 * 988, 6)} ${TCP_TS}`,
    outcome: 'derived',
    segments: 20,
    bytes: 20 * 988 + 20 * 52,
  },
  {
    name: 'a TSO frame whose IPv4 total length is 0: its length from the wire',
    hex: `${ETH4} ${ipv4(0, 6)} ${TCP_TS}`,
    wireLen: 14 + 52 + 40 * 1448,
    outcome: 'derived',
    segments: 40,
    bytes: 40 * 1448 + 40 * 52,
  },
  {
    name: 'a GRE tunnel (protocol 47) carrying TCPV4: hdr_len covers every header (14+20+4+20+32)',
    hex: `${ETH4} ${ipv4(76 + 40 * 1398, 47)}
      00 00 08 00                  # GRE: no flags, protocol IPv4
      45 00 00 00 00 00 40 00 40 06 00 00 0a 01 00 01 0a 01 00 02   # inner IPv4
      ${TCP_TS}`,
    segmentation: word(TCPV4, 1398, 90),
    outcome: 'kernel',
    segments: 40,
    bytes: 40 * 1398 + 40 * 76,
  },
  // ---- bad input ----
  {
    name: 'bad input: a device without a usable MTU, no kernel header: one packet',
    hex: `${ETH4} ${ipv4(52 + 45 * 1448, 6)} ${TCP_TS}`,
    mtu: 0,
    outcome: 'no_mtu',
    segments: 1,
    bytes: 52 + 45 * 1448,
  },
  {
    name: 'bad input: an MTU below 68 (no IPv4 packet fits): not usable, one packet',
    hex: `${ETH4} ${ipv4(52 + 3000, 6)} ${TCP_TS}`,
    mtu: 60,
    outcome: 'no_mtu',
    segments: 1,
    bytes: 3052,
  },
  {
    name: 'bad input: the TCP header cut by the snaplen (kernel says 1448): the shortest TCP header assumed',
    hex: `${ETH4} ${ipv4(52 + 45 * 1448, 6)} ${TCP_TS}`,
    capLen: 14 + 20 + 10,
    segmentation: word(TCPV4, 1448),
    outcome: 'headers_cut',
    segments: Math.ceil((32 + 45 * 1448 - 20) / 1448),
    bytes: 32 + 45 * 1448 - 20 + Math.ceil((32 + 45 * 1448 - 20) / 1448) * 40,
  },
  {
    name: 'bad input: the TCP header cut in a capture file: derived with the shortest TCP header',
    hex: `${ETH4} ${ipv4(52 + 45 * 1448, 6)} ${TCP_TS}`,
    capLen: 14 + 20 + 10,
    outcome: 'headers_cut',
    segments: Math.ceil((32 + 45 * 1448 - 20) / 1460),
    bytes: 32 + 45 * 1448 - 20 + Math.ceil((32 + 45 * 1448 - 20) / 1460) * 40,
  },
  {
    name: 'bad input: TCPV6 on an IPv4 frame (the header disagrees): derived from the MTU',
    hex: `${ETH4} ${ipv4(52 + 45 * 1448, 6)} ${TCP_TS}`,
    segmentation: word(TCPV6, 1000),
    outcome: 'gso_mismatch',
    segments: 45,
    bytes: 45 * 1448 + 45 * 52,
  },
  {
    name: 'bad input: UDP_L4 on a TCP frame, below the MTU: one packet',
    hex: `${ETH4} ${ipv4(52 + 1400, 6)} ${TCP_TS}`,
    segmentation: word(UDP_L4, 500),
    outcome: 'gso_mismatch',
    segments: 1,
    bytes: 1452,
  },
  {
    name: 'bad input: gso_size 0 with a GSO type',
    hex: `${ETH4} ${ipv4(52 + 45 * 1448, 6)} ${TCP_TS}`,
    segmentation: word(TCPV4, 0),
    outcome: 'gso_mismatch',
    segments: 45,
    bytes: 45 * 1448 + 45 * 52,
  },
  {
    name: 'bad input: a gso_type the recorder does not know (3, UFO), on a device of unknown MTU: one packet',
    hex: `${ETH4} ${ipv4(28 + 12000, 17)} ${UDP(8 + 12000)}`,
    segmentation: word(3, 1200),
    mtu: 0,
    outcome: 'gso_mismatch',
    segments: 1,
    bytes: 12028,
  },
  {
    name: 'bad input: a tunnel whose hdr_len is shorter than its outer headers',
    hex: `${ETH4} ${ipv4(76 + 40 * 1398, 47)} 00 00 08 00 45 00 00 00 00 00 40 00 40 06 00 00 0a 01 00 01 0a 01 00 02 ${TCP_TS}`,
    segmentation: word(TCPV4, 1398, 30),
    outcome: 'gso_mismatch',
    segments: 1,
    bytes: 76 + 40 * 1398,
  },
  {
    name: 'bad input: a segment size of 1 on a BIG TCP frame: at most 65,535 segments (GSO_MAX_SEGS)',
    hex: `${ETH4} ${ipv4(0, 6)} ${TCP_TS}`,
    wireLen: 14 + 200_000,
    segmentation: word(TCPV4, 1),
    outcome: 'kernel',
    segments: 65535,
    bytes: 200_000 - 52 + 65535 * 52,
  },
  {
    name: 'ICMP over the MTU: neither TCP nor UDP, one packet',
    hex: `${ETH4} ${ipv4(9000, 1)} 08 00 00 00 00 01 00 01   # ICMP echo request`,
    outcome: 'unsegmented',
    segments: 1,
    bytes: 9000,
  },
];

describe('super-frames counted as their segments (annotated frames)', () => {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, r) => {
    const feeder = new FrameFeeder();
    const segmenter = new SuperFrameSegmenter(64);
    const v = feeder.view;
    for (const syn of r.before ?? []) {
      v.segmentation = 0;
      expect(feeder.decodeHex(r.link ?? LinkType.Ethernet, syn)).toBe(0);
      segmenter.learnMss(v, feeder.buffer);
    }
    v.segmentation = r.segmentation ?? 0;
    expect(feeder.decodeHex(r.link ?? LinkType.Ethernet, r.hex, { capLen: r.capLen, wireLen: r.wireLen })).toBe(0);
    const l3 = v.l3Bytes;
    segmenter.segment(v, feeder.buffer, r.mtu ?? 1500, v.l3Offset);
    expect({
      outcome: SUPER_FRAME_OUTCOME_NAMES[segmenter.byOutcome.findIndex((n) => n > 0)],
      segments: v.segments,
      bytes: v.l3Bytes,
    }).toEqual({ outcome: r.outcome, segments: r.segments, bytes: r.bytes });
    expect(segmenter.extraSegments).toBe(r.segments - 1);
    expect(v.l3Bytes).toBeGreaterThanOrEqual(l3); // never fewer bytes than the frame's own L3 length
  });

  it('an MSS is remembered for the flow it bounds only, and a slot taken by another flow is replaced', () => {
    const feeder = new FrameFeeder();
    const segmenter = new SuperFrameSegmenter(1); // one slot: the second SYN replaces the first
    const v = feeder.view;
    const synAck = (mss: number, sport: number) => `${ETH4}
      45 00 00 2c 00 02 40 00 40 06 00 00 0a 00 00 02 0a 00 00 01   # 10.0.0.2 -> 10.0.0.1
      ${hex2(sport)} 9c 40 00 00 00 01 00 00 00 02 60 12 ff ff 00 00 00 00   # data offset 6; SYN|ACK
      02 04 ${hex2(mss)}   # MSS`;
    const big = `${ETH4} ${ipv4(52 + 20 * 988, 6)} ${TCP_TS}`; // 40000 -> 5201
    feeder.decodeHex(LinkType.Ethernet, synAck(1000, 5201));
    segmenter.learnMss(v, feeder.buffer);
    feeder.decodeHex(LinkType.Ethernet, big);
    segmenter.segment(v, feeder.buffer, 1500, v.l3Offset);
    expect(v.segments).toBe(20);
    feeder.decodeHex(LinkType.Ethernet, synAck(536, 5202)); // another flow's SYN takes the only slot
    segmenter.learnMss(v, feeder.buffer);
    expect(segmenter.mssReplaced).toBe(1);
    v.segments = 1;
    feeder.decodeHex(LinkType.Ethernet, big);
    segmenter.segment(v, feeder.buffer, 1500, v.l3Offset);
    expect(v.segments).toBe(Math.ceil((20 * 988) / 1448)); // its MSS forgotten: the MTU alone
  });
});
