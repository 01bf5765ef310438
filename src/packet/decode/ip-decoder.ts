import { readI32, readU16, readU32 } from '../../capture/byte-reads';
import { FragmentCache } from './fragment-cache';
import { DecodeStatus, IpProto, type PacketView } from './packet-view';

/** Options shared by the IP and link-layer decoders. */
export interface DecoderOptions {
  /** Most first fragments remembered for joining later fragments to their ports (0 disables). */
  fragmentCacheSize: number;
  /** Seconds a remembered first fragment keeps joining later ones; default 60 (RFC 8200 §4.5). */
  fragmentTimeoutSec?: number;
}

/** 1 for the protocols whose header starts with a source and destination port. */
const PORT_PROTOCOLS = new Uint8Array(256);
for (const p of [IpProto.Tcp, IpProto.Udp, IpProto.Sctp, IpProto.UdpLite]) PORT_PROTOCOLS[p] = 1;

/**
 * Whether the first four bytes of this protocol's header are a source and destination port. A
 * table read rather than a chain of comparisons: the chain's later terms ran only for the first
 * packet of another protocol, and running them first in optimized code deoptimized the decoder.
 */
export function hasPorts(protocol: number): boolean {
  return PORT_PROTOCOLS[protocol & 0xff] === 1;
}

/**
 * The IP layer of the decoder: IPv4/IPv6 header, IPv6 extension-header chain, fragments and
 * transport ports. `Decoder` (decoder.ts) adds the link layers on top.
 *
 * Bounds: `end` is where captured bytes stop (never beyond `frame.length`); `wireEnd` is where
 * the packet would stop had it been captured whole, in the same frame coordinates (it only
 * matters when a header announces length 0, i.e. TSO/GSO super-packets). Nothing here throws
 * or allocates: bytes are read by index and results go into the caller's `PacketView`.
 */
export class IpDecoder {
  /** Later fragments (offset > 0) that got their ports from the cache. */
  fragmentsJoined = 0;
  /** Later fragments of a port-bearing (IPv6: any) protocol with no first fragment cached: ports 0. */
  fragmentsUnjoined = 0;
  /** First fragments that pushed out a cached datagram still awaiting its last fragment. */
  fragmentCacheEvictions = 0;
  /** Packets whose IP length field said 0 (TSO/GSO) and whose length came from the wire length. */
  lengthsFromWire = 0;
  /** IPv6 jumbograms (RFC 2675) whose length came from the hop-by-hop jumbo option. */
  jumbograms = 0;
  /**
   * Packets recorded without their upper layer because IPv4 options or an IPv6 extension header
   * were cut by the snaplen or run past the packet: protocol is the header where reading stopped,
   * ports 0. The fixed IP header names the flow and its length, so the packet still counts
   * (tshark lists such packets the same way); dropping them would lose traffic silently.
   */
  headersCut = 0;

  /**
   * Where the last packet's transport header starts and its bytes end (captured, and as the IP
   * header announces them), and whether it was a later fragment: for the overlay decoder, which
   * reads a tunnel header after the outer UDP one. Plain stores, read by no other path.
   */
  protected transportAt = 0;
  protected transportEnd = 0;
  protected packetEnd = 0;
  protected laterFragment = false;

  private readonly fragments: FragmentCache;

  constructor(opts: DecoderOptions) {
    this.fragments = new FragmentCache(opts.fragmentCacheSize, opts.fragmentTimeoutSec ?? 60);
  }

  /**
   * Decodes the IP packet at `off`. `expectVersion` is 4 or 6 when the link layer announced
   * the family (ethertype, address family), else 0 and the version nibble decides.
   */
  protected decodeIp(
    frame: Uint8Array,
    off: number,
    end: number,
    wireEnd: number,
    expectVersion: number,
    view: PacketView,
  ): DecodeStatus {
    if (off >= end) return DecodeStatus.Truncated;
    const version = frame[off] >> 4;
    if (expectVersion !== 0 && version !== expectVersion) return DecodeStatus.BadVersion;
    if (version === 4) return this.decodeIpv4(frame, off, end, wireEnd, view);
    if (version === 6) return this.decodeIpv6(frame, off, end, wireEnd, view);
    return DecodeStatus.BadVersion;
  }

  private decodeIpv4(frame: Uint8Array, off: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    if (off + 20 > end) return DecodeStatus.Truncated;
    const headerLen = (frame[off] & 0x0f) * 4; // 0: version << 4 | IHL in 32-bit words
    if (headerLen < 20) return DecodeStatus.BadLength;
    let totalLen = readU16(frame, off + 2); // 2: total length
    if (totalLen === 0) {
      // TSO/GSO captures hand over the super-packet before the stack fills the length in.
      // (wireEnd >= end >= off + headerLen, so this is never below the header length.)
      totalLen = wireEnd - off;
      this.lengthsFromWire++;
    } else if (totalLen < headerLen) {
      return DecodeStatus.BadLength;
    }
    // A total length beyond the wire length is kept as is: it is the L3 length the header
    // claims (tshark's ip.len); trimming it to the frame would hide the inconsistency.
    const ipId = readU16(frame, off + 4); // 4: identification
    const fragField = readU16(frame, off + 6); // 6: flags (DF 0x4000, MF 0x2000) | offset / 8
    const protocol = frame[off + 9]; // 9: protocol
    view.family = 4;
    view.protocol = protocol;
    view.l3Bytes = totalLen;
    view.l3Offset = off;
    // The upper layer starts after the options: unknown when they are cut or this is a later fragment.
    view.l4Offset = off + headerLen <= end && (fragField & 0x1fff) === 0 ? off + headerLen : -1;
    this.packetEnd = off + totalLen;
    view.src[0] = readI32(frame, off + 12); // 12: source
    view.dst[0] = readI32(frame, off + 16); // 16: destination (words 1..3 stay as decode zeroed them)

    const fragOffset = fragField & 0x1fff;
    const moreFragments = (fragField & 0x2000) !== 0;
    // ICMP, GRE, ESP...: ports stay 0. (One return for every outcome: a return reached first in
    // optimized code, by the first packet without ports, would deoptimize the decoder.)
    if (!hasPorts(protocol)) {
      // no transport header to read
    } else if (off + headerLen > end) {
      this.headersCut++; // options cut by the snaplen: no transport header to read
    } else {
      // Transport bytes stop at the IP total length: anything after it is link padding.
      const transportEnd = off + totalLen < end ? off + totalLen : end;
      const key = (protocol << 16) | ipId;
      if (fragOffset === 0) {
        this.readTransport(frame, off + headerLen, transportEnd, view);
        if (moreFragments) this.rememberFirstFragment(4, key, view);
      } else {
        this.joinLaterFragment(4, key, !moreFragments, view);
      }
    }
    return DecodeStatus.Ok;
  }

  private decodeIpv6(frame: Uint8Array, off: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    if (off + 40 > end) return DecodeStatus.Truncated;
    const payloadLen = readU16(frame, off + 4); // 4: payload length
    let nextHeader = frame[off + 6]; // 6: next header
    for (let i = 0; i < 4; i++) {
      view.src[i] = readI32(frame, off + 8 + i * 4); // 8: source address
      view.dst[i] = readI32(frame, off + 24 + i * 4); // 24: destination address
    }
    let l3Bytes = 40 + payloadLen;
    if (payloadLen === 0 && nextHeader !== 59) {
      const jumbo = nextHeader === 0 ? this.jumboPayloadLength(frame, off + 40, end) : -1;
      if (jumbo >= 0) {
        l3Bytes = 40 + jumbo;
        this.jumbograms++;
      } else {
        // GSO/BIG TCP super-packets carry payload length 0 without a jumbo option.
        l3Bytes = wireEnd - off; // >= 40: the header was captured, and wireEnd >= end
        this.lengthsFromWire++;
      }
    }
    const announcedEnd = off + l3Bytes;
    this.packetEnd = announcedEnd;

    let pos = off + 40;
    let fragmented = false;
    let fragOffset = 0;
    let moreFragments = false;
    let fragId = 0;
    let cut = false;
    // Walk the extension headers to the upper layer. Each header is at least 8 bytes, so the
    // loop ends within the captured bytes whatever they say. A header that is not captured whole,
    // or runs past the packet, ends the walk (`cut`): the packet counts with the protocol its
    // next-header byte names when that byte was captured, else with the cut header's own type
    // (what tshark shows for such packets), and without ports.
    for (;;) {
      let headerLen: number;
      if (
        nextHeader === 0 || // hop-by-hop options
        nextHeader === 43 || // routing
        nextHeader === 60 // destination options
      ) {
        if (pos + 2 > announcedEnd || pos + 2 > end) {
          if (pos < end && pos < announcedEnd) nextHeader = frame[pos]; // 0: next header, if captured
          cut = true;
          break;
        }
        headerLen = (frame[pos + 1] + 1) * 8; // 1: length in 8-byte units, not counting the first 8
      } else if (nextHeader === 51) {
        if (pos + 2 > announcedEnd || pos + 2 > end) {
          if (pos < end && pos < announcedEnd) nextHeader = frame[pos]; // 0: next header, if captured
          cut = true;
          break;
        }
        headerLen = (frame[pos + 1] + 2) * 4; // 1: AH length in 4-byte units, minus 2
      } else if (nextHeader === 44) {
        headerLen = 8; // fragment header: fixed size
        if (pos + headerLen > announcedEnd || pos + headerLen > end) {
          cut = true; // tshark reads no field of a fragment header it cannot hold whole
          break;
        }
        const field = readU16(frame, pos + 2); // 2: offset / 8 << 3 | M
        fragmented = true;
        fragOffset = field >> 3;
        moreFragments = (field & 1) !== 0;
        fragId = readI32(frame, pos + 4); // 4: identification (int32: stays a small integer)
        nextHeader = frame[pos]; // 0: next header
        pos += headerLen;
        // A later fragment carries data, not headers, after the fragment header.
        if (fragOffset !== 0) break;
        continue;
      } else {
        break; // upper layer (mobility 135, HIP 139 and shim6 140 count as one, as tshark does), ESP (50), none (59)
      }
      nextHeader = frame[pos]; // 0: next header
      if (pos + headerLen > announcedEnd || pos + headerLen > end) {
        cut = true;
        break;
      }
      pos += headerLen;
    }

    view.family = 6;
    view.protocol = nextHeader;
    view.l3Bytes = l3Bytes;
    view.l3Offset = off;
    view.l4Offset = cut || (fragmented && fragOffset !== 0) ? -1 : pos;
    if (cut) {
      this.headersCut++;
      return DecodeStatus.Ok;
    }
    if (fragmented && fragOffset !== 0) {
      this.joinLaterFragment(6, fragId, !moreFragments, view);
      return DecodeStatus.Ok;
    }
    if (hasPorts(nextHeader)) {
      this.readTransport(frame, pos, announcedEnd < end ? announcedEnd : end, view);
    }
    if (fragmented && moreFragments) this.rememberFirstFragment(6, fragId, view);
    return DecodeStatus.Ok;
  }

  /**
   * The RFC 2675 jumbo payload length from the hop-by-hop header at `pos`, or -1 when there is
   * none (or it is not captured whole).
   */
  private jumboPayloadLength(frame: Uint8Array, pos: number, end: number): number {
    if (pos + 2 > end) return -1;
    const hbhEnd = pos + (frame[pos + 1] + 1) * 8;
    let opt = pos + 2; // options follow next header and length
    while (opt < hbhEnd && opt < end) {
      const type = frame[opt];
      if (type === 0) {
        opt++; // Pad1 has no length byte
        continue;
      }
      if (opt + 2 > end) return -1;
      const len = frame[opt + 1];
      if (type === 0xc2 && len === 4 && opt + 6 <= end) {
        return readU32(frame, opt + 2); // 2: jumbo payload length (without the IPv6 header)
      }
      opt += 2 + len;
    }
    return -1;
  }

  /** Ports (and TCP flags) of the transport header at `pos`, when captured; else they stay 0. */
  private readTransport(frame: Uint8Array, pos: number, end: number, view: PacketView): void {
    this.transportAt = pos;
    this.transportEnd = end;
    if (pos + 4 > end) return; // a short snaplen keeps the packet, without ports
    view.srcPort = readU16(frame, pos); // 0: source port
    view.dstPort = readU16(frame, pos + 2); // 2: destination port
    if (view.protocol === IpProto.Tcp && pos + 14 <= end) view.tcpFlags = frame[pos + 13]; // 13: TCP flags
  }

  private rememberFirstFragment(family: number, id: number, view: PacketView): void {
    if (
      this.fragments.remember(family, view.src, view.dst, id, view.protocol, view.srcPort, view.dstPort, view.tsSec)
    ) {
      this.fragmentCacheEvictions++;
    }
  }

  private joinLaterFragment(family: number, id: number, isLast: boolean, view: PacketView): void {
    this.laterFragment = true;
    if (this.fragments.find(family, view.src, view.dst, id, isLast, view.tsSec)) {
      // IPv6 later fragments name only the first header after the fragment header; the first
      // fragment knows the upper-layer protocol past any further extension headers.
      view.protocol = this.fragments.foundProtocol;
      view.srcPort = this.fragments.foundSrcPort;
      view.dstPort = this.fragments.foundDstPort;
      this.fragmentsJoined++;
    } else {
      this.fragmentsUnjoined++;
    }
  }
}
