import { describe } from 'vitest';
import { DecodeStatus } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { runTable, type DecodeCase } from '../../fixtures/decode/decode-case';
import {
  ARP_BODY,
  ETH_MAC_FIELDS,
  ETH_MACS,
  IPV4_TCP,
  IPV4_TCP_FIELDS,
  IPV6_UDP,
  IPV6_UDP_FIELDS,
} from '../../fixtures/decode/packets';

const ethernetCases: DecodeCase[] = [
  {
    name: 'IPv4 TCP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 08 00 # 12: ethertype IPv4 ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: 'IPv6 UDP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 86 dd # 12: ethertype IPv6 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV6_UDP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: '802.1Q tag',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      81 00          # 12: ethertype 802.1Q
      20 64 08 00    # 14: PCP 1, VLAN 100; 16: ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: '802.1ad QinQ (S-tag, C-tag)',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      88 a8          # 12: ethertype 802.1ad
      00 64 81 00    # 14: S-VLAN 100; 16: ethertype 802.1Q
      00 c8 86 dd    # 18: C-VLAN 200; 20: ethertype IPv6
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV6_UDP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: 'three tags: 0x9100, 0x88a8, 0x8100',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      91 00          # 12: ethertype 0x9100 (old QinQ)
      00 01 88 a8    # 14: VLAN 1; 16: ethertype 802.1ad
      00 02 81 00    # 18: VLAN 2; 20: ethertype 802.1Q
      00 03 08 00    # 22: VLAN 3; 24: ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'MPLS, one label',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      88 47          # 12: ethertype MPLS unicast
      00 01 01 40    # 14: label 16, TC 0, bottom of stack, TTL 64
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'MPLS, three labels, IPv6',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      88 47          # 12: ethertype MPLS unicast
      00 01 00 40    # 14: label 16, not bottom
      00 01 10 40    # 18: label 17, not bottom
      00 01 21 40    # 22: label 18, bottom of stack
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'VLAN then MPLS multicast, two labels',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      81 00          # 12: ethertype 802.1Q
      00 0a 88 48    # 14: VLAN 10; 16: ethertype MPLS multicast
      00 01 00 40    # 18: label 16, not bottom
      00 01 11 40    # 22: label 17, bottom of stack
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'MPLS pseudowire with control word: not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      88 47          # 12: ethertype MPLS
      00 01 01 40    # 14: label 16, bottom of stack
      00 00 00 00    # 18: pseudowire control word (first nibble 0)
      ${ETH_MACS} 08 00 ${IPV4_TCP}`,
    status: DecodeStatus.NotIp,
  },
  {
    name: '802.3 length field with LLC/SNAP carrying IPv4',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      00 30          # 12: 802.3 length 48 (8 LLC/SNAP + 40 IP)
      aa aa 03       # 14: LLC DSAP/SSAP SNAP, control UI
      00 00 00 08 00 # 17: SNAP OUI 00-00-00; 20: ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, ...ETH_MAC_FIELDS },
  },
  {
    name: '802.3 LLC spanning tree: not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      00 26          # 12: 802.3 length 38
      42 42 03       # 14: LLC DSAP/SSAP 0x42 (STP), control UI
      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`,
    status: DecodeStatus.NotIp,
    fields: ETH_MAC_FIELDS,
  },
  {
    name: '802.3 SNAP with a Cisco OUI (CDP): not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      00 10          # 12: 802.3 length
      aa aa 03 00 00 0c 20 00  # 14: SNAP, OUI 00-00-0c (Cisco), protocol 0x2000 (CDP)
      02 b4 00 00 00 00 00 00`,
    status: DecodeStatus.NotIp,
  },
  {
    name: 'PPPoE session carrying IPv4',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS}
      88 64          # 12: ethertype PPPoE session
      11 00 00 01    # 14: version/type 0x11; code 0; session 1
      00 2a 00 21    # 18: length 42; 20: PPP protocol 0x0021 (IPv4)
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'ARP: not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 08 06 # 12: ethertype ARP ${ARP_BODY}`,
    status: DecodeStatus.NotIp,
    fields: ETH_MAC_FIELDS,
  },
  {
    name: 'LLDP behind a VLAN tag: not IP',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 81 00 00 05 88 cc # 12: 802.1Q VLAN 5, ethertype LLDP
      02 07 04 52 54 00 12 34 56`,
    status: DecodeStatus.NotIp,
  },
  {
    name: 'ethertype IPv4 but version 6: bad version',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 08 00 ${IPV6_UDP}`,
    status: DecodeStatus.BadVersion,
  },
  {
    name: 'ethertype IPv6 but version 4: bad version',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 86 dd ${IPV4_TCP}`,
    status: DecodeStatus.BadVersion,
  },
  {
    name: 'frame shorter than the Ethernet header',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 08 # 12: half an ethertype`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'VLAN tag cut short',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 81 00 00 64 # 14: TCI, no inner ethertype`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'MPLS stack ends before bottom of stack',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 88 47 00 01 00 40 # 14: label 16, not bottom; frame ends`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'MPLS bottom of stack with nothing after it',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 88 47 00 01 01 40 # 14: label 16, bottom; frame ends`,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'IPv4 header cut by the capture (snaplen 24)',
    link: LinkType.Ethernet,
    hex: `${ETH_MACS} 08 00 ${IPV4_TCP}`,
    capLen: 24, // 14 Ethernet + 10 of the 20 IPv4 header bytes
    status: DecodeStatus.Truncated,
  },
];

describe('Decoder Ethernet: tags, MPLS, LLC/SNAP, PPPoE', () => runTable(ethernetCases));
