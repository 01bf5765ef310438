import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { PacketView } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { randomPacket } from '../../helpers/random-frames';
import { prng } from '../../helpers/views';

/**
 * The decoder reads untagged Ethernet with plain IPv4 or IPv6 in one function (the fast lane)
 * and everything else through the ethertype and IP layers. An 802.1Q tag changes no field of
 * the view, so the same frame with a tag must decode to the same view through the general path:
 * this compares the two over frames with random lengths, fragment bits, protocols, next headers
 * and snaplens, many of them on purpose just outside what the fast lane takes.
 */

const MACS = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x05];

function snapshot(v: PacketView, status: number) {
  return {
    status,
    family: v.family,
    src: Array.from(v.src),
    dst: Array.from(v.dst),
    protocol: v.protocol,
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    l3Bytes: v.l3Bytes,
    tcpFlags: v.tcpFlags,
    macs: [v.hasSrcMac, v.srcMacHi, v.srcMacLo, v.hasDstMac, v.dstMacHi, v.dstMacLo],
    sll: v.sllPacketType,
    nflog: [v.nflogGroup, v.nflogIndev, v.nflogOutdev, v.nflogPrefixOffset, v.nflogPrefixLength],
  };
}

describe('decoder fast lane', () => {
  it('decodes every frame to the view the general path gives the same frame with a VLAN tag', () => {
    const r = prng(20261124);
    const decoder = new Decoder({ fragmentCacheSize: 64 });
    const view = new PacketView();
    // As sources do, every frame is copied into one reused buffer (the decoder keeps a DataView
    // per buffer for the fast lane): half of them end exactly at the buffer's end, so a read past
    // the captured bytes would throw; the others sit anywhere, followed by stale bytes.
    const untaggedBuf = new Uint8Array(512).fill(0xee);
    const taggedBuf = new Uint8Array(512).fill(0xee);
    let fastCandidates = 0;
    for (let n = 0; n < 20_000; n++) {
      const { ethertype, ip, fast } = randomPacket(r);
      const untagged = Uint8Array.from([...MACS, ethertype >> 8, ethertype & 0xff, ...ip]);
      const tagged = Uint8Array.from([...MACS, 0x81, 0x00, 0x00, 0x64, ethertype >> 8, ethertype & 0xff, ...ip]);
      // A snaplen anywhere from the Ethernet header to the whole frame, the wire length whole.
      const capLen = r() < 0.5 ? untagged.length : 14 + Math.floor(r() * (untagged.length - 13));
      if (fast && (ethertype === 0x0800 ? capLen >= 34 && ip[0] >> 4 === 4 : capLen >= 54 && ip[0] >> 4 === 6))
        fastCandidates++;
      const atEnd = n % 2 === 0;
      const at = atEnd ? untaggedBuf.length - capLen : Math.floor(r() * (untaggedBuf.length - tagged.length));
      const taggedAt = atEnd ? taggedBuf.length - capLen - 4 : at;
      untaggedBuf.fill(0xee);
      untaggedBuf.set(untagged.subarray(0, atEnd ? capLen : untagged.length), at);
      taggedBuf.fill(0xee);
      taggedBuf.set(tagged.subarray(0, atEnd ? capLen + 4 : tagged.length), taggedAt);

      // Each decode starts from a view another frame left dirty (SLL and NFLOG fields included).
      Object.assign(view, {
        sllPacketType: 3,
        nflogGroup: 7,
        nflogIndev: 2,
        nflogOutdev: 4,
        nflogPrefixOffset: 9,
        nflogPrefixLength: 5,
      });
      view.src.fill(0xffffffff);
      view.dst.fill(0xffffffff);
      Object.assign(view, { frameOffset: at, capLen, wireLen: untagged.length, tsSec: 1_700_000_000 });
      const a = snapshot(view, decoder.decode(LinkType.Ethernet, untaggedBuf, view));

      Object.assign(view, { sllPacketType: 1, nflogGroup: 3 });
      view.src.fill(0x12345678);
      Object.assign(view, { frameOffset: taggedAt, capLen: capLen + 4, wireLen: tagged.length, tsSec: 1_700_000_000 });
      const b = snapshot(view, decoder.decode(LinkType.Ethernet, taggedBuf, view));
      expect(a, `case ${n}: ${Buffer.from(untagged.subarray(0, capLen)).toString('hex')}`).toEqual(b);
    }
    expect(fastCandidates).toBeGreaterThan(2500);
  });
});
