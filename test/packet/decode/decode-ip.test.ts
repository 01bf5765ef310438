import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { DecodeStatus } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { FrameFeeder, runTable, type DecodeCase } from '../../fixtures/decode/decode-case';
import { ETH_IPV4, TCP_20, TCP_PORTS, UDP_8, UDP_PORTS, V4, V4_ADDRS, V6_ADDRS } from '../../fixtures/decode/packets';

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
    name: 'IPv4 options cut (IHL 6, 22 bytes captured): counted, ports 0',
    link: LinkType.Raw,
    hex: `46 00 00 24 00 01 00 00 40 11 00 00 ${V4_ADDRS} 94 04 00 00 ${UDP_8} 01 02 03 04`,
    capLen: 22,
    status: DecodeStatus.Ok,
    fields: { ...V4, protocol: 17, srcPort: 0, dstPort: 0, l3Bytes: 36 },
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

describe('Decoder IPv4', () => {
  runTable(ipv4Cases);

  it('counts lengths taken from the wire and jumbograms', () => {
    const feeder = new FrameFeeder(new Decoder({ fragmentCacheSize: 1 }));
    feeder.decodeHex(LinkType.Raw, `45 00 00 00 00 03 40 00 40 06 00 00 ${V4_ADDRS} ${TCP_20}`, { wireLen: 9000 });
    feeder.decodeHex(LinkType.Raw, `60 00 00 00 00 00 06 40 ${V6_ADDRS} ${TCP_20}`, { wireLen: 9000 });
    feeder.decodeHex(LinkType.Raw, `60 00 00 00 00 00 00 40 ${V6_ADDRS} 06 00 c2 04 00 01 00 1c ${TCP_20}`);
    expect([feeder.decoder.lengthsFromWire, feeder.decoder.jumbograms]).toEqual([2, 1]);
  });
});
