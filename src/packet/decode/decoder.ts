import { readI32, readU16, readU16Le, readU32 } from '../../capture/byte-reads';
import { decodeEthernetIp } from './ethernet-ip-lane';
import type { DecoderOptions } from './ip-decoder';
import { LinkDecoder } from './link-decoder';
import { LinkType } from '../../capture/link-types';
import { DecodeStatus, resetLinkExtras, type PacketView } from './packet-view';

export type { DecoderOptions } from './ip-decoder';

/** Largest 802.3 length field; larger values (from 0x0600) are ethertypes. */
const ETHER_MAX_LENGTH_FIELD = 1500;
const ARPHRD_NETLINK = 824; // SLL captures of netlink sockets: the protocol is a netlink family
const SLL_PROTOCOL_802_2 = 0x0004; // SLL: the payload starts with an 802.2 LLC header

const NFLOG_HEADER_LEN = 4;
const NFULA_IFINDEX_INDEV = 4;
const NFULA_IFINDEX_OUTDEV = 5;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const NFPROTO_ARP = 3;

/** DataViews kept by a decoder: more than a host's capture handles (one per ENI, plus NFLOG groups). */
const MAX_FRAME_VIEWS = 64;
/** Once that many are kept, a new view per this many frames of buffers without one. */
const VIEW_REFILL_FRAMES = 4096;

/** Address family values of BSD null/loopback headers; AF_INET6 differs between systems. */
function familyVersion(af: number): number {
  if (af === 2) return 4; // AF_INET everywhere
  if (af === 10 || af === 24 || af === 28 || af === 30) return 6; // Linux, Net/OpenBSD, FreeBSD, Darwin
  return 0;
}

/**
 * Turns one captured frame into the fields of a `PacketView`.
 *
 * Lifecycle: one decoder per capture source, used from one thread; it holds the bounded
 * fragment cache, so later fragments are joined only with first fragments this same decoder
 * saw. `decode` never throws and never allocates, whatever the bytes: it returns a status and
 * the caller counts it. Counters are plain fields (inherited from `IpDecoder`), read by the
 * metrics stage; the decoder never resets them.
 *
 * Lengths: `view.l3Bytes` is the length the IP header announces, never the captured length.
 * Tags, shims and serial framings between the link header and IP: link-decoder.ts.
 * Tunnels (GRE, VXLAN, Geneve, IP-in-IP) are not descended: the outer header is the flow
 * (OverlayDecoder, overlay-decoder.ts, opens VXLAN and Geneve on the devices that carry them).
 */
export class Decoder extends LinkDecoder {
  /** The frame buffer of the last call and a DataView over it, for the fast lane. */
  private lastFrame: Uint8Array | null = null;
  private lastData: DataView = new DataView(new ArrayBuffer(0));
  /** DataViews of the frame buffers seen lately, most recent last (see dataOf). */
  private readonly frames: Uint8Array[] = [];
  private readonly datas: DataView[] = [];
  private uncachedFrames = 0;

  constructor(opts: DecoderOptions) {
    super(opts);
  }

  /**
   * Decodes bytes [view.frameOffset, view.frameOffset + view.capLen) of `frame` (the capture
   * source's reused buffer) as a frame of `linkType`. The caller sets `view.tsSec/tsUsec/capLen/
   * wireLen/frameOffset` first; every other view
   * field is overwritten here, and is meaningful only when the result is `DecodeStatus.Ok`
   * (MAC, SLL and NFLOG fields are filled as soon as their header is read).
   */
  decode(linkType: number, frame: Uint8Array, view: PacketView): DecodeStatus {
    // Positions below are absolute in `frame`: the frame starts at `base` (a file reader hands
    // packets over in place, inside its read chunk) and its captured bytes end at `end`.
    const base = view.frameOffset;
    const held = frame.length - base;
    // Written so that every comparison runs on every packet: a branch first taken after V8 has
    // optimized this function (a packet ending exactly at the end of a read chunk) deoptimizes it.
    let captured = view.capLen;
    if (captured > held) captured = held;
    if (captured < 0) captured = 0;
    const end = base + captured;
    // Sources reuse one buffer for every frame (a file reader's chunk, a live handle's frame), so
    // this is an identity check on nearly every packet.
    const data = frame === this.lastFrame ? this.lastData : this.dataOf(frame);
    if (linkType === LinkType.Ethernet && data !== null && decodeEthernetIp(frame, data, base, end, view))
      return DecodeStatus.Ok;
    return this.decodeLink(linkType, frame, base, end, captured, view);
  }

  /** `decode` without the fast lane, so the IP layer's transport positions are set (overlay). */
  protected decodeSlow(linkType: number, frame: Uint8Array, view: PacketView): DecodeStatus {
    const base = view.frameOffset;
    const held = frame.length - base;
    const captured = view.capLen > held ? held : view.capLen < 0 ? 0 : view.capLen;
    return this.decodeLink(linkType, frame, base, base + captured, captured, view);
  }

  private decodeLink(
    linkType: number,
    frame: Uint8Array,
    base: number,
    end: number,
    captured: number,
    view: PacketView,
  ): DecodeStatus {
    resetView(view);
    // A wire length below the captured length is corrupt; never infer lengths below what we hold.
    const wireEnd = base + (view.wireLen > captured ? view.wireLen : captured);
    switch (linkType) {
      case LinkType.Ethernet:
        return this.decodeEthernet(frame, base, end, wireEnd, view);
      case LinkType.LinuxSll:
        return this.decodeSll(frame, base, end, wireEnd, view);
      case LinkType.LinuxSll2:
        return this.decodeSll2(frame, base, end, wireEnd, view);
      case LinkType.Raw:
      case LinkType.RawOpenBsd:
      case LinkType.RawAlt:
        return this.decodeIp(frame, base, end, wireEnd, 0, view);
      case LinkType.Ipv4:
        return this.decodeIp(frame, base, end, wireEnd, 4, view);
      case LinkType.Ipv6:
        return this.decodeIp(frame, base, end, wireEnd, 6, view);
      case LinkType.Nflog:
        return this.decodeNflog(frame, base, end, view);
      case LinkType.Null:
      case LinkType.Loop:
        return this.decodeLoopback(linkType, frame, base, end, wireEnd, view);
      case LinkType.Ppp:
      case LinkType.PppHdlc:
        return this.decodePppLink(frame, base, end, wireEnd, view);
      case LinkType.CiscoHdlc:
        return this.decodeCiscoHdlc(frame, base, end, wireEnd, view);
      default:
        return DecodeStatus.UnsupportedLink;
    }
  }

  /**
   * A DataView over `frame`, made once per buffer: a daemon's decoder sees the frame buffers of
   * all its handles in turn, one dispatch batch at a time. Up to MAX_FRAME_VIEWS are kept. A
   * caller that hands over a new buffer per frame would make one per packet: once the cache is
   * full, such frames skip the fast lane (null), and only one in VIEW_REFILL_FRAMES of them
   * replaces the least recent view, so a reopened handle's new buffer still gets one.
   */
  private dataOf(frame: Uint8Array): DataView | null {
    let i = this.frames.indexOf(frame);
    if (i < 0) {
      if (this.frames.length === MAX_FRAME_VIEWS) {
        if (++this.uncachedFrames < VIEW_REFILL_FRAMES) return null;
        this.uncachedFrames = 0;
        this.frames.shift();
        this.datas.shift();
      }
      this.frames.push(frame);
      this.datas.push(new DataView(frame.buffer, frame.byteOffset, frame.byteLength));
      i = this.frames.length - 1;
    }
    this.lastFrame = frame;
    this.lastData = this.datas[i];
    return this.lastData;
  }

  protected decodeEthernet(frame: Uint8Array, b: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    if (end - b < 14) return DecodeStatus.Truncated;
    view.dstMacHi = readU16(frame, b); // 0: destination MAC
    view.dstMacLo = readI32(frame, b + 2);
    view.hasDstMac = true;
    this.setSrcMac(frame, b + 6, view); // 6: source MAC
    return this.decodeEthertype(frame, b + 14, readU16(frame, b + 12), end, wireEnd, view); // 12: ethertype
  }

  /** Linux cooked capture v1: 16-byte header. */
  private decodeSll(frame: Uint8Array, b: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    if (end - b < 16) return DecodeStatus.Truncated;
    view.sllPacketType = readU16(frame, b); // 0: packet type
    const hardwareType = readU16(frame, b + 2); // 2: ARPHRD_ type
    const addressLen = readU16(frame, b + 4); // 4: link-layer address length
    if (addressLen === 6) this.setSrcMac(frame, b + 6, view); // 6: address (8 bytes, zero padded)
    if (hardwareType === ARPHRD_NETLINK) return DecodeStatus.NotIp;
    return this.decodeSllProtocol(frame, b + 16, readU16(frame, b + 14), end, wireEnd, view); // 14: protocol
  }

  /** Linux cooked capture v2: 20-byte header. */
  private decodeSll2(frame: Uint8Array, b: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    if (end - b < 20) return DecodeStatus.Truncated;
    const protocol = readU16(frame, b); // 0: protocol; 2: reserved; 4: interface index
    const hardwareType = readU16(frame, b + 8); // 8: ARPHRD_ type
    view.sllPacketType = frame[b + 10]; // 10: packet type
    if (frame[b + 11] === 6) this.setSrcMac(frame, b + 12, view); // 11: address length; 12: address (8 bytes)
    if (hardwareType === ARPHRD_NETLINK) return DecodeStatus.NotIp;
    return this.decodeSllProtocol(frame, b + 20, protocol, end, wireEnd, view);
  }

  private decodeSllProtocol(
    frame: Uint8Array,
    pos: number,
    protocol: number,
    end: number,
    wireEnd: number,
    view: PacketView,
  ): DecodeStatus {
    // Below 0x0600 the SLL protocol is a Linux ETH_P_ pseudo-protocol, not an 802.3 length.
    if (protocol === SLL_PROTOCOL_802_2) return this.decodeEthertype(frame, pos, 0, end, wireEnd, view);
    if (protocol <= ETHER_MAX_LENGTH_FIELD) return DecodeStatus.NotIp;
    return this.decodeEthertype(frame, pos, protocol, end, wireEnd, view);
  }

  /** BSD null (0: host-order AF, either byte order accepted) and OpenBSD loop (108: network order). */
  private decodeLoopback(
    linkType: number,
    frame: Uint8Array,
    b: number,
    end: number,
    wireEnd: number,
    view: PacketView,
  ): DecodeStatus {
    if (end - b < 4) return DecodeStatus.Truncated;
    let af = readU32(frame, b); // 0: address family
    if (linkType === LinkType.Null && (af & 0xffff) === 0) {
      // Written in the capturing host's byte order, which the file does not record. Family
      // numbers are small: read big-endian, one that lands in the high half was little-endian.
      af = ((frame[b + 3] << 24) | (frame[b + 2] << 16) | (frame[b + 1] << 8) | frame[b]) >>> 0;
    }
    const version = familyVersion(af);
    if (version === 0) return DecodeStatus.NotIp;
    return this.decodeIp(frame, b + 4, end, wireEnd, version, view);
  }

  /**
   * NFLOG: 4-byte header (0: family; 1: version 0; 2: group, network order), then TLVs whose
   * length and type are in host order, each padded to 4 bytes. libpcap converts them to the
   * reading host's order (also for savefiles from other hosts), read here as little-endian:
   * the agent runs on x86-64 and arm64.
   */
  private decodeNflog(frame: Uint8Array, b: number, end: number, view: PacketView): DecodeStatus {
    if (end - b < NFLOG_HEADER_LEN) return DecodeStatus.Truncated;
    if (frame[b + 1] !== 0) return DecodeStatus.UnsupportedLink; // unknown NFLOG header version
    const family = frame[b];
    view.nflogGroup = readU16(frame, b + 2);
    let payloadOff = -1;
    let payloadEnd = 0;
    let pos = b + NFLOG_HEADER_LEN;
    while (pos + 4 <= end) {
      const tlvLen = readU16Le(frame, pos); // 0: length, including this 4-byte header
      const tlvType = readU16Le(frame, pos + 2) & 0x3fff; // 2: type, without the nested/byte-order flags
      if (tlvLen < 4) return DecodeStatus.BadLength;
      const valueOff = pos + 4;
      const valueEnd = pos + tlvLen;
      if (tlvType === NFULA_PAYLOAD) {
        // A short snaplen cuts the payload; its length still says how long the packet was.
        payloadOff = valueOff;
        payloadEnd = valueEnd;
      } else if (valueEnd <= end) {
        if ((tlvType === NFULA_IFINDEX_INDEV || tlvType === NFULA_IFINDEX_OUTDEV) && tlvLen >= 8) {
          const ifindex = readU32(frame, valueOff); // network order
          if (tlvType === NFULA_IFINDEX_INDEV) view.nflogIndev = ifindex;
          else view.nflogOutdev = ifindex;
        } else if (tlvType === NFULA_PREFIX) {
          // NUL-terminated string: the range stops at the first NUL.
          let stop = valueOff;
          while (stop < valueEnd && frame[stop] !== 0) stop++;
          view.nflogPrefixOffset = valueOff;
          view.nflogPrefixLength = stop - valueOff;
        }
      }
      pos += (tlvLen + 3) & ~3;
    }
    if (payloadOff < 0) return DecodeStatus.Truncated; // no packet bytes logged (or cut before them)
    const capturedEnd = payloadEnd < end ? payloadEnd : end;
    const expect = family === 2 ? 4 : family === 10 ? 6 : 0;
    if (expect === 0 && family === NFPROTO_ARP) return DecodeStatus.NotIp;
    return this.decodeIp(frame, payloadOff, capturedEnd, payloadEnd, expect, view);
  }

  private setSrcMac(frame: Uint8Array, pos: number, view: PacketView): void {
    view.srcMacHi = readU16(frame, pos);
    view.srcMacLo = readI32(frame, pos + 2);
    view.hasSrcMac = true;
  }
}

/** Clears every field the decoder reports on, so nothing leaks from the previous frame. */
export function resetView(view: PacketView): void {
  view.family = 0;
  view.src[0] = view.src[1] = view.src[2] = view.src[3] = 0;
  view.dst[0] = view.dst[1] = view.dst[2] = view.dst[3] = 0;
  view.protocol = 0;
  view.srcPort = 0;
  view.dstPort = 0;
  view.l3Bytes = 0;
  view.tcpFlags = 0;
  view.l3Offset = 0;
  view.l4Offset = -1;
  view.hasSrcMac = false;
  view.hasDstMac = false;
  view.srcMacHi = 0;
  view.srcMacLo = 0;
  view.dstMacHi = 0;
  view.dstMacLo = 0;
  resetLinkExtras(view);
}
