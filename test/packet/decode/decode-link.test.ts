import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { DecodeStatus } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { FrameFeeder, runTable, type DecodeCase } from '../../fixtures/decode/decode-case';
import {
  ARP_BODY,
  ETH_MACS,
  IPV4_TCP,
  IPV4_TCP_FIELDS,
  IPV6_UDP,
  IPV6_UDP_FIELDS,
} from '../../fixtures/decode/packets';

const SLL_IPV4_HEADER = `
00 00                # 0: packet type 0 (to us)
00 01                # 2: ARPHRD_ETHER
00 06                # 4: address length 6
52 54 00 12 34 56 00 00  # 6: source address, padded to 8 bytes
08 00                # 14: protocol IPv4
`;

const cookedCases: DecodeCase[] = [
  {
    name: 'SLL IPv4 with a 6-byte source address',
    link: LinkType.LinuxSll,
    hex: SLL_IPV4_HEADER + IPV4_TCP,
    status: DecodeStatus.Ok,
    fields: {
      ...IPV4_TCP_FIELDS,
      sllPacketType: 0,
      hasSrcMac: true,
      srcMacHi: 0x5254,
      srcMacLo: 0x00123456,
      hasDstMac: false,
    },
  },
  {
    name: 'SLL outgoing on a tun device (no address)',
    link: LinkType.LinuxSll,
    hex: `
      00 04          # 0: packet type 4 (outgoing)
      ff fe          # 2: ARPHRD_NONE
      00 00          # 4: address length 0
      00 00 00 00 00 00 00 00  # 6: no address
      86 dd          # 14: protocol IPv6
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV6_UDP_FIELDS, sllPacketType: 4, hasSrcMac: false, hasDstMac: false },
  },
  {
    name: 'SLL with a VLAN tag left in',
    link: LinkType.LinuxSll,
    hex: `00 01 00 01 00 06 52 54 00 12 34 56 00 00 # broadcast, ARPHRD_ETHER, address
      81 00          # 14: protocol 802.1Q
      00 07 08 00    # 16: VLAN 7; 18: ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, sllPacketType: 1 },
  },
  {
    name: 'SLL 802.2 LLC/SNAP carrying IPv4',
    link: LinkType.LinuxSll,
    hex: `00 00 00 01 00 06 52 54 00 12 34 56 00 00
      00 04          # 14: protocol ETH_P_802_2 (LLC follows)
      aa aa 03 00 00 00 08 00  # 16: SNAP, OUI 0, ethertype IPv4
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'SLL of a netlink socket: not IP',
    link: LinkType.LinuxSll,
    hex: `00 04 03 38 00 00 00 00 00 00 00 00 00 00  # outgoing, ARPHRD_NETLINK (824), no address
      00 00          # 14: netlink family NETLINK_ROUTE
      14 00 00 00 10 00 05 03 00 00 00 00 00 00 00 00 00 00 00 00`,
    status: DecodeStatus.NotIp,
  },
  {
    name: 'SLL ARP: not IP',
    link: LinkType.LinuxSll,
    hex: `00 00 00 01 00 06 52 54 00 12 34 56 00 00 08 06 ${ARP_BODY}`,
    status: DecodeStatus.NotIp,
    fields: { sllPacketType: 0, hasSrcMac: true },
  },
  {
    name: 'SLL header cut short',
    link: LinkType.LinuxSll,
    hex: SLL_IPV4_HEADER,
    capLen: 15,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'SLL2 IPv6 from another host',
    link: LinkType.LinuxSll2,
    hex: `
      86 dd          # 0: protocol IPv6
      00 00          # 2: reserved
      00 00 00 07    # 4: interface index 7
      00 01          # 8: ARPHRD_ETHER
      03             # 10: packet type 3 (to another host)
      06             # 11: address length 6
      52 54 00 12 34 56 00 00  # 12: source address, padded to 8 bytes
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV6_UDP_FIELDS, sllPacketType: 3, hasSrcMac: true, srcMacHi: 0x5254, srcMacLo: 0x00123456 },
  },
  {
    name: 'SLL2 IPv4 on a device without addresses',
    link: LinkType.LinuxSll2,
    hex: `08 00 00 00 00 00 00 02 03 04 # IPv4, interface 2, ARPHRD_LOOPBACK (772)
      00 00          # 10: packet type 0; 11: address length 0
      00 00 00 00 00 00 00 00
      ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, sllPacketType: 0, hasSrcMac: false },
  },
  {
    name: 'SLL2 header cut short',
    link: LinkType.LinuxSll2,
    hex: `86 dd 00 00 00 00 00 07 00 01 03 06 52 54 00 12 34 56 00 # 19 bytes`,
    status: DecodeStatus.Truncated,
  },
];

const rawCases: DecodeCase[] = [
  { name: 'RAW (101) IPv4', link: LinkType.Raw, hex: IPV4_TCP, status: DecodeStatus.Ok, fields: IPV4_TCP_FIELDS },
  { name: 'RAW (101) IPv6', link: LinkType.Raw, hex: IPV6_UDP, status: DecodeStatus.Ok, fields: IPV6_UDP_FIELDS },
  { name: 'RAW (12) IPv4', link: LinkType.RawOpenBsd, hex: IPV4_TCP, status: DecodeStatus.Ok, fields: IPV4_TCP_FIELDS },
  { name: 'RAW (14) IPv6', link: LinkType.RawAlt, hex: IPV6_UDP, status: DecodeStatus.Ok, fields: IPV6_UDP_FIELDS },
  { name: 'IPV4 (228) IPv4', link: LinkType.Ipv4, hex: IPV4_TCP, status: DecodeStatus.Ok, fields: IPV4_TCP_FIELDS },
  { name: 'IPV4 (228) given IPv6', link: LinkType.Ipv4, hex: IPV6_UDP, status: DecodeStatus.BadVersion },
  { name: 'IPV6 (229) IPv6', link: LinkType.Ipv6, hex: IPV6_UDP, status: DecodeStatus.Ok, fields: IPV6_UDP_FIELDS },
  { name: 'IPV6 (229) given IPv4', link: LinkType.Ipv6, hex: IPV4_TCP, status: DecodeStatus.BadVersion },
  { name: 'RAW version 5', link: LinkType.Raw, hex: '55 00 00 28 00 00 00 00', status: DecodeStatus.BadVersion },
  { name: 'RAW empty frame', link: LinkType.Raw, hex: '', status: DecodeStatus.Truncated },
  { name: 'unsupported link 105 (802.11)', link: 105, hex: IPV4_TCP, status: DecodeStatus.UnsupportedLink },
  { name: 'unsupported link 127 (radiotap), empty', link: 127, hex: '', status: DecodeStatus.UnsupportedLink },
];

const loopbackCases: DecodeCase[] = [
  {
    name: 'null AF_INET little-endian',
    link: LinkType.Null,
    hex: `02 00 00 00 ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'null AF_INET big-endian',
    link: LinkType.Null,
    hex: `00 00 00 02 ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'null AF_INET6 10 (Linux) LE',
    link: LinkType.Null,
    hex: `0a 00 00 00 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'null AF_INET6 24 (OpenBSD) BE',
    link: LinkType.Null,
    hex: `00 00 00 18 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'null AF_INET6 28 (FreeBSD) LE',
    link: LinkType.Null,
    hex: `1c 00 00 00 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'null AF_INET6 30 (Darwin) BE',
    link: LinkType.Null,
    hex: `00 00 00 1e ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  {
    name: 'null AF_INET carrying IPv6',
    link: LinkType.Null,
    hex: `02 00 00 00 ${IPV6_UDP}`,
    status: DecodeStatus.BadVersion,
  },
  { name: 'null AF 7 (OSI)', link: LinkType.Null, hex: `07 00 00 00 fe fe 03 81`, status: DecodeStatus.NotIp },
  { name: 'null header cut', link: LinkType.Null, hex: `02 00 00`, status: DecodeStatus.Truncated },
  {
    name: 'loop AF_INET (network order)',
    link: LinkType.Loop,
    hex: `00 00 00 02 ${IPV4_TCP}`,
    status: DecodeStatus.Ok,
    fields: IPV4_TCP_FIELDS,
  },
  {
    name: 'loop AF_INET6 24',
    link: LinkType.Loop,
    hex: `00 00 00 18 ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: IPV6_UDP_FIELDS,
  },
  // Loop is network order only: 02 00 00 00 is family 0x02000000, which is no family.
  {
    name: 'loop little-endian AF_INET',
    link: LinkType.Loop,
    hex: `02 00 00 00 ${IPV4_TCP}`,
    status: DecodeStatus.NotIp,
  },
];

const NFLOG_IPV4 = `
02 00 00 05          # 0: family AF_INET; 1: version 0; 2: group 5 (network order)
08 00 01 00          # 4: TLV length 8, type 1 NFULA_PACKET_HDR (little-endian)
08 00 03 00          # 8:   hw_protocol 0x0800, hook 3, pad
0a 00 0a 00          # 12: TLV length 10, type 10 NFULA_PREFIX
61 62 63 64 65 00    # 16:   "abcde" NUL
00 00                # 22:   padding to 4 bytes
08 00 04 00          # 24: TLV length 8, type 4 NFULA_IFINDEX_INDEV
00 00 00 03          # 28:   ifindex 3 (network order)
08 00 05 00          # 32: TLV length 8, type 5 NFULA_IFINDEX_OUTDEV
00 00 01 02          # 36:   ifindex 258
2c 00 09 00          # 40: TLV length 44 (4 + 40), type 9 NFULA_PAYLOAD
${IPV4_TCP}          # 44: the packet
`;

const nflogCases: DecodeCase[] = [
  {
    name: 'NFLOG IPv4 with prefix and interfaces',
    link: LinkType.Nflog,
    hex: NFLOG_IPV4,
    status: DecodeStatus.Ok,
    fields: {
      ...IPV4_TCP_FIELDS,
      nflogGroup: 5,
      nflogIndev: 3,
      nflogOutdev: 258,
      nflogPrefixOffset: 16,
      nflogPrefixLength: 5,
      hasSrcMac: false,
      sllPacketType: -1,
    },
  },
  {
    name: 'NFLOG payload cut by snaplen inside TCP',
    link: LinkType.Nflog,
    hex: NFLOG_IPV4,
    capLen: 44 + 20 + 4, // TLVs, IPv4 header, the port bytes of TCP
    status: DecodeStatus.Ok,
    fields: { ...IPV4_TCP_FIELDS, tcpFlags: 0, nflogIndev: 3 },
  },
  {
    name: 'NFLOG payload cut inside the IPv4 header',
    link: LinkType.Nflog,
    hex: NFLOG_IPV4,
    capLen: 44 + 19,
    status: DecodeStatus.Truncated,
  },
  {
    name: 'NFLOG IPv6, TLVs in kernel order without prefix',
    link: LinkType.Nflog,
    hex: `
      0a 00 01 00    # 0: family AF_INET6; version 0; group 256
      08 00 01 00 86 dd 01 00   # 4: NFULA_PACKET_HDR: hw_protocol IPv6, hook 1
      08 00 05 00 00 00 00 09   # 12: NFULA_IFINDEX_OUTDEV 9
      08 00 0b 00 00 00 03 e8   # 20: NFULA_UID 1000
      38 00 09 00    # 28: TLV length 56 (4 + 52), type 9 NFULA_PAYLOAD
      ${IPV6_UDP}`,
    status: DecodeStatus.Ok,
    fields: { ...IPV6_UDP_FIELDS, nflogGroup: 256, nflogIndev: 0, nflogOutdev: 9, nflogPrefixLength: 0 },
  },
  {
    name: 'NFLOG without a payload TLV',
    link: LinkType.Nflog,
    hex: `02 00 00 05 08 00 01 00 08 00 03 00 08 00 04 00 00 00 00 03`,
    status: DecodeStatus.Truncated,
    fields: { nflogGroup: 5, nflogIndev: 3 },
  },
  {
    name: 'NFLOG TLV length below its own header',
    link: LinkType.Nflog,
    hex: `02 00 00 05 02 00 09 00 ${IPV4_TCP}`,
    status: DecodeStatus.BadLength,
  },
  {
    name: 'NFLOG version 1',
    link: LinkType.Nflog,
    hex: `02 01 00 05 2c 00 09 00 ${IPV4_TCP}`,
    status: DecodeStatus.UnsupportedLink,
  },
  {
    name: 'NFLOG AF_INET carrying IPv6',
    link: LinkType.Nflog,
    hex: `02 00 00 05 38 00 09 00 ${IPV6_UDP}`,
    status: DecodeStatus.BadVersion,
  },
  {
    name: 'NFLOG header cut',
    link: LinkType.Nflog,
    hex: `02 00 00`,
    status: DecodeStatus.Truncated,
  },
];

describe('Decoder link layers', () => {
  describe('Linux cooked SLL/SLL2', () => runTable(cookedCases));
  describe('RAW, IPV4, IPV6 and unsupported', () => runTable(rawCases));
  describe('BSD null and OpenBSD loop', () => runTable(loopbackCases));
  describe('NFLOG', () => runTable(nflogCases));

  it('clears every reported field before the next frame', () => {
    const feeder = new FrameFeeder();
    expect(feeder.decodeHex(LinkType.Nflog, NFLOG_IPV4)).toBe(DecodeStatus.Ok);
    expect(feeder.decodeHex(LinkType.Raw, '')).toBe(DecodeStatus.Truncated);
    const v = feeder.view;
    expect([v.family, v.protocol, v.srcPort, v.dstPort, v.l3Bytes, v.tcpFlags]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...v.src, ...v.dst]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect([v.nflogGroup, v.nflogIndev, v.nflogOutdev, v.nflogPrefixOffset, v.nflogPrefixLength]).toEqual([
      -1, 0, 0, 0, 0,
    ]);
    expect(feeder.decodeHex(LinkType.Ethernet, `${ETH_MACS} 08 00 ${IPV4_TCP}`)).toBe(DecodeStatus.Ok);
    expect(feeder.decodeHex(LinkType.LinuxSll, SLL_IPV4_HEADER, { capLen: 10 })).toBe(DecodeStatus.Truncated);
    expect([v.hasSrcMac, v.hasDstMac, v.srcMacHi, v.srcMacLo, v.dstMacHi, v.dstMacLo, v.sllPacketType]).toEqual([
      false,
      false,
      0,
      0,
      0,
      0,
      -1,
    ]);
  });

  it('reads only the captured bytes of a reused buffer', () => {
    // The same Ethernet frame decoded from a buffer whose tail holds a longer, different frame.
    const decoder = new Decoder({ fragmentCacheSize: 4 });
    const feeder = new FrameFeeder(decoder);
    expect(feeder.decodeHex(LinkType.Ethernet, `${ETH_MACS} 08 00 ${IPV4_TCP}`, { capLen: 14 + 20 + 3 })).toBe(
      DecodeStatus.Ok,
    );
    expect([feeder.view.srcPort, feeder.view.dstPort, feeder.view.l3Bytes]).toEqual([0, 0, 40]);
  });
});
