import { readU16 } from '../../capture/byte-reads';
import { IpDecoder } from './ip-decoder';
import { DecodeStatus, type PacketView } from './packet-view';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100; // 802.1Q
const ETHERTYPE_QINQ = 0x88a8; // 802.1ad
const ETHERTYPE_QINQ_OLD = 0x9100; // pre-802.1ad QinQ (also 0x9200, 0x9300)
const ETHERTYPE_MPLS = 0x8847;
const ETHERTYPE_MPLS_MULTICAST = 0x8848;
const ETHERTYPE_PPPOE_SESSION = 0x8864;
const ETHERTYPE_VN_TAG = 0x8926; // Cisco VN-Tag
const ETHERTYPE_E_TAG = 0x893f; // IEEE 802.1BR
const ETHERTYPE_NSH = 0x894f; // Network Service Header, RFC 8300
const ETHERTYPE_FABRICPATH = 0x8903; // Cisco FabricPath (the "DCE" ethertype)
/** Largest 802.3 length field; larger values (from 0x0600) are ethertypes. */
const ETHER_MAX_LENGTH_FIELD = 1500;

const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
const PPP_MPLS = 0x0281;
const PPP_MPLS_MULTICAST = 0x0283;
const HDLC_ADDRESS_ALL = 0xff; // RFC 1662: all-stations address, then control 0x03
const HDLC_CONTROL_UI = 0x03;
const CISCO_HDLC_UNICAST = 0x0f;
const CISCO_HDLC_MULTICAST = 0x8f;

const NSH_IPV4 = 1;
const NSH_IPV6 = 2;
const NSH_ETHERNET = 3;
const NSH_NSH = 4;
const NSH_MPLS = 5;
/** NSH base header (4) and service path header (4): the shortest NSH (MD type 2, no context). */
const NSH_MIN_WORDS = 2;
/** MD type 1 carries exactly 16 bytes of fixed context headers: 6 words in all. */
const NSH_MD1_WORDS = 6;

/**
 * The layers between a link header and IP: ethertypes, with their tags and shims (802.1Q/802.1ad,
 * 802.1BR E-Tag, VN-Tag, FabricPath, NSH, LLC/SNAP, PPPoE, MPLS), and the PPP and Cisco HDLC
 * framings of serial links. Any depth of combination: each pass of the ethertype loop consumes
 * at least 4 bytes, so a frame of tags ends within its captured bytes.
 *
 * Every rule counts under the outermost IP header, what the interface carried (as tshark's
 * first IP layer); MAC fields stay those of the outermost Ethernet header. Never throws, never
 * allocates: a frame that ends inside a header is `Truncated`, a tag that contradicts its own
 * format is `BadTag`, and an encapsulation whose payload is not IP (PPP LCP/IPCP, SLARP, NSH of
 * an unknown next protocol, an Ethernet pseudowire) is `NotIp`.
 */
export class LinkDecoder extends IpDecoder {
  /** Follows `ethertype` (its payload at `pos`) to IP. `ethertype` <= 1500: an 802.3 length, LLC at `pos`. */
  protected decodeEthertype(
    frame: Uint8Array,
    pos: number,
    ethertype: number,
    end: number,
    wireEnd: number,
    view: PacketView,
  ): DecodeStatus {
    for (;;) {
      if (ethertype === ETHERTYPE_IPV4) return this.decodeIp(frame, pos, end, wireEnd, 4, view);
      if (ethertype === ETHERTYPE_IPV6) return this.decodeIp(frame, pos, end, wireEnd, 6, view);
      if (
        ethertype === ETHERTYPE_VLAN ||
        ethertype === ETHERTYPE_QINQ ||
        ethertype === ETHERTYPE_QINQ_OLD ||
        ethertype === 0x9200 ||
        ethertype === 0x9300
      ) {
        if (pos + 4 > end) return DecodeStatus.Truncated;
        ethertype = readU16(frame, pos + 2); // 0: TCI (PCP, DEI, VLAN id); 2: inner ethertype
        pos += 4;
        continue;
      }
      if (ethertype === ETHERTYPE_MPLS || ethertype === ETHERTYPE_MPLS_MULTICAST)
        return this.decodeMpls(frame, pos, end, wireEnd, view);
      if (ethertype === ETHERTYPE_E_TAG) {
        // 0: E-PCP, E-DEI, ingress E-CID base; 2: GRP, E-CID base; 4: ingress E-CID ext; 5: E-CID ext; 6: ethertype
        if (pos + 8 > end) return DecodeStatus.Truncated;
        ethertype = readU16(frame, pos + 6);
        pos += 8;
        continue;
      }
      if (ethertype === ETHERTYPE_VN_TAG) {
        // 0: direction, pointer, destination VIF; 2: looped, version, source VIF; 4: ethertype
        if (pos + 6 > end) return DecodeStatus.Truncated;
        ethertype = readU16(frame, pos + 4);
        pos += 6;
        continue;
      }
      if (ethertype === ETHERTYPE_FABRICPATH) {
        // 0: FTag (10 bits), TTL (6); 2: the original frame: destination MAC, source MAC, then
        // its own ethertype at 14 (the outer MACs are FabricPath switch addresses).
        if (pos + 16 > end) return DecodeStatus.Truncated;
        ethertype = readU16(frame, pos + 14);
        pos += 16;
        continue;
      }
      if (ethertype === ETHERTYPE_NSH) {
        // 0: version (2 bits), O, U, TTL (6), length (6, in 4-byte words, all NSH headers);
        // 2: reserved (4), MD type (4); 3: next protocol; 4: service path id and index; 8: context
        if (pos + 4 > end) return DecodeStatus.Truncated;
        const words = readU16(frame, pos) & 0x3f;
        const mdType = frame[pos + 2] & 0x0f;
        if (frame[pos] >> 6 !== 0 || words < NSH_MIN_WORDS || (mdType === 1 && words !== NSH_MD1_WORDS))
          return DecodeStatus.BadTag;
        const next = frame[pos + 3];
        pos += words * 4;
        if (pos > end) return DecodeStatus.Truncated;
        if (next === NSH_IPV4) return this.decodeIp(frame, pos, end, wireEnd, 4, view);
        if (next === NSH_IPV6) return this.decodeIp(frame, pos, end, wireEnd, 6, view);
        if (next === NSH_MPLS) return this.decodeMpls(frame, pos, end, wireEnd, view);
        if (next === NSH_NSH) {
          ethertype = ETHERTYPE_NSH;
          continue;
        }
        if (next !== NSH_ETHERNET) return DecodeStatus.NotIp;
        if (pos + 14 > end) return DecodeStatus.Truncated; // 0: destination MAC; 6: source MAC; 12: ethertype
        ethertype = readU16(frame, pos + 12);
        pos += 14;
        continue;
      }
      if (ethertype === ETHERTYPE_PPPOE_SESSION) {
        // 0: version 1 and type 1 (0x11); 1: code 0 (session data); 2: session id; 4: length; 6: PPP protocol
        if (pos + 8 > end) return DecodeStatus.Truncated;
        if (frame[pos] !== 0x11 || frame[pos + 1] !== 0) return DecodeStatus.BadTag;
        return this.decodePpp(frame, pos + 6, end, wireEnd, view);
      }
      if (ethertype <= ETHER_MAX_LENGTH_FIELD) {
        // 802.3 frame: 0: DSAP; 1: SSAP; 2: control. Only SNAP (AA AA 03) can carry IP here.
        if (pos + 3 > end) return DecodeStatus.Truncated;
        if (frame[pos] !== 0xaa || frame[pos + 1] !== 0xaa || frame[pos + 2] !== 0x03) return DecodeStatus.NotIp;
        if (pos + 8 > end) return DecodeStatus.Truncated;
        // 3: OUI; an OUI other than 00-00-00 (or 00-00-F8, 802.1H) names a private protocol.
        if (frame[pos + 3] !== 0 || frame[pos + 4] !== 0 || (frame[pos + 5] !== 0 && frame[pos + 5] !== 0xf8))
          return DecodeStatus.NotIp;
        ethertype = readU16(frame, pos + 6); // 6: ethertype
        if (ethertype <= ETHER_MAX_LENGTH_FIELD) return DecodeStatus.NotIp; // no LLC inside SNAP
        pos += 8;
        continue;
      }
      return DecodeStatus.NotIp; // ARP, LLDP, STP, IPX, ...
    }
  }

  protected decodeMpls(frame: Uint8Array, pos: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    for (;;) {
      if (pos + 4 > end) return DecodeStatus.Truncated;
      const bottomOfStack = (frame[pos + 2] & 0x01) !== 0; // 0: label(20) | TC(3) | S(1) | TTL(8)
      pos += 4;
      if (bottomOfStack) break;
    }
    if (pos >= end) return DecodeStatus.Truncated;
    // MPLS does not say what it carries: the first nibble decides. 0 is a pseudowire control
    // word (Ethernet/ATM/... over MPLS); anything else but 4 or 6 is a non-IP payload too.
    const nibble = frame[pos] >> 4;
    if (nibble === 4 || nibble === 6) return this.decodeIp(frame, pos, end, wireEnd, nibble, view);
    return DecodeStatus.NotIp;
  }

  /**
   * A PPP protocol field at `pos` (RFC 1661), then its payload. The field is 2 bytes, or 1 when
   * compressed (protocol field compression: an odd first byte is the whole field).
   */
  protected decodePpp(frame: Uint8Array, pos: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    if (pos >= end) return DecodeStatus.Truncated;
    let protocol = frame[pos];
    if ((protocol & 1) === 0) {
      if (pos + 2 > end) return DecodeStatus.Truncated;
      protocol = readU16(frame, pos);
      pos += 2;
    } else {
      pos += 1;
    }
    if (protocol === PPP_IPV4) return this.decodeIp(frame, pos, end, wireEnd, 4, view);
    if (protocol === PPP_IPV6) return this.decodeIp(frame, pos, end, wireEnd, 6, view);
    if (protocol === PPP_MPLS || protocol === PPP_MPLS_MULTICAST)
      return this.decodeMpls(frame, pos, end, wireEnd, view);
    return DecodeStatus.NotIp; // LCP, IPCP, IPV6CP, CHAP, PAP, CCP, multilink, ...
  }

  /**
   * Link types PPP (9) and PPP_HDLC (50), read alike (as libpcap and tshark do): address 0xFF and
   * control 0x03 (RFC 1662 framing), or a Cisco HDLC address (0x0F, 0x8F: such links carry Cisco
   * HDLC frames), or neither (address and control field compression: the protocol field first).
   */
  protected decodePppLink(frame: Uint8Array, b: number, end: number, wireEnd: number, view: PacketView): DecodeStatus {
    if (end - b < 2) return DecodeStatus.Truncated;
    const address = frame[b];
    if (address === CISCO_HDLC_UNICAST || address === CISCO_HDLC_MULTICAST)
      return this.decodeCiscoHdlc(frame, b, end, wireEnd, view);
    if (address === HDLC_ADDRESS_ALL) {
      if (frame[b + 1] !== HDLC_CONTROL_UI) return DecodeStatus.BadTag;
      return this.decodePpp(frame, b + 2, end, wireEnd, view);
    }
    return this.decodePpp(frame, b, end, wireEnd, view);
  }

  /** Cisco HDLC (link type 104): 0: address (0x0F unicast, 0x8F multicast); 1: control 0; 2: ethertype. */
  protected decodeCiscoHdlc(
    frame: Uint8Array,
    b: number,
    end: number,
    wireEnd: number,
    view: PacketView,
  ): DecodeStatus {
    if (end - b < 4) return DecodeStatus.Truncated;
    return this.decodeEthertype(frame, b + 4, readU16(frame, b + 2), end, wireEnd, view); // SLARP (0x8035), CDP: not IP
  }
}
