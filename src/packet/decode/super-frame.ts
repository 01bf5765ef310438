import { MssCache } from './mss-cache';
import { IpProto, type PacketView } from './packet-view';

/** How a super-frame's segments were found (counters, `flowlog_decode_super_frames_total{outcome}`). */
export const SuperFrameOutcome = {
  /** From the kernel's virtio_net_hdr (gso_size; hdr_len for a tunnel counted under its outer header). */
  Kernel: 0,
  /** Derived: the MTU, and for TCP the MSS its receiver announced in a SYN when one was seen. */
  Derived: 1,
  /** The kernel's header disagrees with the frame (type, family, size): derived instead, or one packet. */
  GsoMismatch: 2,
  /** The transport header lies beyond the snaplen: its shortest length assumed (20 TCP, 8 UDP). */
  HeadersCut: 3,
  /** Larger than the MTU, but the device has no usable MTU (or it cannot hold the headers): one packet. */
  NoMtu: 4,
  /** Larger than the MTU, but neither TCP nor UDP, or its IP headers unknown: one packet. */
  Unsegmented: 5,
} as const;
export type SuperFrameOutcome = (typeof SuperFrameOutcome)[keyof typeof SuperFrameOutcome];
export const SUPER_FRAME_OUTCOME_NAMES = [
  'kernel',
  'derived',
  'gso_mismatch',
  'headers_cut',
  'no_mtu',
  'unsegmented',
] as const;

/** The MTU assumed where none is known (capture.mtuBytes' default; Ethernet). */
export const DEFAULT_MTU_BYTES = 1500;
/** Below this no IPv4 packet fits (RFC 791): such an MTU is not usable. */
export const MIN_MTU_BYTES = 68;
/** Linux's GSO_MAX_SEGS: no super-frame stands for more segments. */
const MAX_SEGMENTS = 65535;
/** Linux's tcp_min_snd_mss: a sender never segments below it, whatever MSS a SYN claims. */
const MIN_SND_MSS = 48;

/** virtio_net_hdr gso_type values (without the ECN flag 0x80). */
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const GSO_UDP_L4 = 5;

/** Whether `mtu` can be used to derive segments (known, and large enough for an IPv4 packet). */
export function usableMtu(mtu: number): boolean {
  return Number.isInteger(mtu) && mtu >= MIN_MTU_BYTES;
}

/**
 * Counts a GSO/GRO super-frame as the segments the wire carried. A frame the kernel hands over
 * as one (TSO/GSO on the way out, GRO/LRO on the way in, a VM's virtio TSO) stands for `n`
 * segments, each repeating the IP and transport headers: `packets` = n and `bytes` = payload +
 * n x headers (the sum of the segments' L3 lengths).
 *
 * The segment size comes from the kernel where the capture says it (the virtio_net_hdr of the
 * capture addon's own ring: `view.segmentation`), else it is derived: the MTU (the device's, or
 * capture.mtuBytes for capture files) minus the headers, and for TCP no more than the MSS the
 * flow's receiver announced in its SYN (MssCache) minus the TCP options of the frame. Derived
 * counts are exact for a sender that fills its MSS (TCP does; UDP GSO senders usually fill the
 * MTU); they are counted apart (SuperFrameOutcome.Derived).
 *
 * Called by the recorder only for frames with a GSO type or larger than the MTU, and for TCP
 * SYNs (learnMss). Never throws, never allocates: sets `view.segments` and `view.l3Bytes`.
 */
export class SuperFrameSegmenter {
  /** Super-frames by outcome (indexed by SuperFrameOutcome). */
  readonly byOutcome = new Float64Array(SUPER_FRAME_OUTCOME_NAMES.length);
  /** Segments the super-frames stood for beyond themselves (segments - frames). */
  extraSegments = 0;
  private readonly mss: MssCache;

  constructor(mssSlots = 4096) {
    this.mss = new MssCache(mssSlots);
  }

  /** SYNs whose MSS replaced another flow's in the bounded cache. */
  get mssReplaced(): number {
    return this.mss.replaced;
  }

  /**
   * Remembers the MSS option of a TCP SYN (`view` decoded, SYN flag set) for the opposite
   * direction. Options are read only where captured and inside the TCP header.
   */
  learnMss(v: PacketView, frame: Uint8Array): void {
    const l4 = v.l4Offset;
    const capEnd = Math.min(v.frameOffset + v.capLen, frame.length);
    if (l4 < 0 || l4 + 13 > capEnd) return;
    // 12: data offset (32-bit words) << 4; options from 20 to the data offset, within the packet
    let end = l4 + (frame[l4 + 12] >> 4) * 4;
    const packetEnd = v.l3Offset + v.l3Bytes;
    if (end > capEnd) end = capEnd;
    if (end > packetEnd) end = packetEnd;
    let p = l4 + 20;
    while (p < end) {
      const kind = frame[p];
      if (kind === 0) return; // end of options
      if (kind === 1) {
        p++; // no-operation
        continue;
      }
      if (p + 2 > end) return;
      const len = frame[p + 1];
      if (len < 2) return; // malformed: stop reading
      if (kind === 2 && len === 4 && p + 4 <= end) {
        const mss = (frame[p + 2] << 8) | frame[p + 3];
        if (mss > 0) this.mss.rememberReverse(v, mss);
        return;
      }
      p += len;
    }
  }

  /**
   * Sets `view.segments` and `view.l3Bytes` of a decoded super-frame. `mtu` is the MTU of the
   * device (0 when not usable); `outerL3` where the outermost IP header starts (the counted one,
   * except for a decapsulated overlay packet: the MTU bounds the outer packet).
   */
  segment(v: PacketView, frame: Uint8Array, mtu: number, outerL3: number): void {
    const w = v.segmentation;
    const l3 = v.l3Offset;
    const l4 = v.l4Offset;
    const l3Bytes = v.l3Bytes;
    const capEnd = Math.min(v.frameOffset + v.capLen, frame.length);
    const tcp = v.protocol === IpProto.Tcp;
    const udp = v.protocol === IpProto.Udp;
    const ipHeader = l4 >= 0 ? l4 - l3 : -1;
    let l4Header = -1;
    if (l4 >= 0) {
      if (udp) l4Header = 8;
      else if (tcp && l4 + 13 <= capEnd && frame[l4 + 12] >> 4 >= 5) l4Header = (frame[l4 + 12] >> 4) * 4; // 12: data offset
    }
    let outcome: number = SuperFrameOutcome.Derived;
    let header = 0;
    let size = 0;
    const gsoType = (w >>> 16) & 0x7f; // without the ECN flag
    if (w < 0 && ((w >>> 16) & 0xff) !== 0) {
      const gsoSize = w & 0xffff;
      const hdrLen = ((w >>> 24) & 0x7f) * 2;
      const gsoTcp = gsoType === GSO_TCPV4 || gsoType === GSO_TCPV6;
      const known = gsoSize > 0 && (gsoTcp || gsoType === GSO_UDP_L4);
      if (known && (gsoTcp ? tcp && v.family === (gsoType === GSO_TCPV4 ? 4 : 6) : udp)) {
        // The segmented transport is the counted one: its headers repeat in every segment.
        outcome = ipHeader >= 0 && l4Header >= 0 ? SuperFrameOutcome.Kernel : SuperFrameOutcome.HeadersCut;
        header = (ipHeader >= 0 ? ipHeader : v.family === 4 ? 20 : 40) + (l4Header >= 0 ? l4Header : tcp ? 20 : 8);
        size = gsoSize;
      } else if (known && !(gsoTcp ? tcp : udp) && hdrLen > 0 && ipHeader >= 0) {
        // A tunnel counted under its outer header (GRE, IP-in-IP, VXLAN not opened): every header
        // up to the inner transport repeats; the kernel's hdr_len says how many bytes they take.
        const all = hdrLen - (l3 - v.frameOffset);
        if (all > ipHeader && all < l3Bytes) {
          outcome = SuperFrameOutcome.Kernel;
          header = all;
          size = gsoSize;
        } else {
          outcome = SuperFrameOutcome.GsoMismatch;
        }
      } else {
        outcome = SuperFrameOutcome.GsoMismatch;
      }
    }
    if (size === 0) {
      // Derived: what the MTU (and the flow's MSS) lets one segment carry.
      if (!usableMtu(mtu)) {
        if (outcome === SuperFrameOutcome.Derived) outcome = SuperFrameOutcome.NoMtu;
      } else if ((tcp || udp) && l4 >= 0) {
        if (l4Header < 0 && outcome === SuperFrameOutcome.Derived) outcome = SuperFrameOutcome.HeadersCut;
        const l4Bytes = l4Header >= 0 ? l4Header : tcp ? 20 : 8;
        header = ipHeader + l4Bytes;
        size = mtu - (l4 - (outerL3 < l3 ? outerL3 : l3)) - l4Bytes;
        if (tcp) {
          const mss = this.mss.find(v);
          if (mss > 0) {
            // The MSS counts the payload of a segment without TCP options; this frame's options repeat.
            const bound = (mss > MIN_SND_MSS ? mss : MIN_SND_MSS) - (l4Bytes - 20);
            if (bound < size) size = bound;
          }
        }
        if (size <= 0 && outcome === SuperFrameOutcome.Derived) outcome = SuperFrameOutcome.NoMtu;
      } else if (outcome === SuperFrameOutcome.Derived) {
        outcome = SuperFrameOutcome.Unsegmented;
      }
    }
    this.byOutcome[outcome]++;
    const payload = l3Bytes - header;
    if (size <= 0 || payload <= size) return; // one segment: the frame as it is
    let n = Math.ceil(payload / size);
    if (n > MAX_SEGMENTS) n = MAX_SEGMENTS;
    v.segments = n;
    v.l3Bytes = payload + n * header;
    this.extraSegments += n - 1;
  }
}
