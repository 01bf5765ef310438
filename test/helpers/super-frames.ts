/**
 * Frames for the super-frame tests of the kernel and the TypeScript path: Ethernet, IPv4 or IPv6,
 * TCP (with timestamps, or a SYN with an MSS option) or UDP, of any L3 length, only their headers
 * captured (the rest is what the wire length says), and the capture addon's segmentation word.
 */
type Prng = () => number;

export interface SuperFrameSpec {
  family: 4 | 6;
  protocol: 6 | 17 | 1;
  /** L3 length the IP header announces (IPv4: 0 for a TSO frame, taken from the wire length). */
  l3Bytes: number;
  /** Wire length when it differs from 14 + l3Bytes (IPv4 total length 0). */
  wireLen?: number;
  srcMac: number[];
  dstMac: number[];
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  /** A SYN (with an MSS option of this value, when given) instead of an ACK|PSH data segment. */
  synMss?: number;
  /** Bytes of the frame kept (default: every header byte built). */
  capLen?: number;
}

/** The frame's header bytes (all that a short snaplen keeps of a super-frame). */
export function superFrameBytes(s: SuperFrameSpec): number[] {
  // prettier-ignore
  const tcp =
    s.synMss !== undefined
      ? [s.sport >> 8, s.sport & 0xff, s.dport >> 8, s.dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, s.synMss >> 8, s.synMss & 0xff]
      : [s.sport >> 8, s.sport & 0xff, s.dport >> 8, s.dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0x80, 0x18, 1, 0xf6, 0, 0, 0, 0, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
  // prettier-ignore
  const udp = [s.sport >> 8, s.sport & 0xff, s.dport >> 8, s.dport & 0xff, (s.l3Bytes - (s.family === 4 ? 20 : 40)) >> 8, (s.l3Bytes - (s.family === 4 ? 20 : 40)) & 0xff, 0, 0];
  const l4 = s.protocol === 6 ? tcp : s.protocol === 17 ? udp : [8, 0, 0, 0, 0, 1, 0, 1];
  const len = s.l3Bytes;
  // prettier-ignore
  const ip =
    s.family === 4
      ? [0x45, 0, (len >> 8) & 0xff, len & 0xff, 0, 1, 0x40, 0, 64, s.protocol, 0, 0, ...s.src, ...s.dst]
      : [0x60, 0, 0, 0, ((len - 40) >> 8) & 0xff, (len - 40) & 0xff, s.protocol === 1 ? 58 : s.protocol, 64, ...s.src, ...s.dst];
  return [...s.dstMac, ...s.srcMac, s.family === 4 ? 0x08 : 0x86, s.family === 4 ? 0x00 : 0xdd, ...ip, ...l4];
}

/** The capture addon's segmentation word (bit 31, hdr_len / 2, gso_type, gso_size) as a u32. */
export function segmentationWord(gsoType: number, gsoSize: number, hdrLen = 0): number {
  return (0x80000000 | ((hdrLen >> 1) << 24) | (gsoType << 16) | gsoSize) >>> 0;
}

/** Appends a live record (ChunkRecorder's layout: seconds, word 1, captured, wire length, frame). */
export function liveRecord(tsSec: number, word1: number, frame: number[], capLen: number, wireLen: number): Buffer {
  const r = Buffer.alloc(16 + capLen);
  r.writeUInt32LE(tsSec, 0);
  r.writeUInt32LE(word1 >>> 0, 4);
  r.writeUInt32LE(capLen, 8);
  r.writeUInt32LE(wireLen, 12);
  Buffer.from(frame.slice(0, capLen)).copy(r, 16);
  return r;
}

/**
 * A random mix for the differential tests: mostly ordinary frames (which the kernel takes),
 * TCP and UDP super-frames of both families (some with sizes that are not a multiple of a
 * segment, some with their TCP header cut), SYNs with MSS options (the other direction's bound),
 * ICMP over the MTU, and IPv4 TSO frames of total length 0. `word` gives a frame's segmentation
 * word (0: none) for live chunks.
 */
export function superFrameMix(
  r: Prng,
  n: number,
  start: number,
  macs: { eni: number[]; gateway: number[] },
  word: (s: SuperFrameSpec, r: Prng) => number,
) {
  const out: Array<{ tsSec: number; word: number; frame: number[]; capLen: number; wireLen: number }> = [];
  const v4 = (last: number) => [10, 0, 0, last];
  const v6 = (last: number) => [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0, last];
  for (let i = 0; i < n; i++) {
    const family: 4 | 6 = r() < 0.3 ? 6 : 4;
    const pick = r();
    const protocol: 6 | 17 | 1 = pick < 0.7 ? 6 : pick < 0.95 ? 17 : 1;
    const header = (family === 4 ? 20 : 40) + (protocol === 6 ? 32 : 8);
    const big = r() < 0.3;
    let l3Bytes = big ? header + 1400 + Math.floor(r() * 60000) : header + Math.floor(r() * 1400);
    const out1 = r() < 0.5;
    const remote = 1 + Math.floor(r() * 3);
    const local = 5 + Math.floor(r() * 3); // 10.0.0.5-7 (fd00::a00:5-7)
    const spec: SuperFrameSpec = {
      family,
      protocol,
      l3Bytes,
      srcMac: out1 ? macs.eni : macs.gateway,
      dstMac: out1 ? macs.gateway : macs.eni,
      src: family === 4 ? v4(out1 ? local : remote) : v6(out1 ? local : remote),
      dst: family === 4 ? v4(out1 ? remote : local) : v6(out1 ? remote : local),
      sport: out1 ? 40000 + remote : 5201,
      dport: out1 ? 5201 : 40000 + remote,
    };
    if (protocol === 6 && !big && r() < 0.1) {
      spec.synMss = [536, 1000, 1380, 1460, 8960][Math.floor(r() * 5)];
      spec.l3Bytes = l3Bytes = header - 8; // 20 + 24
    }
    const frame = superFrameBytes(spec);
    let capLen = frame.length;
    if (big && r() < 0.1) capLen = 14 + (family === 4 ? 20 : 40) + 6; // the transport header cut
    let wireLen = 14 + l3Bytes;
    if (family === 4 && big && r() < 0.1) {
      frame[16] = 0; // IPv4 total length 0 (TSO): the length comes from the wire
      frame[17] = 0;
      wireLen = 14 + l3Bytes;
    }
    out.push({ tsSec: start + Math.floor(i / 40), word: word(spec, r), frame, capLen, wireLen });
  }
  return out;
}
