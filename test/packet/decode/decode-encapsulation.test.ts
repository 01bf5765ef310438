import { describe } from 'vitest';
import { DecodeStatus } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { runTable, type DecodeCase } from '../../fixtures/decode/decode-case';
import {
  ETH_MAC_FIELDS,
  ETH_MACS,
  IPV4_TCP,
  IPV4_TCP_FIELDS,
  IPV6_UDP,
  IPV6_UDP_FIELDS,
} from '../../fixtures/decode/packets';

/**
 * Data-centre tags and shims (802.1BR E-Tag, VN-Tag, NSH, FabricPath, PPPoE) and the serial
 * link types (PPP 9, PPP_HDLC 50, Cisco HDLC 104): each decoded through to the outermost IP
 * header, in combination with 802.1Q/802.1ad and MPLS, and each malformed kind counted by reason.
 */

const NSH_MD2_IPV4 = `
  00 02          # 0: version 0, O 0, U 0, TTL 0; length 2 words (8 bytes: base and path headers)
  02 01          # 2: MD type 2; 3: next protocol 1 (IPv4)
  00 00 2a ff    # 4: service path id 42, service index 255
`;

const ethernetCases: DecodeCase[] = [
  {
    name: 'E-Tag (802.1BR) carrying IPv4',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      89 3f          # 12: ethertype E-Tag
      20 00 10 05 00 00  # 14: E-PCP 1, ingress E-CID 0; GRP 1, E-CID base 5; extensions 0
      08 00          # 20: ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: 'VN-Tag carrying 802.1Q then IPv6',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      89 26          # 12: ethertype VN-Tag
      80 07 00 03    # 14: direction 1, destination VIF 7; source VIF 3
      81 00          # 18: ethertype 802.1Q
      00 0a 86 dd    # 20: VLAN 10; 22: ethertype IPv6
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV6_UDP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: '802.1ad S-tag, E-Tag, C-tag, MPLS, IPv4 (any depth)',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      88 a8 00 64    # 12: 802.1ad; 14: S-VLAN 100
      89 3f 00 00 00 09 00 00  # 16: E-Tag, E-CID 9
      81 00 00 c8    # 24: 802.1Q; 26: C-VLAN 200
      88 47          # 28: ethertype MPLS
      00 01 01 40    # 30: label 16, bottom of stack, TTL 64
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'NSH MD type 2 carrying IPv4',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f # 12: ethertype NSH ${NSH_MD2_IPV4} ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: 'NSH MD type 1 (16 bytes of context) carrying IPv6',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f
      00 06          # 14: version 0; length 6 words (24 bytes)
      01 02          # 16: MD type 1; 17: next protocol 2 (IPv6)
      00 00 01 fe    # 18: service path 1, index 254
      00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 04  # 22: fixed context headers
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'NSH MD type 2 with a metadata TLV, carrying Ethernet, VLAN, IPv4',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f
      00 04          # 14: version 0; length 4 words (16 bytes)
      02 03          # 16: MD type 2; 17: next protocol 3 (Ethernet)
      00 00 07 ff    # 18: service path 7, index 255
      00 01 02 04 de ad be ef  # 22: TLV class 1, type 2, length 4, value
      02 00 00 00 00 01 02 00 00 00 00 02  # 30: inner destination and source MACs
      81 00 00 05 08 00  # 42: 802.1Q VLAN 5; ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, ...ETH_MAC_FIELDS }, // MACs stay the outer frame's
  },
  {
    name: 'NSH in NSH, then MPLS, then IPv6',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f
      00 02 02 04 00 00 01 ff  # 14: length 2, MD type 2, next protocol 4 (NSH)
      00 02 02 05 00 00 02 ff  # 22: length 2, MD type 2, next protocol 5 (MPLS)
      00 01 01 40    # 30: label 16, bottom of stack
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'FabricPath carrying a tagged frame with IPv4',
    link: LinkType.Ethernet,
    hex: `
      02 00 0a 00 00 01  # 0: outer destination: switch 0x00a, local id 1
      02 00 0b 00 00 02  # 6: outer source: switch 0x00b, local id 2
      89 03          # 12: ethertype FabricPath
      00 5f          # 14: FTag 1, TTL 31
      00 16 3e aa bb cc 52 54 00 12 34 56  # 16: the original frame's MACs
      81 00 00 64 08 00  # 28: 802.1Q VLAN 100; ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'PPPoE session carrying IPv6 behind a VLAN tag',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 81 00 00 07 88 64 # 12: 802.1Q VLAN 7, ethertype PPPoE session
      11 00 12 34 00 36 00 57  # 18: version/type 0x11, code 0, session 0x1234, length 54, PPP IPv6
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'PPPoE session carrying MPLS',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 88 64 11 00 00 01 00 2e 02 81 # PPPoE session, PPP protocol 0x0281 (MPLS)
      00 01 01 40    # label 16, bottom of stack
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'PPPoE LCP: not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 88 64 11 00 00 01 00 0a c0 21 01 01 00 08 01 04 05 d4`,
    status: DecodeStatus.NotIp,
  },
  {
    name: 'PPPoE version 2: bad tag',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 88 64 21 00 00 01 00 2a 00 21 ${IPV4_TCP}`,
    status: DecodeStatus.BadTag,
  },
  {
    name: 'PPPoE discovery code in a session frame: bad tag',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 88 64 11 09 00 00 00 2a 00 21 ${IPV4_TCP}`,
    status: DecodeStatus.BadTag,
  },
  {
    name: 'NSH version 1: bad tag',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f 40 02 02 01 00 00 2a ff ${IPV4_TCP}`,
    status: DecodeStatus.BadTag,
  },
  {
    name: 'NSH length 1 word: bad tag',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f 00 01 02 01 00 00 2a ff ${IPV4_TCP}`,
    status: DecodeStatus.BadTag,
  },
  {
    name: 'NSH MD type 1 of 2 words: bad tag',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f 00 02 01 01 00 00 2a ff ${IPV4_TCP}`,
    status: DecodeStatus.BadTag,
  },
  {
    name: 'NSH next protocol 0x7f: not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f 00 02 02 7f 00 00 2a ff ${IPV4_TCP}`,
    status: DecodeStatus.NotIp,
  },
  {
    name: 'NSH longer than the frame: truncated',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 4f 00 3f 02 01 00 00 2a ff ${IPV4_TCP}`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'E-Tag cut short',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 3f 20 00 10 05 00 00 08`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'VN-Tag cut short',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 26 80 07 00`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'FabricPath cut inside the original frame',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 03 00 5f 00 16 3e aa bb cc 52 54 00 12 34 56 08`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'FabricPath carrying ARP: not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 89 03 00 5f 00 16 3e aa bb cc 52 54 00 12 34 56 08 06 00 01 08 00 06 04 00 01`,
    status: DecodeStatus.NotIp,
  },
];

const serialCases: DecodeCase[] = [
  {
    name: 'PPP (9) in RFC 1662 framing, IPv4',
    link: LinkType.Ppp,
    hex: `ff 03          # 0: address all-stations; 1: control UI
      00 21          # 2: PPP protocol IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, hasSrcMac: false, hasDstMac: false },
  },
  {
    name: 'PPP (9) without framing, IPv6',
    link: LinkType.Ppp,
    hex: `00 57 # 0: PPP protocol IPv6 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'PPP (9) protocol field compressed to one byte, IPv4',
    link: LinkType.Ppp,
    hex: `ff 03 21 # 2: protocol 0x21 (odd: one byte) ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'PPP (9) MPLS',
    link: LinkType.Ppp,
    hex: `ff 03 02 81 00 01 01 40 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  { name: 'PPP (9) LCP: not IP', link: LinkType.Ppp, hex: `ff 03 c0 21 01 01 00 04`, status: DecodeStatus.NotIp },
  {
    name: 'PPP (9) IPCP: not IP',
    link: LinkType.Ppp,
    hex: `ff 03 80 21 01 01 00 0a 03 06 0a 00 00 01`,
    status: DecodeStatus.NotIp,
  },
  {
    name: 'PPP (9) control byte 0x13: bad tag',
    link: LinkType.Ppp,
    hex: `ff 13 00 21 ${IPV4_TCP}`,
    status: DecodeStatus.BadTag,
  },
  {
    name: 'PPP (9) ends inside the protocol field',
    link: LinkType.Ppp,
    hex: `ff 03 00`,
    status: DecodeStatus.Truncated,
  },
  { name: 'PPP (9) one byte', link: LinkType.Ppp, hex: `ff`, status: DecodeStatus.Truncated },
  {
    name: 'PPP_HDLC (50) IPv4',
    link: LinkType.PppHdlc,
    hex: `ff 03 00 21 ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'PPP_HDLC (50) carrying a Cisco HDLC frame',
    link: LinkType.PppHdlc,
    hex: `0f 00 86 dd # Cisco HDLC unicast, IPv6 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'Cisco HDLC (104) IPv4',
    link: LinkType.CiscoHdlc,
    hex: `0f             # 0: address unicast
      00             # 1: control
      08 00          # 2: protocol IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'Cisco HDLC (104) multicast, MPLS, IPv6',
    link: LinkType.CiscoHdlc,
    hex: `8f 00 88 47 00 01 01 40 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'Cisco HDLC (104) SLARP: not IP',
    link: LinkType.CiscoHdlc,
    hex: `8f 00 80 35 00 00 00 02 00 00 00 01 00 00 00 00 ff ff`,
    status: DecodeStatus.NotIp,
  },
  {
    name: 'Cisco HDLC (104) header cut short',
    link: LinkType.CiscoHdlc,
    hex: `0f 00 08`,
    status: DecodeStatus.Truncated,
  },
];

describe('Decoder: E-Tag, VN-Tag, NSH, FabricPath and PPPoE in any combination', () => runTable(ethernetCases));
describe('Decoder: PPP, PPP_HDLC and Cisco HDLC links', () => runTable(serialCases));
