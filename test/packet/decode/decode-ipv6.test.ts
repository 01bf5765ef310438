import { describe } from 'vitest';
import { DecodeStatus } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { runTable, type DecodeCase } from '../../fixtures/decode/decode-case';
import { ETH_IPV6, TCP_20, TCP_PORTS, UDP_8, UDP_PORTS, V6, V6_ADDRS } from '../../fixtures/decode/packets';

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
    name: 'mobility header is the upper layer, as tshark has it (shim6, HIP behind it unread)',
    link: LinkType.Raw,
    hex: `60 00 00 00
      00 28 87 40    # payload length 40 = 8 + 8 + 16 + 8; next header 135 (mobility)
      ${V6_ADDRS}
      8c 00 00 00 00 00 00 00  # 40: mobility: next 140 (shim6), length 0
      8b 00 00 00 00 00 00 00  # 48: shim6: next 139 (HIP), length 0
      11 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # 56: HIP: next 17, length 1 (16 bytes)
      ${UDP_8}`,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 135, srcPort: 0, dstPort: 0, l3Bytes: 80 },
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
    name: 'extension header longer than the payload length: counted with the protocol it names, ports 0',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 08 00 40 ${V6_ADDRS}  # payload 8; next header 0
      11 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00  # hop-by-hop says 16 bytes`,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 17, srcPort: 0, dstPort: 0, l3Bytes: 48 },
  },
  {
    name: 'AH longer than the payload length: counted with the protocol it names, ports 0',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 10 33 40 ${V6_ADDRS}  # payload 16; next header 51
      11 04 00 00 00 00 10 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00  # AH says 24 bytes`,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 17, srcPort: 0, dstPort: 0, l3Bytes: 56 },
  },
  {
    name: 'fragment header past the payload length: counted as protocol 44',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 04 2c 40 ${V6_ADDRS} 11 00 00 01 00 00 00 01 # payload 4, fragment header 8`,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 44, srcPort: 0, dstPort: 0, l3Bytes: 44 },
  },
  {
    name: 'routing header cut by the capture: counted with the protocol it names (60), ports 0',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 3c 00 40 ${V6_ADDRS}
      2b 00 01 04 00 00 00 00
      3c 02 00 01 00 00 00 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0c
      06 00 01 04 00 00 00 00 ${TCP_20}`,
    capLen: 40 + 8 + 10,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 60, srcPort: 0, dstPort: 0, l3Bytes: 100 },
  },
  {
    name: 'extension header not captured at all: counted as hop-by-hop (0), ports 0',
    link: LinkType.Raw,
    hex: `60 00 00 00 00 10 00 40 ${V6_ADDRS} 11 00 00 00 00 00 00 00 ${UDP_8}`,
    capLen: 40,
    status: DecodeStatus.Ok,
    fields: { ...V6, protocol: 0, srcPort: 0, dstPort: 0, l3Bytes: 56 },
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

describe('Decoder IPv6 extension headers and lengths', () => runTable(ipv6Cases));
