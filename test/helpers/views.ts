import type { PacketView } from '../../src/packet/decode/packet-view';
import { parseIpWords } from '../../src/enrich/ip-address';

/** Fills a PacketView the way the decoder would for a plain IP packet, for flow-stage tests. */
export function setView(
  v: PacketView,
  p: {
    ts: number;
    src: string;
    dst: string;
    proto?: number;
    sport?: number;
    dport?: number;
    bytes: number;
    tcpFlags?: number;
    srcMac?: [number, number];
    dstMac?: [number, number];
  },
): PacketView {
  const s = parseIpWords(p.src);
  const d = parseIpWords(p.dst);
  if (!s || !d) throw new Error(`bad address in test packet: ${p.src} ${p.dst}`);
  v.tsSec = p.ts;
  v.family = s.family;
  v.src.set(s.words);
  v.dst.set(d.words);
  v.protocol = p.proto ?? 17;
  v.srcPort = p.sport ?? 0;
  v.dstPort = p.dport ?? 0;
  v.l3Bytes = p.bytes;
  v.tcpFlags = p.tcpFlags ?? 0;
  v.hasSrcMac = p.srcMac !== undefined;
  v.hasDstMac = p.dstMac !== undefined;
  [v.srcMacHi, v.srcMacLo] = p.srcMac ?? [0, 0];
  [v.dstMacHi, v.dstMacLo] = p.dstMac ?? [0, 0];
  return v;
}

/** Deterministic PRNG (mulberry32) so table tests are reproducible without Math.random. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
