import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { OverlayDecoder } from '../../../src/packet/decode/overlay-decoder';
import { DecodeStatus, PacketView } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { formatAddress } from '../../../src/flow/address-format';
import { fragmentIpv4, innerL3Bytes, overlayFrame, type OverlayPacket } from '../../helpers/overlay-frames';

const PORTS = { vxlan: [4789, 8472], geneve: [6081] };

function decodeWith(
  decoder: OverlayDecoder,
  frame: Buffer,
  capLen = frame.length,
): { status: number; view: PacketView } {
  const view = new PacketView();
  view.capLen = capLen;
  view.wireLen = frame.length;
  return { status: decoder.decodeOverlay(LinkType.Ethernet, frame, view), view };
}

function summary(v: PacketView): Record<string, unknown> {
  return {
    family: v.family,
    src: formatAddress(v.family, v.src, 0),
    dst: formatAddress(v.family, v.dst, 0),
    protocol: v.protocol,
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    l3Bytes: v.l3Bytes,
    vni: v.vni,
    tunnelSrc: v.vni < 0 ? '-' : formatAddress(v.tunnelFamily, v.tunnelSrc, 0),
    tunnelDst: v.vni < 0 ? '-' : formatAddress(v.tunnelFamily, v.tunnelDst, 0),
    srcMac: v.hasSrcMac ? (v.srcMacHi * 2 ** 32 + (v.srcMacLo >>> 0)).toString(16) : '-',
  };
}

const CASES: Array<{ name: string; packet: OverlayPacket }> = [
  {
    name: 'VXLAN over IPv4, inner Ethernet + 802.1Q + IPv4 TCP',
    packet: {
      kind: 'vxlan',
      vni: 100,
      outerSrc: '192.168.1.1',
      outerDst: '192.168.1.2',
      inner: {
        srcMac: '00:16:3e:00:00:01',
        dstMac: '00:16:3e:00:00:02',
        vlans: [7],
        src: '10.0.0.1',
        dst: '10.0.0.2',
        protocol: 6,
        srcPort: 1000,
        dstPort: 80,
        payload: 100,
      },
    },
  },
  {
    name: 'VXLAN on another configured port (Linux 8472), QinQ inside',
    packet: {
      kind: 'vxlan',
      vni: 16777215,
      port: 8472,
      outerSrc: '192.168.1.1',
      outerDst: '192.168.1.3',
      inner: {
        srcMac: '00:16:3e:00:00:01',
        dstMac: '00:16:3e:00:00:03',
        vlans: [10, 20],
        src: '10.0.0.1',
        dst: '10.0.0.3',
        protocol: 17,
        srcPort: 53,
        dstPort: 9999,
        payload: 3,
      },
    },
  },
  {
    name: 'Geneve over IPv6 with 12 option bytes, inner Ethernet + IPv6 UDP',
    packet: {
      kind: 'geneve',
      vni: 7,
      geneveOptions: 12,
      outerSrc: 'fd00::1',
      outerDst: 'fd00::2',
      inner: {
        srcMac: '00:16:3e:00:00:09',
        dstMac: '00:16:3e:00:00:0a',
        src: '2001:db8::1',
        dst: '2001:db8::2',
        protocol: 17,
        srcPort: 5000,
        dstPort: 6000,
        payload: 40,
      },
    },
  },
  {
    name: 'Geneve carrying IPv4 directly (protocol type 0x0800): no inner MACs',
    packet: {
      kind: 'geneve',
      vni: 0,
      outerSrc: '192.168.7.1',
      outerDst: '192.168.7.2',
      inner: { src: '172.16.0.1', dst: '172.16.0.2', protocol: 6, srcPort: 443, dstPort: 50000, payload: 0 },
    },
  },
];

describe('OverlayDecoder', () => {
  it.each(CASES.map((c) => [c.name, c.packet] as const))('%s', (_name, p) => {
    const { status, view } = decodeWith(new OverlayDecoder({ fragmentCacheSize: 16 }, PORTS), overlayFrame(p));
    expect(status).toBe(DecodeStatus.Ok);
    expect(summary(view)).toEqual({
      family: p.inner.src.includes(':') ? 6 : 4,
      src: p.inner.src,
      dst: p.inner.dst,
      protocol: p.inner.protocol,
      srcPort: p.inner.srcPort,
      dstPort: p.inner.dstPort,
      l3Bytes: innerL3Bytes(p.inner),
      vni: p.vni,
      tunnelSrc: p.outerSrc,
      tunnelDst: p.outerDst,
      srcMac: p.inner.srcMac === undefined ? '-' : p.inner.srcMac.replace(/:/g, '').replace(/^0+/, ''),
    });
  });

  it('leaves tunnels alone in the plain decoder, and on ports not configured', () => {
    const p = CASES[0].packet;
    const frame = overlayFrame(p);
    const view = new PacketView();
    view.capLen = view.wireLen = frame.length;
    expect(new Decoder({ fragmentCacheSize: 16 }).decode(LinkType.Ethernet, frame, view)).toBe(DecodeStatus.Ok);
    expect([formatAddress(4, view.src, 0), view.dstPort, view.vni]).toEqual(['192.168.1.1', 4789, -1]);
    const other = decodeWith(new OverlayDecoder({ fragmentCacheSize: 16 }, { vxlan: [4790], geneve: [] }), frame);
    expect([other.status, formatAddress(4, other.view.src, 0), other.view.vni]).toEqual([
      DecodeStatus.Ok,
      '192.168.1.1',
      -1,
    ]);
  });

  it('counts the inner packet at the first outer fragment and skips the later ones', () => {
    const d = new OverlayDecoder({ fragmentCacheSize: 16 }, PORTS);
    const p = { ...CASES[0].packet, inner: { ...CASES[0].packet.inner, payload: 1200 } };
    const fragments = fragmentIpv4(overlayFrame(p, 77), 400);
    expect(fragments).toHaveLength(4);
    const results = fragments.map((f) => decodeWith(d, f));
    expect(results.map((r) => r.status)).toEqual([
      DecodeStatus.Ok,
      DecodeStatus.TunnelFragment,
      DecodeStatus.TunnelFragment,
      DecodeStatus.TunnelFragment,
    ]);
    expect(summary(results[0].view)).toMatchObject({
      src: '10.0.0.1',
      srcPort: 1000,
      l3Bytes: innerL3Bytes(p.inner),
      vni: 100,
    });
  });

  it('refuses cut and malformed tunnels by status, never throws', () => {
    const d = new OverlayDecoder({ fragmentCacheSize: 16 }, PORTS);
    const vxlan = overlayFrame(CASES[0].packet);
    // 14 Ethernet + 20 IPv4 + 8 UDP = 42: the VXLAN header ends at 50, the inner Ethernet at 64.
    expect(decodeWith(d, vxlan, 46).status).toBe(DecodeStatus.Truncated);
    expect(decodeWith(d, vxlan, 60).status).toBe(DecodeStatus.Truncated);
    const geneve = Buffer.from(overlayFrame(CASES[3].packet));
    geneve[42] |= 0x40; // version 1
    expect(decodeWith(d, geneve).status).toBe(DecodeStatus.BadVersion);
    const arp = Buffer.from(overlayFrame(CASES[0].packet));
    arp.writeUInt16BE(0x0806, 50 + 12 + 4); // the inner ethertype after the VLAN tag
    expect(decodeWith(d, arp).status).toBe(DecodeStatus.NotIp);
    for (let cut = 0; cut <= vxlan.length; cut++) expect(() => decodeWith(d, vxlan, cut)).not.toThrow();
  });
});
