import { readU16 } from '../../capture/byte-reads';
import { Decoder, resetView, type DecoderOptions } from './decoder';
import { DecodeStatus, IpProto, type PacketView } from './packet-view';

/** What a UDP destination port carries on an overlay device. */
const PORT_PLAIN = 0;
const PORT_VXLAN = 1;
const PORT_GENEVE = 2;

const VXLAN_HEADER = 8;
const GENEVE_HEADER = 8;
const UDP_HEADER = 8;
/** Geneve protocol types (an ethertype): Transparent Ethernet Bridging, IPv4, IPv6. */
const GENEVE_ETHERNET = 0x6558;
const GENEVE_IPV4 = 0x0800;
const GENEVE_IPV6 = 0x86dd;

/** The UDP ports that carry tunnels on an overlay device. */
export interface TunnelPorts {
  vxlan: readonly number[];
  geneve: readonly number[];
}

/**
 * The decoder of a device that carries the VPC overlay: a VXLAN (RFC 7348) or Geneve (RFC 8926)
 * packet to one of the configured UDP ports is taken out of its tunnel, and the view describes
 * the inner packet (its 5-tuple, its inner IP length, the inner Ethernet MACs) with the VNI and
 * the outer addresses beside it. Anything else decodes as `decode` does.
 *
 * Outer fragments: the first fragment holds the tunnel and inner headers, so the inner packet is
 * counted there; later fragments (known by the fragment cache's ports) answer `TunnelFragment`.
 * Like `decode`: never throws, never allocates.
 */
export class OverlayDecoder extends Decoder {
  /** Port -> PORT_* (65536 entries). */
  private readonly portKinds = new Uint8Array(65536);
  /** Packets taken out of a VXLAN / Geneve tunnel. */
  tunnelsOpened = 0;
  /**
   * Where the last frame's outermost IP header starts (in the frame's buffer): the counted one,
   * or the tunnel's when the packet came out of one. The MTU bounds that outer packet.
   */
  outerL3Offset = 0;

  constructor(opts: DecoderOptions, ports: TunnelPorts) {
    super(opts);
    for (const p of ports.vxlan) this.portKinds[p] = PORT_VXLAN;
    for (const p of ports.geneve) this.portKinds[p] = PORT_GENEVE;
  }

  /**
   * Decodes a frame of an overlay device (same contract as `decode`). `view.vni` is the tunnel's
   * VNI when the packet came out of one, else -1.
   */
  decodeOverlay(linkType: number, frame: Uint8Array, view: PacketView): DecodeStatus {
    view.vni = -1;
    this.laterFragment = false;
    const outer = this.decodeSlow(linkType, frame, view);
    this.outerL3Offset = view.l3Offset;
    if (outer !== DecodeStatus.Ok || view.protocol !== IpProto.Udp) return outer;
    const kind = this.portKinds[view.dstPort];
    if (kind === PORT_PLAIN) return outer;
    if (this.laterFragment) return DecodeStatus.TunnelFragment;
    const end = this.transportEnd;
    const wireEnd = this.packetEnd > end ? this.packetEnd : end;
    const t = this.transportAt + UDP_HEADER; // the tunnel header
    let inner: number;
    let innerType: number;
    let vni: number;
    if (kind === PORT_VXLAN) {
      // 0: flags (I 0x08: VNI valid); 1: reserved (3); 4: VNI (3); 7: reserved. tshark reads the
      // VNI whatever the flags say, and so does this.
      if (t + VXLAN_HEADER > end) return DecodeStatus.Truncated;
      vni = (frame[t + 4] << 16) | (frame[t + 5] << 8) | frame[t + 6];
      inner = t + VXLAN_HEADER;
      innerType = GENEVE_ETHERNET;
    } else {
      // 0: version (2 bits) | options length (6 bits, 4-byte words); 1: O | C | reserved;
      // 2: protocol type; 4: VNI (3); 7: reserved; 8: options.
      if (t + GENEVE_HEADER > end) return DecodeStatus.Truncated;
      if (frame[t] >> 6 !== 0) return DecodeStatus.BadVersion;
      innerType = readU16(frame, t + 2);
      vni = (frame[t + 4] << 16) | (frame[t + 5] << 8) | frame[t + 6];
      inner = t + GENEVE_HEADER + (frame[t] & 0x3f) * 4;
    }
    const family = view.family;
    const src = view.src;
    const dst = view.dst;
    const ts = view.tunnelSrc;
    const td = view.tunnelDst;
    for (let i = 0; i < 4; i++) {
      ts[i] = src[i];
      td[i] = dst[i];
    }
    resetView(view);
    view.tunnelFamily = family;
    let status: DecodeStatus;
    if (innerType === GENEVE_ETHERNET) status = this.decodeEthernet(frame, inner, end, wireEnd, view);
    else if (innerType === GENEVE_IPV4) status = this.decodeIp(frame, inner, end, wireEnd, 4, view);
    else if (innerType === GENEVE_IPV6) status = this.decodeIp(frame, inner, end, wireEnd, 6, view);
    else status = DecodeStatus.NotIp;
    if (status === DecodeStatus.Ok) {
      view.vni = vni;
      this.tunnelsOpened++;
    }
    return status;
  }
}
