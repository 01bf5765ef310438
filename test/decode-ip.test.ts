import { describe, expect, it } from 'vitest';
import { Decoder } from '../src/decode/decoder';
import { DecodeStatus, LinkType } from '../src/decode/packet-view';
import { canonical, FrameFeeder, type DecodeCase } from './fixtures/decode/decode-case';

const ETH_IPV4 = '00 16 3e aa bb cc 52 54 00 12 34 56 08 00 # Ethernet, ethertype IPv4\n';
const ETH_IPV6 = '00 16 3e aa bb cc 52 54 00 12 34 56 86 dd # Ethernet, ethertype IPv6\n';
const V4_ADDRS = `
c0 00 02 01          # 12: source 192.0.2.1
c6 33 64 02          # 16: destination 198.51.100.2
`;
const V6_ADDRS = `
20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0a  # 8: source 2001:db8::a
20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0b  # 24: destination 2001:db8::b
`;
const TCP_20 = `
ab cd 01 bb          # TCP 0: source port 43981; 2: destination port 443
00 00 00 01 00 00 00 00  # 4: sequence; 8: acknowledgment
50 18 ff ff          # 12: data offset 5; 13: flags PSH|ACK (0x18); window
00 00 00 00          # checksum; urgent pointer
`;
const UDP_8 = `
04 d2 16 2e          # UDP 0: source port 1234; 2: destination port 5678 (0x162e)
00 08 00 00          # 4: length 8; checksum
`;
const V4 = { family: 4, src: '192.0.2.1', dst: '198.51.100.2' };
const V6 = { family: 6, src: '2001:db8::a', dst: '2001:db8::b' };
const TCP_PORTS = { protocol: 6, srcPort: 43981, dstPort: 443, tcpFlags: 0x18 };
const UDP_PORTS = { protocol: 17, srcPort: 1234, dstPort: 5678, tcpFlags: 0 };

const ipv4Cases: DecodeCase[] = [
  {
    name: 'IHL 6 with a router-alert option',
    link: LinkType.Raw,
    hex: `
      46 00 00 24    # 0: version 4, IHL 6 (24 bytes); 2: total length 36 (24 + 8 UDP + 4)
      00 01 00 00    # 4: id 1; 6: not fragmented
      40 11 00 00    # 8: TTL; 9: protocol 17 (UDP)
      ${V4_ADDRS}
      94 04 00 00    # 20: option router alert (148), length 4
      ${UDP_8} 01 02 03 04`,
    status: DecodeStatus.Ok,
    fields: { ...V4, ...UDP_PORTS, l3Bytes: 36 },
  },
  {
    name: 'IHL 8 with NOP/EOL options, TCP',
    link: LinkType.Raw,
    hex: `
      48 00 00 34    # IHL 8 (32 bytes); total length 52 = 32 + 20
      00 02 00 00 40 06 00 00 ${V4_ADDRS}
      01 01 01 01 01 01 01 01 01 01 01 00  # 20: eleven NOPs, EOL
      ${TCP_20}`,
    status: DecodeStatus.Ok,
    fields: { ...V4, ...TCP_PORTS, l3Bytes: 52 },
  },
  {
    name: 'IHL 4: bad length',
    link: LinkType.Raw,
    hex: `44 00 00 28 00 01 00 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    status: DecodeStatus.BadLength,
  },
  {
    name: 'total length 22 below IHL 6 (24): bad length',
    link: LinkType.Raw,
    hex: `46 00 00 16 00 01 00 00 40 11 00 00 ${V4_ADDRS} 94 04 00 00 ${UDP_8}`,
    status: DecodeStatus.BadLength,
  },
  {
    name: 'total length 0 (TSO) on Ethernet: wire length minus 14',
    link: LinkType.Ethernet,
    hex: `${ETH_IPV4} 45 00 00 00 # total length 0
      00 03 40 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    wireLen: 65226,
    status: DecodeStatus.Ok,
    fields: { ...V4, ...TCP_PORTS, l3Bytes: 65226 - 14 },
  },
  {
    name: 'total length 0 (TSO) on RAW: the wire length',
    link: LinkType.Raw,
    hex: `45 00 00 00 00 03 40 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    wireLen: 64040,
    status: DecodeStatus.Ok,
    fields: { l3Bytes: 64040, srcPort: 43981 },
  },
  {
    name: 'total length beyond the snaplen: header length kept, ports read',
    link: LinkType.Ethernet,
    hex: `${ETH_IPV4} 45 00 05 dc # total length 1500
      00 04 40 00 40 06 00 00 ${V4_ADDRS} ${TCP_20} 00 00 00 00`,
    capLen: 14 + 40,
    wireLen: 14 + 1500,
    status: DecodeStatus.Ok,
    fields: { ...V4, ...TCP_PORTS, l3Bytes: 1500 },
  },
  {
    name: 'total length beyond the wire length: what the header claims',
    link: LinkType.Raw,
    hex: `45 00 05 dc 00 04 40 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    status: DecodeStatus.Ok,
    fields: { l3Bytes: 1500, srcPort: 43981 },
  },
  {
    name: 'transport header only in Ethernet padding: ports 0',
    link: LinkType.Ethernet,
    hex: `${ETH_IPV4} 45 00 00 16 # total length 22: 2 bytes after the header
      00 05 00 00 40 11 00 00 ${V4_ADDRS} 04 d2
      16 2e 00 08 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # padding to 60 bytes`,
    status: DecodeStatus.Ok,
    fields: { ...V4, protocol: 17, srcPort: 0, dstPort: 0, l3Bytes: 22 },
  },
  {
    name: 'IPv4 header cut at 19 bytes',
    link: LinkType.Raw,
    hex: `45 00 00 28 00 01 00 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    capLen: 19,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'IPv4 options cut (IHL 6, 22 bytes captured)',
    link: LinkType.Raw,
    hex: `46 00 00 24 00 01 00 00 40 11 00 00 ${V4_ADDRS} 94 04 00 00 ${UDP_8} 01 02 03 04`,
    capLen: 22,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'TCP cut at 3 bytes: ok, ports 0',
    link: LinkType.Raw,
    hex: `45 00 00 28 00 01 00 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    capLen: 23,
    status: DecodeStatus.Ok,
    fields: { ...V4, protocol: 6, srcPort: 0, dstPort: 0, tcpFlags: 0, l3Bytes: 40 },
  },
  {
    name: 'TCP cut at 13 bytes: ports, no flags',
    link: LinkType.Raw,
    hex: `45 00 00 28 00 01 00 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    capLen: 33,
    status: DecodeStatus.Ok,
    fields: { ...TCP_PORTS, tcpFlags: 0 },
  },
  {
    name: 'TCP cut at 14 bytes: ports and flags',
    link: LinkType.Raw,
    hex: `45 00 00 28 00 01 00 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`,
    capLen: 34,
    status: DecodeStatus.Ok,
    fields: TCP_PORTS,
  },
  {
    name: 'ICMP echo: ports 0',
    link: LinkType.Raw,
    hex: `45 00 00 1c 00 06 00 00 40 01 00 00 ${V4_ADDRS} 08 00 f7 fe 00 01 00 00 # echo request`,
    status: DecodeStatus.Ok,
    fields: { ...V4, protocol: 1, srcPort: 0, dstPort: 0, l3Bytes: 28 },
  },
  {
    name: 'SCTP ports',
    link: LinkType.Raw,
    hex: `45 00 00 20 00 07 00 00 40 84 00 00 ${V4_ADDRS}
      0b 59 0b 59    # SCTP 0: source port 2905; 2: destination port 2905
      00 00 00 01 00 00 00 00  # verification tag; checksum`,
    status: DecodeStatus.Ok,
    fields: { protocol: 132, srcPort: 2905, dstPort: 2905, l3Bytes: 32 },
  },
  {
    name: 'UDP-Lite ports',
    link: LinkType.Raw,
    hex: `45 00 00 1c 00 08 00 00 40 88 00 00 ${V4_ADDRS} ${UDP_8}`,
    status: DecodeStatus.Ok,
    fields: { protocol: 136, srcPort: 1234, dstPort: 5678, l3Bytes: 28 },
  },
  {
    name: 'GRE tunnel: outer header only',
    link: LinkType.Raw,
    hex: `45 00 00 40 00 09 00 00 40 2f 00 00 ${V4_ADDRS}  # protocol 47 (GRE), total 64
      00 00 08 00    # GRE: no flags, protocol IPv4
      45 00 00 28 00 01 00 00 40 06 00 00 0a 00 00 01 0a 00 00 02 ${TCP_20}`,
    status: DecodeStatus.Ok,
    fields: { ...V4, protocol: 47, srcPort: 0, dstPort: 0, l3Bytes: 64 },
  },
  {
    name: 'IP-in-IP: outer header only',
    link: LinkType.Raw,
    hex: `45 00 00 3c 00 0a 00 00 40 04 00 00 ${V4_ADDRS}  # protocol 4, total 60
      45 00 00 28 00 01 00 00 40 06 00 00 0a 00 00 01 0a 00 00 02 ${TCP_20}`,
    status: DecodeStatus.Ok,
    fields: { ...V4, protocol: 4, srcPort: 0, dstPort: 0, l3Bytes: 60 },
  },
  {
    name: 'VXLAN: the outer UDP ports',
    link: LinkType.Raw,
    hex: `45 00 00 24 00 0b 00 00 40 11 00 00 ${V4_ADDRS}  # UDP, total 36
      c0 01 12 b5 00 10 00 00  # UDP: source port 49153; destination port 4789 (VXLAN)
      08 00 00 00 00 00 64 00  # VXLAN header, VNI 100`,
    status: DecodeStatus.Ok,
    fields: { protocol: 17, srcPort: 49153, dstPort: 4789, l3Bytes: 36 },
  },
  {
    name: 'ESP: ports 0',
    link: LinkType.Raw,
    hex: `45 00 00 1c 00 0c 00 00 40 32 00 00 ${V4_ADDRS} 00 00 10 00 00 00 00 01 # total 28; SPI, sequence`,
    status: DecodeStatus.Ok,
    fields: { protocol: 50, srcPort: 0, dstPort: 0, l3Bytes: 28 },
  },
];

const ipv6Cases: DecodeCase[] = [
  {
    name: 'hop-by-hop, routing, destination options, TCP',
    link: LinkType.Raw,
    hex: `
      60 00 00 00    # 0: version 6
      00 3c 00 40    # 4: payload length 60 = 8 + 24 + 8 + 20; 6: next header 0 (hop-by-hop)
      ${V6_ADDRS}
      2b 00 01 04 00 00 00 00  # 40: hop-by-hop: next 43 (routing), length 0 (8 bytes); PadN
      3c 02 00 01 00 00 00 00  # 48: routing: next 60, length 2 (24 bytes), type 0, segments left 1
      20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0c  #     address 2001:db8::c
      06 00 01 04 00 00 00 00  # 72: destination options: next 6 (TCP), length 0; PadN
      ${TCP_20}`,
    status: DecodeStatus.Ok,
    fields: { ...V6, ...TCP_PORTS, l3Bytes: 100 },
  },
  {
    name: 'AH (length in 4-byte units + 2), UDP',
    link: LinkType.Raw,
    hex: `60 00 00 00
      00 24 33 40    # payload length 36 = 24 AH + 8 UDP + 4; next header 51 (AH)
      ${V6_ADDRS}
      11 04 00 00    # 40: AH: next 17, length 4 -> (4 + 2) * 4 = 24 bytes
      00 00 10 00 00 00 00 01  # SPI, sequence
      00 00 00 00 00 00 00 00 00 00 00 00  # ICV (12 bytes)
      ${UDP_8} 01 02 03 04`,
    status: DecodeStatus.Ok,
    fields: { ...V6, ...UDP_PORTS, l3Bytes: 76 },
  },
  {
    name: 'mobility, shim6, HIP treated like options headers',
    link: LinkType.Raw,
    hex: `60 00 00 00
      00 28 87 40    # payload length 40 = 8 + 8 + 16 + 8; next header 135 (mobility)
      ${V6_ADDRS}
      8c 00 00 00 00 00 00 00  # 40: mobility: next 140 (shim6), length 0
      8b 00 00 00 00 00 00 00  # 48: shim6: next 139 (HIP), length 0
      11 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # 56: HIP: next 17, length 1 (16 bytes)
      ${UDP_8}`,
    status: DecodeStatus.Ok,
    fields: { ...V6, ...UDP_PORTS, l3Bytes: 80 },
  },
  {
    name: 'ESP stops the chain',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 10 00 40 ${V6_ADDRS}  # payload 16; next header 0
      32 00 00 00 00 00 00 00  # hop-by-hop: next 50 (ESP)
      00 00 10 00 00 00 00 01  # ESP SPI, sequence`,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 50, srcPort: 0, dstPort: 0, l3Bytes: 56 },
  },
  {
    name: 'no next header with payload length 0 is 40 bytes, not GSO',
    link: LinkType.Ethernet,
    hex: `${ETH_IPV6} 60 00 00 00 00 00 3b 40 ${V6_ADDRS}  # payload 0; next header 59
      00 00 00 00 00 00  # Ethernet padding`,
    wireLen: 1514,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 59, l3Bytes: 40 },
  },
  {
    name: 'ICMPv6: ports 0',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 08 3a 40 ${V6_ADDRS} 80 00 00 00 00 01 00 01 # echo request`,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 58, srcPort: 0, dstPort: 0, l3Bytes: 48 },
  },
  {
    name: 'jumbogram: hop-by-hop jumbo option gives the length',
    link: LinkType.Raw,
    hex: `60 00 00 00
      00 00 00 40    # payload length 0; next header 0 (hop-by-hop)
      ${V6_ADDRS}
      06 00 c2 04 00 01 00 1c  # hop-by-hop: next 6, length 0; jumbo option, payload 65564 (0x1001c)
      ${TCP_20}`,
    wireLen: 40 + 65564,
    status: DecodeStatus.Ok,
    fields: { ...V6, ...TCP_PORTS, l3Bytes: 40 + 65564 },
  },
  {
    name: 'jumbogram after Pad1 options, PadN after',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 00 00 40 ${V6_ADDRS}
      11 01 00 00    # hop-by-hop: next 17, length 1 (16 bytes); Pad1, Pad1
      c2 04 00 02 00 00  # jumbo option, payload 131072 (0x20000)
      01 04 00 00 00 00  # PadN
      ${UDP_8}`,
    status: DecodeStatus.Ok,
    fields: { ...V6, ...UDP_PORTS, l3Bytes: 40 + 131072 },
  },
  {
    name: 'payload length 0 without jumbo (GSO) on Ethernet: wire length minus 14',
    link: LinkType.Ethernet,
    hex: `${ETH_IPV6} 60 00 00 00 00 00 06 40 ${V6_ADDRS} ${TCP_20}`,
    wireLen: 64014,
    status: DecodeStatus.Ok,
    fields: { ...V6, ...TCP_PORTS, l3Bytes: 64000 },
  },
  {
    name: 'extension header longer than the payload length: bad length',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 08 00 40 ${V6_ADDRS}  # payload 8; next header 0
      11 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # hop-by-hop says 16 bytes`,
    status: DecodeStatus.BadLength,
  },
  {
    name: 'AH longer than the payload length: bad length',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 10 33 40 ${V6_ADDRS}  # payload 16; next header 51
      11 04 00 00 00 00 10 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00  # AH says 24 bytes`,
    status: DecodeStatus.BadLength,
  },
  {
    name: 'fragment header past the payload length: bad length',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 04 2c 40 ${V6_ADDRS} 11 00 00 01 00 00 00 01 # payload 4, fragment header 8`,
    status: DecodeStatus.BadLength,
  },
  {
    name: 'routing header cut by the capture: truncated',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 3c 00 40 ${V6_ADDRS}
      2b 00 01 04 00 00 00 00
      3c 02 00 01 00 00 00 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0c
      06 00 01 04 00 00 00 00 ${TCP_20}`,
    capLen: 40 + 8 + 10,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'extension header not captured at all: truncated',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 10 00 40 ${V6_ADDRS} 11 00 00 00 00 00 00 00 ${UDP_8}`,
    capLen: 40,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'TCP after the chain cut to 2 bytes: ok, ports 0',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 1c 00 40 ${V6_ADDRS} 06 00 01 04 00 00 00 00 ${TCP_20}`,
    capLen: 40 + 8 + 2,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 6, srcPort: 0, dstPort: 0, tcpFlags: 0, l3Bytes: 68 },
  },
  {
    name: 'IPv6 header cut at 39 bytes',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 08 11 40 ${V6_ADDRS} ${UDP_8}`,
    capLen: 39,
    status: DecodeStatus.Truncated,
  },
];

function runTable(cases: DecodeCase[]): void {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const feeder = new FrameFeeder();
    expect(feeder.decodeHex(c.link, c.hex, { capLen: c.capLen, wireLen: c.wireLen })).toBe(c.status);
    if (c.fields) expect(feeder.pick(c.fields)).toEqual(canonical(c.fields));
  });
}

describe('Decoder IP layer', () => {
  describe('IPv4', () => runTable(ipv4Cases));
  describe('IPv6 extension headers and lengths', () => runTable(ipv6Cases));

  it('counts lengths taken from the wire and jumbograms', () => {
    const feeder = new FrameFeeder(new Decoder({ fragmentCacheSize: 1 }));
    feeder.decodeHex(LinkType.Raw, `45 00 00 00 00 03 40 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`, { wireLen: 9000 });
    feeder.decodeHex(LinkType.Raw, `60 00 00 00 00 00 06 40 ${V6_ADDRS} ${TCP_20}`, { wireLen: 9000 });
    feeder.decodeHex(LinkType.Raw, `60 00 00 00 00 00 00 40 ${V6_ADDRS} 06 00 c2 04 00 01 00 1c ${TCP_20}`);
    expect([feeder.decoder.lengthsFromWire, feeder.decoder.jumbograms]).toEqual([2, 1]);
  });
});
