/*
 * The libpcap link types (DLT values) a capture may carry and the ones the agent reads: facts of
 * the capture that the file and live sources check when they open, and that the decoders
 * (packet/decode) switch on.
 */

/** libpcap DLT/LINKTYPE values the decoder reads. */
export const LinkType = {
  Null: 0, // BSD loopback: 4-byte host-order address family
  Ethernet: 1,
  Ppp: 9, // PPP, with or without RFC 1662 framing
  PppHdlc: 50, // PPP in HDLC-like framing (or Cisco HDLC frames)
  Raw: 101, // LINKTYPE_RAW: IPv4 or IPv6, version nibble decides
  RawOpenBsd: 12, // DLT_RAW on some platforms reads as 12 (OpenBSD) or 14
  RawAlt: 14,
  CiscoHdlc: 104, // Cisco HDLC: address, control, ethertype
  Loop: 108, // OpenBSD loopback: 4-byte network-order address family
  LinuxSll: 113,
  Ipv4: 228,
  Ipv6: 229,
  Nflog: 239,
  LinuxSll2: 276,
} as const;

/** Whether the decoder reads frames of this libpcap link type (DLT value as libpcap reports it). */
export function isSupportedLinkType(linkType: number): boolean {
  switch (linkType) {
    case LinkType.Null:
    case LinkType.Ethernet:
    case LinkType.Raw:
    case LinkType.RawOpenBsd:
    case LinkType.RawAlt:
    case LinkType.Loop:
    case LinkType.Ppp:
    case LinkType.PppHdlc:
    case LinkType.CiscoHdlc:
    case LinkType.LinuxSll:
    case LinkType.Ipv4:
    case LinkType.Ipv6:
    case LinkType.Nflog:
    case LinkType.LinuxSll2:
      return true;
    default:
      return false;
  }
}
