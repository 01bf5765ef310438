import type { PacketView } from './packet-view';

/** Words of a key: family, source (4), destination (4), source port << 16 | destination port. */
const KEY_WORDS = 10;

/**
 * The MSS each TCP flow's receiver announced, for segmenting that flow's super-frames where the
 * kernel did not say how (src/packet/decode/super-frame.ts). A SYN or SYN-ACK carries the MSS its
 * sender can receive, so it is stored under the opposite direction: the flow whose segments it
 * bounds.
 *
 * Bounded and allocation-free: a direct-mapped table of `slots` entries whose arrays are made in
 * the constructor; a SYN whose slot is taken replaces the older entry, and a lookup compares the
 * whole key, so a flow gets only its own MSS or none (then the MTU alone decides).
 */
export class MssCache {
  private readonly keys: Int32Array;
  /** 0: empty slot. */
  private readonly mss: Uint16Array;
  private readonly mask: number;
  /** SYNs whose slot held another flow's MSS. */
  replaced = 0;

  constructor(slots: number) {
    let n = 1;
    while (n < slots) n <<= 1;
    this.mask = n - 1;
    this.keys = new Int32Array(n * KEY_WORDS);
    this.mss = new Uint16Array(n);
  }

  /** Stores the MSS a SYN of `v` announced, for the flow from its destination to its source. */
  rememberReverse(v: PacketView, mss: number): void {
    const d = v.dst;
    const s = v.src;
    const ports = (v.dstPort << 16) | v.srcPort;
    const slot =
      hashKey(v.family, d[0] | 0, d[1] | 0, d[2] | 0, d[3] | 0, s[0] | 0, s[1] | 0, s[2] | 0, s[3] | 0, ports) &
      this.mask;
    const k = slot * KEY_WORDS;
    const keys = this.keys;
    if (this.mss[slot] !== 0 && !(keys[k + 9] === ports && keys[k + 1] === (d[0] | 0) && keys[k + 5] === (s[0] | 0)))
      this.replaced++;
    keys[k] = v.family;
    keys[k + 1] = d[0] | 0;
    keys[k + 2] = d[1] | 0;
    keys[k + 3] = d[2] | 0;
    keys[k + 4] = d[3] | 0;
    keys[k + 5] = s[0] | 0;
    keys[k + 6] = s[1] | 0;
    keys[k + 7] = s[2] | 0;
    keys[k + 8] = s[3] | 0;
    keys[k + 9] = ports;
    this.mss[slot] = mss;
  }

  /** The MSS announced to the flow of `v` (its sender's segments are bounded by it), or 0. */
  find(v: PacketView): number {
    const s = v.src;
    const d = v.dst;
    const ports = (v.srcPort << 16) | v.dstPort;
    const s0 = s[0] | 0;
    const d0 = d[0] | 0;
    const slot =
      hashKey(v.family, s0, s[1] | 0, s[2] | 0, s[3] | 0, d0, d[1] | 0, d[2] | 0, d[3] | 0, ports) & this.mask;
    const k = slot * KEY_WORDS;
    const keys = this.keys;
    if (
      keys[k] === v.family &&
      keys[k + 1] === s0 &&
      keys[k + 2] === (s[1] | 0) &&
      keys[k + 3] === (s[2] | 0) &&
      keys[k + 4] === (s[3] | 0) &&
      keys[k + 5] === d0 &&
      keys[k + 6] === (d[1] | 0) &&
      keys[k + 7] === (d[2] | 0) &&
      keys[k + 8] === (d[3] | 0) &&
      keys[k + 9] === ports
    ) {
      return this.mss[slot];
    }
    return 0;
  }
}

function hashKey(
  family: number,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  d0: number,
  d1: number,
  d2: number,
  d3: number,
  ports: number,
): number {
  let h = Math.imul(family ^ 0x9747b28c, 0x9e3779b1);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ s0, 0x85ebca6b);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ s1, 0xc2b2ae35);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ s2, 0x9e3779b1);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ s3, 0x85ebca6b);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ d0, 0xc2b2ae35);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ d1, 0x9e3779b1);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ d2, 0x85ebca6b);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ d3, 0xc2b2ae35);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ ports, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}
