/**
 * Overlay frames for tests, built byte by byte from the RFCs (VXLAN RFC 7348, Geneve RFC 8926),
 * independent of the decoder: outer Ethernet + IPv4/IPv6 + UDP + tunnel header + inner frame.
 * Checksums are left 0 (tshark dissects regardless; the agent never reads them).
 */
import { isIPv4 } from 'node:net';
import type { SeededRandom } from '../../src/synth/seeded-random';

export interface InnerPacket {
  /** Inner Ethernet MACs (absent: Geneve carrying IP directly). */
  srcMac?: string;
  dstMac?: string;
  /** 802.1Q tags inside the tunnel, outermost first. */
  vlans?: number[];
  src: string;
  dst: string;
  protocol: 6 | 17;
  srcPort: number;
  dstPort: number;
  /** Transport payload bytes. */
  payload: number;
}

export interface OverlayPacket {
  kind: 'vxlan' | 'geneve';
  vni: number;
  outerSrc: string;
  outerDst: string;
  /** UDP destination port of the tunnel (4789 VXLAN, 6081 Geneve by default). */
  port?: number;
  /** Geneve option bytes (a multiple of 4, at most 252). */
  geneveOptions?: number;
  inner: InnerPacket;
}

export function mac(text: string): Buffer {
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

function address(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  const [head, tail] = text.includes('::') ? text.split('::') : [text, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** An IP packet (header + transport header + payload) from `src` to `dst`. */
export function ipPacket(src: string, dst: string, protocol: number, transport: Buffer, ipId = 1): Buffer {
  if (isIPv4(src)) {
    const h = Buffer.alloc(20);
    h[0] = 0x45;
    h.writeUInt16BE(20 + transport.length, 2);
    h.writeUInt16BE(ipId, 4);
    h[8] = 64;
    h[9] = protocol;
    address(src).copy(h, 12);
    address(dst).copy(h, 16);
    return Buffer.concat([h, transport]);
  }
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(transport.length, 4);
  h[6] = protocol;
  h[7] = 64;
  address(src).copy(h, 8);
  address(dst).copy(h, 24);
  return Buffer.concat([h, transport]);
}

export function transport(protocol: number, srcPort: number, dstPort: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(protocol === 6 ? 20 : 8);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  if (protocol === 6) {
    h[12] = 0x50;
    h[13] = 0x18; // PSH ACK
  } else h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function ethernet(dst: string, src: string, vlans: number[], ethertype: number, body: Buffer): Buffer {
  const parts = [mac(dst), mac(src)];
  for (const id of vlans) {
    const tag = Buffer.alloc(4);
    tag.writeUInt16BE(0x8100, 0);
    tag.writeUInt16BE(id, 2);
    parts.push(tag);
  }
  const type = Buffer.alloc(2);
  type.writeUInt16BE(ethertype, 0);
  return Buffer.concat([...parts, type, body]);
}

/** The inner IP packet's length as its header announces it (what the record's bytes count). */
export function innerL3Bytes(p: InnerPacket): number {
  return (isIPv4(p.src) ? 20 : 40) + (p.protocol === 6 ? 20 : 8) + p.payload;
}

/** The whole outer frame of `p` (Ethernet between two hypervisor MACs). */
export function overlayFrame(p: OverlayPacket, ipId = 1): Buffer {
  const i = p.inner;
  const innerIp = ipPacket(
    i.src,
    i.dst,
    i.protocol,
    transport(i.protocol, i.srcPort, i.dstPort, Buffer.alloc(i.payload, 0x5a)),
  );
  const innerType = isIPv4(i.src) ? 0x0800 : 0x86dd;
  const { srcMac, dstMac } = i;
  if ((srcMac === undefined) !== (dstMac === undefined))
    throw new Error('overlayFrame: give both inner MACs or neither');
  const withEthernet = srcMac !== undefined && dstMac !== undefined;
  const inner = withEthernet ? ethernet(dstMac, srcMac, i.vlans ?? [], innerType, innerIp) : innerIp;
  let tunnel: Buffer;
  if (p.kind === 'vxlan') {
    tunnel = Buffer.alloc(8);
    tunnel[0] = 0x08; // I: VNI valid
    tunnel.writeUIntBE(p.vni, 4, 3);
  } else {
    const opts = p.geneveOptions ?? 0;
    tunnel = Buffer.alloc(8 + opts);
    tunnel[0] = opts / 4; // version 0, option length in words
    tunnel.writeUInt16BE(withEthernet ? 0x6558 : innerType, 2);
    tunnel.writeUIntBE(p.vni, 4, 3);
    for (let o = 0; o < opts; o += 4) {
      // one option per word: class 0x0102, type 0x01, length 0 (a 4-byte option header alone)
      tunnel.writeUInt16BE(0x0102, 8 + o);
      tunnel[8 + o + 2] = 0x01;
    }
  }
  const port = p.port ?? (p.kind === 'vxlan' ? 4789 : 6081);
  const outerUdp = transport(17, 49152 + (p.vni % 1000), port, Buffer.concat([tunnel, inner]));
  const outerIp = ipPacket(p.outerSrc, p.outerDst, 17, outerUdp, ipId);
  return ethernet('02:00:00:00:00:02', '02:00:00:00:00:01', [], isIPv4(p.outerSrc) ? 0x0800 : 0x86dd, outerIp);
}

/**
 * Splits an Ethernet + IPv4 frame into IPv4 fragments whose first carries `firstPayload` bytes
 * of IP payload (a multiple of 8): the tunnel and inner headers stay in the first fragment.
 */
export function fragmentIpv4(frame: Buffer, firstPayload: number): Buffer[] {
  const eth = frame.subarray(0, 14);
  const ip = frame.subarray(14);
  const header = ip.subarray(0, 20);
  const payload = ip.subarray(20, ip.readUInt16BE(2));
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += firstPayload) {
    const part = payload.subarray(off, off + firstPayload);
    const h = Buffer.from(header);
    h.writeUInt16BE(20 + part.length, 2);
    h.writeUInt16BE(((off + firstPayload < payload.length ? 1 : 0) << 13) | (off / 8), 6);
    out.push(Buffer.concat([eth, h, part]));
  }
  return out;
}

/** A random pick from `items` (seeded). */
export function pick<T>(rng: SeededRandom, items: readonly T[]): T {
  return items[rng.nextInt(items.length)];
}
