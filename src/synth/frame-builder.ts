/**
 * Builds Ethernet (+ optional 802.1Q tags) / IPv4 or IPv6 / TCP, UDP, ICMP or ICMPv6 frames
 * with correct length fields and checksums, into one reused buffer. The payload is a fixed
 * byte pattern whose 16-bit sums are precomputed, so a checksum over any payload length costs
 * O(1) and building millions of frames stays fast.
 */

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
/** Frames shorter than this (without FCS) are padded by a NIC on the wire. */
export const ETHERNET_MIN_FRAME_BYTES = 60;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

/** Header bytes above IP for each transport the builder writes. */
export function transportHeaderBytes(protocol: number): number {
  return protocol === PROTO_TCP ? 20 : 8; // UDP, ICMP and ICMPv6 echo are all 8
}

/** Header bytes of the IP layer (no IPv4 options, no IPv6 extension headers). */
export function ipHeaderBytes(family: 4 | 6): number {
  return family === 4 ? 20 : 40;
}

/**
 * What to build. Owned by the caller and read only during `FrameBuilder.build`; the generator
 * keeps one and overwrites it per packet.
 */
export interface FrameSpec {
  /** 6 bytes each. */
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  /** 802.1Q VLAN ids, outermost first; empty for an untagged frame. */
  vlanIds: readonly number[];
  family: 4 | 6;
  /** 4 bytes for IPv4, 16 for IPv6. */
  srcIp: Uint8Array;
  dstIp: Uint8Array;
  /** PROTO_TCP, PROTO_UDP, PROTO_ICMP (IPv4) or PROTO_ICMPV6 (IPv6). */
  protocol: number;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  tcpSeq: number;
  tcpAck: number;
  /** ICMP/ICMPv6 type and code; echo id and sequence. */
  icmpType: number;
  icmpCode: number;
  icmpId: number;
  icmpSeq: number;
  /** Bytes of application payload after the transport header. */
  payloadBytes: number;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl: number;
  /** IPv4 identification. */
  ipId: number;
  /** Pad frames shorter than 60 bytes with zeros, as a receiving NIC delivers them. */
  padToEthernetMinimum: boolean;
}

/** A spec with neutral defaults (TCP over IPv4, no payload), to be filled in by the caller. */
export function newFrameSpec(): FrameSpec {
  return {
    srcMac: new Uint8Array(6),
    dstMac: new Uint8Array(6),
    vlanIds: [],
    family: 4,
    srcIp: new Uint8Array(4),
    dstIp: new Uint8Array(4),
    protocol: PROTO_TCP,
    srcPort: 0,
    dstPort: 0,
    tcpFlags: 0x10,
    tcpSeq: 0,
    tcpAck: 0,
    icmpType: 8,
    icmpCode: 0,
    icmpId: 0,
    icmpSeq: 0,
    payloadBytes: 0,
    ttl: 64,
    ipId: 0,
    padToEthernetMinimum: false,
  };
}

/** Lengths of the frame last built; a reused object owned by the builder. */
export interface BuiltFrame {
  /** Bytes on the wire, including Ethernet padding. */
  wireLen: number;
  /** Bytes captured: min(wireLen, snapLen). */
  capLen: number;
  /** IPv4 total length, or 40 + IPv6 payload length. */
  l3Bytes: number;
}

/** Largest IP payload the builder accepts (IPv4 total length is 16 bits). */
const MAX_L3_BYTES = 65535;
const PATTERN_BYTES = 65536;

export class FrameBuilder {
  /** The frame of the last `build`; overwritten by the next one. */
  readonly frame: Buffer;
  private readonly result: BuiltFrame = { wireLen: 0, capLen: 0, l3Bytes: 0 };
  private readonly pattern: Buffer;
  /** wordSums[k] = sum of the first k big-endian 16-bit words of the pattern (exact in a double). */
  private readonly wordSums: Float64Array;

  constructor() {
    this.frame = Buffer.alloc(14 + 4 * 8 + MAX_L3_BYTES + ETHERNET_MIN_FRAME_BYTES);
    this.pattern = Buffer.allocUnsafe(PATTERN_BYTES);
    // A recognisable, non-constant payload (so a wrong checksum over it cannot pass by accident).
    for (let i = 0; i < PATTERN_BYTES; i++) this.pattern[i] = (i * 7 + 0x41) & 0xff;
    this.wordSums = new Float64Array(PATTERN_BYTES / 2 + 1);
    for (let k = 0; k < PATTERN_BYTES / 2; k++) {
      this.wordSums[k + 1] = this.wordSums[k] + ((this.pattern[2 * k] << 8) | this.pattern[2 * k + 1]);
    }
  }

  /**
   * Build `spec` into `frame`. Only the first `capLen` bytes are guaranteed written (payload
   * past the snap length is skipped); length fields and checksums describe the full packet.
   * @throws RangeError when the packet would exceed 65535 bytes of IP or a VLAN id is invalid
   */
  build(spec: FrameSpec, snapLen: number = Number.MAX_SAFE_INTEGER): BuiltFrame {
    const f = this.frame;
    const l4Header = transportHeaderBytes(spec.protocol);
    const l4Bytes = l4Header + spec.payloadBytes;
    const l3Bytes = ipHeaderBytes(spec.family) + l4Bytes;
    if (spec.payloadBytes < 0 || l3Bytes > MAX_L3_BYTES) {
      throw new RangeError(`build frame: IP packet of ${l3Bytes} bytes is outside 0..${MAX_L3_BYTES}`);
    }
    f.set(spec.dstMac, 0);
    f.set(spec.srcMac, 6);
    let o = 12;
    for (const vid of spec.vlanIds) {
      if (vid < 0 || vid > 4094) throw new RangeError(`build frame: VLAN id ${vid} is outside 0..4094`);
      f.writeUInt16BE(ETHERTYPE_VLAN, o);
      f.writeUInt16BE(vid, o + 2); // PCP 0, DEI 0
      o += 4;
    }
    f.writeUInt16BE(spec.family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6, o);
    o += 2;
    const l3At = o;
    let pseudoSum: number;
    if (spec.family === 4) {
      f[o] = 0x45;
      f[o + 1] = 0;
      f.writeUInt16BE(l3Bytes, o + 2);
      f.writeUInt16BE(spec.ipId & 0xffff, o + 4);
      f.writeUInt16BE(0x4000, o + 6); // DF, offset 0
      f[o + 8] = spec.ttl;
      f[o + 9] = spec.protocol;
      f.writeUInt16BE(0, o + 10);
      f.set(spec.srcIp, o + 12);
      f.set(spec.dstIp, o + 16);
      f.writeUInt16BE(finish(sumWords(f, o, 20)), o + 10);
      pseudoSum = sumWords(f, o + 12, 8) + spec.protocol + l4Bytes;
      o += 20;
    } else {
      f.writeUInt32BE(0x60000000, o); // version 6, traffic class 0, flow label 0
      f.writeUInt16BE(l4Bytes, o + 4);
      f[o + 6] = spec.protocol;
      f[o + 7] = spec.ttl;
      f.set(spec.srcIp, o + 8);
      f.set(spec.dstIp, o + 24);
      pseudoSum = sumWords(f, o + 8, 32) + l4Bytes + spec.protocol;
      o += 40;
    }
    const l4At = o;
    switch (spec.protocol) {
      case PROTO_TCP:
        f.writeUInt16BE(spec.srcPort, o);
        f.writeUInt16BE(spec.dstPort, o + 2);
        f.writeUInt32BE(spec.tcpSeq >>> 0, o + 4);
        f.writeUInt32BE(spec.tcpAck >>> 0, o + 8);
        f[o + 12] = 5 << 4; // data offset: 20 bytes, no options
        f[o + 13] = spec.tcpFlags;
        f.writeUInt16BE(64240, o + 14); // window
        f.writeUInt32BE(0, o + 16); // checksum, urgent pointer
        break;
      case PROTO_UDP:
        f.writeUInt16BE(spec.srcPort, o);
        f.writeUInt16BE(spec.dstPort, o + 2);
        f.writeUInt16BE(l4Bytes, o + 4);
        f.writeUInt16BE(0, o + 6);
        break;
      case PROTO_ICMP:
      case PROTO_ICMPV6:
        f[o] = spec.icmpType;
        f[o + 1] = spec.icmpCode;
        f.writeUInt16BE(0, o + 2);
        f.writeUInt16BE(spec.icmpId, o + 4);
        f.writeUInt16BE(spec.icmpSeq, o + 6);
        break;
      default:
        throw new RangeError(`build frame: protocol ${spec.protocol} is not TCP, UDP, ICMP or ICMPv6`);
    }
    // ICMPv4 has no pseudo-header; TCP, UDP and ICMPv6 do.
    const withPseudo = spec.protocol !== PROTO_ICMP;
    const sum = (withPseudo ? pseudoSum : 0) + sumWords(f, l4At, l4Header) + this.payloadSum(spec.payloadBytes);
    let check = finish(sum);
    if (spec.protocol === PROTO_UDP && check === 0) check = 0xffff; // 0 means "no checksum" in UDP
    const checkAt = spec.protocol === PROTO_TCP ? l4At + 16 : spec.protocol === PROTO_UDP ? l4At + 6 : l4At + 2;
    f.writeUInt16BE(check, checkAt);
    o += l4Header;

    const ipEnd = l3At + l3Bytes;
    let wireLen = ipEnd;
    if (spec.padToEthernetMinimum && wireLen < ETHERNET_MIN_FRAME_BYTES) wireLen = ETHERNET_MIN_FRAME_BYTES;
    const capLen = Math.min(wireLen, snapLen);
    // Write only the payload bytes that will be captured.
    const payloadWritten = Math.max(0, Math.min(spec.payloadBytes, capLen - o));
    if (payloadWritten > 0) this.pattern.copy(f, o, 0, payloadWritten);
    if (wireLen > ipEnd && capLen > ipEnd) f.fill(0, ipEnd, Math.min(wireLen, capLen));

    const r = this.result;
    r.wireLen = wireLen;
    r.capLen = capLen;
    r.l3Bytes = l3Bytes;
    return r;
  }

  /** One's-complement-ready sum of the first `n` payload bytes (the payload starts word aligned). */
  private payloadSum(n: number): number {
    const words = n >>> 1;
    let s = this.wordSums[words];
    if (n & 1) s += this.pattern[n - 1] << 8;
    return s;
  }
}

/** Sum of big-endian 16-bit words of buf[at, at+len); an odd last byte is the high byte of a word. */
function sumWords(buf: Uint8Array, at: number, len: number): number {
  let s = 0;
  const end = at + (len & ~1);
  for (let i = at; i < end; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (len & 1) s += buf[at + len - 1] << 8;
  return s;
}

/** Fold a sum (exact in a double, up to 2^53) to 16 bits and complement it. */
function finish(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}
