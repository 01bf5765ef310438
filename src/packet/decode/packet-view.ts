/**
 * The one reused, caller-owned packet view of the packet path.
 *
 * Ownership: a capture source owns exactly one `PacketView` and hands the same object to
 * `Decoder.decode` for every frame; the decoder overwrites every field it reports on, and a
 * stage that needs a value beyond the current packet must copy it out (the flow table copies
 * the key words into its own typed arrays). Nothing on the packet path allocates, so the view
 * holds numbers and fixed typed arrays only.
 */

/** Outcome of decoding one frame. Anything but `Ok` is counted by reason and the frame skipped. */
export const DecodeStatus = {
  /** An IPv4 or IPv6 packet; every field of the view is valid. */
  Ok: 0,
  /** The frame ends before a header the decoder needs (link, VLAN, MPLS, IP, extension header). */
  Truncated: 1,
  /** The IP version nibble disagrees with what the link layer announced, or is neither 4 nor 6. */
  BadVersion: 2,
  /** A length field is impossible: IPv4 IHL < 5, total length < header length, and the like. */
  BadLength: 3,
  /** The capture's link type is not one the decoder reads. */
  UnsupportedLink: 4,
  /** A well-formed frame that carries no IP (ARP, STP, LLDP, ...): skipped, not malformed. */
  NotIp: 5,
  /**
   * A later fragment of an overlay tunnel's outer packet (decodeOverlay only): the inner packet
   * was counted at the first fragment, with its inner length, so this one is not recorded again.
   */
  TunnelFragment: 6,
  /**
   * A tag or shim header that contradicts its own format: NSH of another version or shorter than
   * its fixed headers, PPPoE session data with a version, type or code other than 1, 1, 0, an
   * RFC 1662 PPP frame whose control byte is not 0x03.
   */
  BadTag: 7,
} as const;
export type DecodeStatus = (typeof DecodeStatus)[keyof typeof DecodeStatus];

/** Label of each status, indexed by the status value; used for counters and summaries. */
export const DECODE_STATUS_NAMES = [
  'ok',
  'truncated',
  'bad_version',
  'bad_length',
  'unsupported_link',
  'not_ip',
  'tunnel_fragment',
  'bad_tag',
] as const;

/** Statuses counted as malformed (`flowlog_decode_malformed_total{reason}`): not Ok, not NotIp, not TunnelFragment. */
export const MALFORMED_STATUSES: readonly DecodeStatus[] = [
  DecodeStatus.Truncated,
  DecodeStatus.BadVersion,
  DecodeStatus.BadLength,
  DecodeStatus.UnsupportedLink,
  DecodeStatus.BadTag,
];

/** IP protocol numbers the flow path cares about. */
export const IpProto = {
  Icmp: 1,
  Tcp: 6,
  Udp: 17,
  Ipv6Icmp: 58,
  Sctp: 132,
  UdpLite: 136,
} as const;

export class PacketView {
  // ---- set by the capture source before decode ----
  /** Capture timestamp, whole seconds since the Unix epoch. */
  tsSec = 0;
  /** Capture timestamp, microseconds within the second. */
  tsUsec = 0;
  /** Bytes captured (may be less than the wire length with a short snaplen). */
  capLen = 0;
  /** Bytes on the wire as libpcap reports them. */
  wireLen = 0;
  /**
   * Where the frame starts in the buffer handed to `Decoder.decode` (0 unless the source hands
   * frames over in place, as the capture-file reader does). Decoded byte positions, such as
   * `nflogPrefixOffset`, are positions in that buffer.
   */
  frameOffset = 0;
  /**
   * How the kernel segments this frame on the wire, when the source knows (the capture addon's
   * own ring: the virtio_net_hdr of PACKET_VNET_HDR), as an int32: bit 31 set (so negative) when
   * known, bits 24-30 hdr_len / 2 (0: unknown), bits 16-23 gso_type (0: not a GSO super-frame),
   * bits 0-15 gso_size. 0 when not known (capture files, libpcap, NFLOG): a frame larger than the
   * MTU is then segmented by derivation (src/packet/decode/super-frame.ts).
   */
  segmentation = 0;
  /**
   * Packets this frame stands for on the wire: 1, or the segments of a GSO/GRO super-frame, whose
   * `l3Bytes` is then the sum of the segments' L3 lengths. Set by the recorder's segmentation
   * just before the frame is recorded, and back to 1 after it.
   */
  segments = 1;

  // ---- set by the decoder ----
  /** 4 or 6 when status is Ok. */
  family = 0;
  /**
   * Source and destination address as four 32-bit big-endian words. IPv4 fills word 0 and
   * zeroes words 1..3, so a key built from (family, words) is unambiguous.
   */
  readonly src = new Uint32Array(4);
  readonly dst = new Uint32Array(4);
  /** Upper-layer protocol after any IPv6 extension headers (6 TCP, 17 UDP, ...). */
  protocol = 0;
  /** Transport ports for TCP, UDP, UDP-Lite and SCTP (from the fragment cache for later fragments); else 0. */
  srcPort = 0;
  dstPort = 0;
  /** Layer-3 length from the IP header (IPv4 total length; IPv6 40 + payload length). */
  l3Bytes = 0;
  /** TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ...); 0 for other protocols. */
  tcpFlags = 0;
  /**
   * Where the counted IP header starts and where its upper-layer header starts (after IPv6
   * extension headers), as positions in the frame's buffer; `l4Offset` is -1 when the decoder
   * did not reach it (options or extension headers cut, a later fragment). Read only for frames
   * larger than the MTU, whose segments repeat these headers.
   */
  l3Offset = 0;
  l4Offset = -1;

  /** Whether the link layer carried MAC addresses (Ethernet; SLL/SLL2 give only the source). */
  hasSrcMac = false;
  hasDstMac = false;
  /**
   * MAC addresses split into the high 16 bits and the low 32 bits, the low word as an int32 (see
   * readI32: a uint32 field would hold a heap number for half of all MACs).
   */
  srcMacHi = 0;
  srcMacLo = 0;
  dstMacHi = 0;
  dstMacLo = 0;

  /** Linux SLL/SLL2 packet type (0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing); -1 when unknown. */
  sllPacketType = -1;

  /** NFLOG only: the netfilter hook's input and output interface indexes (0 when absent) and group. */
  nflogIndev = 0;
  nflogOutdev = 0;
  nflogGroup = -1;
  /** NFLOG only: byte range of the log prefix in the frame's buffer (length 0 when absent); never copied. */
  nflogPrefixOffset = 0;
  nflogPrefixLength = 0;

  /**
   * Overlay only (OverlayDecoder.decodeOverlay): the VNI of the VXLAN / Geneve tunnel the packet
   * was taken out of, and the tunnel's outer addresses (words as `src`/`dst`); -1 for a packet
   * that came out of no tunnel. Every other decode leaves these alone: the overlay path resets
   * `vni` to -1 after recording, so no other path ever sees one set.
   */
  vni = -1;
  tunnelFamily = 0;
  readonly tunnelSrc = new Uint32Array(4);
  readonly tunnelDst = new Uint32Array(4);
}

/** The fields only SLL and NFLOG frames set. */
export function resetLinkExtras(view: PacketView): void {
  view.sllPacketType = -1;
  view.nflogIndev = 0;
  view.nflogOutdev = 0;
  view.nflogGroup = -1;
  view.nflogPrefixOffset = 0;
  view.nflogPrefixLength = 0;
}
