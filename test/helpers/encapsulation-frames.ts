/**
 * Frames of the data-centre and serial encapsulations for tests, built byte by byte from their
 * specifications, independent of the decoder: 802.1BR E-Tag, Cisco VN-Tag, NSH (RFC 8300),
 * Cisco FabricPath, PPPoE session (RFC 2516), PPP (RFC 1661/1662), Cisco HDLC; stacked in any
 * order over an IP packet. Each layer is [ethertype-or-protocol announcing it, its header bytes].
 */
import type { SeededRandom } from '../../src/synth/seeded-random';
import { ipPacket, mac, pick, transport, type InnerPacket } from './overlay-frames';

/** A layer between the link header and IP, outermost first. */
export type Shim =
  'vlan' | 'qinq' | 'etag' | 'vntag' | 'fabricpath' | 'nsh-md1' | 'nsh-md2' | 'nsh-eth' | 'pppoe' | 'mpls';

/** The IP packet under the shims: an overlay's inner packet without its link header. */
export type IpSpec = Omit<InnerPacket, 'srcMac' | 'dstMac' | 'vlans'>;

/** NSH next protocol of what an NSH header can carry directly, by the ethertype naming it. */
const NSH_NEXT: Record<number, number> = { 0x0800: 1, 0x86dd: 2, 0x894f: 4, 0x8847: 5 };

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
};

export function ipBytes(p: IpSpec, ipId = 1): Buffer {
  return ipPacket(
    p.src,
    p.dst,
    p.protocol,
    transport(p.protocol, p.srcPort, p.dstPort, Buffer.alloc(p.payload, 0x5a)),
    ipId,
  );
}

/**
 * `shims` then the IP packet, as the bytes after an ethertype field, and the ethertype that
 * announces them. MPLS must come last (it does not say what it carries: IP follows).
 */
export function shimmed(shims: readonly Shim[], ip: Buffer): { ethertype: number; body: Buffer } {
  let ethertype = ip[0] >> 4 === 4 ? 0x0800 : 0x86dd;
  let body = ip;
  // Built inside out: each layer wraps what follows and names it.
  for (let i = shims.length - 1; i >= 0; i--) {
    const s = shims[i];
    const next = u16(ethertype);
    if (s === 'vlan' || s === 'qinq') {
      body = Buffer.concat([u16(100 + i), next, body]); // TCI: VLAN id; inner ethertype
      ethertype = s === 'vlan' ? 0x8100 : 0x88a8;
    } else if (s === 'etag') {
      body = Buffer.concat([Buffer.from([0x20, 0x00, 0x10, 0x05 + i, 0x00, 0x00]), next, body]);
      ethertype = 0x893f;
    } else if (s === 'vntag') {
      body = Buffer.concat([Buffer.from([0x80, 0x07, 0x00, 0x03]), next, body]);
      ethertype = 0x8926;
    } else if (s === 'fabricpath') {
      // FTag/TTL, then the original frame's MACs and its ethertype.
      body = Buffer.concat([Buffer.from([0x00, 0x5f]), mac('00:16:3e:00:00:0a'), mac('00:16:3e:00:00:0b'), next, body]);
      ethertype = 0x8903;
    } else if (s === 'nsh-md1' || s === 'nsh-md2' || s === 'nsh-eth') {
      const proto = s === 'nsh-eth' ? 3 : NSH_NEXT[ethertype];
      if (proto === undefined)
        throw new Error(`build NSH: it carries no ethertype 0x${ethertype.toString(16)} (use nsh-eth)`);
      const inner =
        s === 'nsh-eth' ? Buffer.concat([mac('00:16:3e:00:00:0c'), mac('00:16:3e:00:00:0d'), next, body]) : body;
      const words = s === 'nsh-md1' ? 6 : 2;
      const header = Buffer.alloc(words * 4);
      header.writeUInt16BE(0x0fc0 | words, 0); // version 0, TTL 63, length
      header[2] = s === 'nsh-md1' ? 1 : 2; // MD type
      header[3] = proto;
      header.writeUInt32BE((42 << 8) | 255, 4); // service path 42, index 255
      body = Buffer.concat([header, inner]);
      ethertype = 0x894f;
    } else if (s === 'pppoe') {
      const ppp = ethertype === 0x0800 ? 0x0021 : ethertype === 0x86dd ? 0x0057 : 0x0281;
      const h = Buffer.from([0x11, 0x00, 0x12, 0x34, 0, 0]);
      h.writeUInt16BE(body.length + 2, 4); // PPP payload length, protocol field included
      body = Buffer.concat([h, u16(ppp), body]);
      ethertype = 0x8864;
    } else {
      body = Buffer.concat([Buffer.from([0x00, 0x01, 0x01, 0x40]), body]); // label 16, bottom of stack, TTL 64
      ethertype = 0x8847;
    }
  }
  return { ethertype, body };
}

/** An Ethernet frame: MACs, the shims, the IP packet. */
export function ethernetFrame(shims: readonly Shim[], ip: Buffer): Buffer {
  const { ethertype, body } = shimmed(shims, ip);
  return Buffer.concat([mac('02:00:00:00:00:02'), mac('02:00:00:00:00:01'), u16(ethertype), body]);
}

export type SerialFraming = 'ppp-hdlc' | 'ppp-bare' | 'cisco-hdlc';

/** A frame of link type PPP (9), PPP_HDLC (50) or Cisco HDLC (104); `mpls`: an MPLS label in between. */
export function serialFrame(framing: SerialFraming, ip: Buffer, mpls: boolean): Buffer {
  const v4 = ip[0] >> 4 === 4;
  const payload = mpls ? Buffer.concat([Buffer.from([0x00, 0x01, 0x01, 0x40]), ip]) : ip;
  if (framing === 'cisco-hdlc')
    return Buffer.concat([Buffer.from([0x0f, 0x00]), u16(mpls ? 0x8847 : v4 ? 0x0800 : 0x86dd), payload]);
  const protocol = u16(mpls ? 0x0281 : v4 ? 0x0021 : 0x0057);
  return Buffer.concat([framing === 'ppp-hdlc' ? Buffer.from([0xff, 0x03]) : Buffer.alloc(0), protocol, payload]);
}

const HOSTS4 = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '192.0.2.7'];
const HOSTS6 = ['fd00::1', 'fd00::2', '2001:db8::7'];

/** A random IP packet of a small address and port plan, so flows repeat and aggregate. */
export function randomIp(rng: SeededRandom): IpSpec {
  const hosts = rng.nextInt(3) === 0 ? HOSTS6 : HOSTS4;
  const src = pick(rng, hosts);
  let dst = pick(rng, hosts);
  if (dst === src) dst = hosts[(hosts.indexOf(src) + 1) % hosts.length];
  return {
    src,
    dst,
    protocol: rng.nextInt(2) === 0 ? 6 : 17,
    srcPort: 40000 + rng.nextInt(4),
    dstPort: pick(rng, [53, 443, 8080]),
    payload: rng.nextInt(300),
  };
}
