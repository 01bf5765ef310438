import type { PacketView } from '../packet/decode/packet-view';
import type { EniConfig } from '../config/types';
import { parseMac, parsePrefix, prefixMasks } from './ip-address';

/**
 * Which of the host's ENIs a packet belongs to. A frame whose source MAC is an ENI's MAC, or else
 * whose source address is in that ENI's `ips`, is outbound for it; likewise the destination gives
 * inbound. Lookups run per packet, so they use typed arrays only: an open-addressing table for MACs
 * and exact addresses, and a short linear scan over prefixes (longest first) for CIDRs.
 *
 * Lifecycle: built from a config snapshot and immutable; a change of the ENIs builds a new
 * inventory and the pipeline swaps it in between packets. Indexes are positions in `enis`, which
 * may hold entries that match nothing (a live pipeline's free ENI slots, see FREE_ENI).
 */
export class EniInventory {
  readonly enis: readonly EniConfig[];
  private readonly macKeys: Int32Array; // [hi, lo (int32, as the decoder reads it), eni+1] per slot
  private readonly macMask: number;
  /** The same entries packed (no empty slots), scanned instead when there are at most SCAN_ENTRIES. */
  private readonly macList: Int32Array;
  private readonly macScanWords: number; // 3 per entry; -1 when the table is probed instead
  private readonly hostKeys: Uint32Array; // [family, w0, w1, w2, w3, eni+1] per slot
  private readonly hostMask: number;
  private readonly hostList: Uint32Array;
  private readonly hostScanWords: number; // 6 per entry; -1 when the table is probed instead
  private readonly prefixes: Uint32Array; // [family, w0..w3, m0..m3, eni] per prefix, longest first
  private readonly prefixCount: number;

  /**
   * `secondary` marks ENIs whose MACs and addresses lose to every other ENI's: a live ENI retired
   * until its last window closes still finds its own frames, unless a current ENI took its
   * addresses meanwhile.
   */
  constructor(enis: readonly EniConfig[], secondary?: Uint8Array) {
    this.enis = enis;
    const macs: Array<{ hi: number; lo: number; eni: number }> = [];
    const hosts: Array<{ family: number; words: Uint32Array; eni: number }> = [];
    const nets: Array<{ family: 4 | 6; words: Uint32Array; len: number; eni: number }> = [];
    // Lookups answer the first entry inserted (list order, probe order, stable prefix sort).
    const order = enis.map((_, i) => i);
    if (secondary !== undefined) order.sort((a, b) => (secondary[a] ?? 0) - (secondary[b] ?? 0) || a - b);
    order.forEach((eni) => {
      const e = enis[eni];
      const mac = e.mac ? parseMac(e.mac) : null;
      if (mac) macs.push({ ...mac, eni });
      for (const ip of e.ips) {
        const p = parsePrefix(ip);
        if (!p) continue; // validated by the config loader; nothing to match otherwise
        if (p.prefixLength === (p.family === 4 ? 32 : 128)) hosts.push({ family: p.family, words: p.words, eni });
        else nets.push({ family: p.family, words: p.words, len: p.prefixLength, eni });
      }
    });
    this.macList = Int32Array.from(macs.flatMap((m) => [m.hi, m.lo | 0, m.eni + 1]));
    this.macScanWords = macs.length <= SCAN_ENTRIES ? this.macList.length : -1;
    this.hostList = Uint32Array.from(hosts.flatMap((h) => [h.family, ...h.words, h.eni + 1]));
    this.hostScanWords = hosts.length <= SCAN_ENTRIES ? this.hostList.length : -1;
    // The hash tables are built only for lists too long to scan (empty otherwise, never probed).
    const macSlots = this.macScanWords >= 0 ? 0 : tableSize(macs.length);
    this.macMask = macSlots - 1;
    this.macKeys = new Int32Array(macSlots * 3);
    for (const m of macSlots === 0 ? [] : macs) {
      let slot = hashWords(m.hi, m.lo | 0, 0, 0, 0) & this.macMask;
      while (this.macKeys[slot * 3 + 2] !== 0) slot = (slot + 1) & this.macMask;
      this.macKeys[slot * 3] = m.hi;
      this.macKeys[slot * 3 + 1] = m.lo;
      this.macKeys[slot * 3 + 2] = m.eni + 1;
    }
    const hostSlots = this.hostScanWords >= 0 ? 0 : tableSize(hosts.length);
    this.hostMask = hostSlots - 1;
    this.hostKeys = new Uint32Array(hostSlots * 6);
    for (const h of hostSlots === 0 ? [] : hosts) {
      const w = h.words;
      let slot = hashWords(h.family, w[0] | 0, w[1] | 0, w[2] | 0, w[3] | 0) & this.hostMask;
      while (this.hostKeys[slot * 6 + 5] !== 0) slot = (slot + 1) & this.hostMask;
      const k = slot * 6;
      this.hostKeys[k] = h.family;
      this.hostKeys.set(w, k + 1);
      this.hostKeys[k + 5] = h.eni + 1;
    }
    nets.sort((a, b) => b.len - a.len);
    this.prefixCount = nets.length;
    this.prefixes = new Uint32Array(nets.length * 10);
    nets.forEach((n, i) => {
      this.prefixes[i * 10] = n.family;
      this.prefixes.set(n.words, i * 10 + 1);
      this.prefixes.set(prefixMasks(n.family, n.len), i * 10 + 5);
      this.prefixes[i * 10 + 9] = n.eni;
    });
  }

  /**
   * The lookup tables for the packet kernel (src/packet/wasm), which reads them by the same rules: MACs
   * as [hi, lo, eni + 1] and exact addresses as [family, w0..w3, eni + 1], each either the packed
   * list it scans (mask 0, up to SCAN_ENTRIES) or the open-addressing table it probes with
   * `hashWords` (mask = slots - 1); prefixes as [family, w0..w3, m0..m3, eni], longest first.
   */
  kernelTables(): { macs: Int32Array; macMask: number; hosts: Uint32Array; hostMask: number; prefixes: Uint32Array } {
    const macHashed = this.macScanWords < 0;
    const hostHashed = this.hostScanWords < 0;
    return {
      macs: macHashed ? this.macKeys : this.macList,
      macMask: macHashed ? this.macMask : 0,
      hosts: hostHashed ? this.hostKeys : this.hostList,
      hostMask: hostHashed ? this.hostMask : 0,
      prefixes: this.prefixes,
    };
  }

  /** The ENI the packet leaves, or -1. */
  sourceEni(v: PacketView): number {
    if (v.hasSrcMac) {
      const e = this.macLookup(v.srcMacHi, v.srcMacLo);
      if (e >= 0) return e;
    }
    return this.addressLookup(v.family, v.src);
  }

  /** The ENI the packet enters, or -1. */
  destinationEni(v: PacketView): number {
    if (v.hasDstMac) {
      const e = this.macLookup(v.dstMacHi, v.dstMacLo);
      if (e >= 0) return e;
    }
    return this.addressLookup(v.family, v.dst);
  }

  private macLookup(hi: number, lo: number): number {
    const scan = this.macScanWords;
    if (scan >= 0) {
      // A handful of ENIs (an instance, a small host): comparing each entry beats hashing.
      const list = this.macList;
      for (let k = 0; k < scan; k += 3) if (list[k + 1] === lo && list[k] === hi) return list[k + 2] - 1;
      return -1;
    }
    const keys = this.macKeys;
    let slot = hashWords(hi, lo, 0, 0, 0) & this.macMask;
    for (;;) {
      const e = keys[slot * 3 + 2];
      if (e === 0) return -1;
      if (keys[slot * 3] === hi && keys[slot * 3 + 1] === lo) return e - 1;
      slot = (slot + 1) & this.macMask;
    }
  }

  private addressLookup(family: number, w: Uint32Array): number {
    const host = this.hostScanWords >= 0 ? this.scanHosts(family, w) : this.probeHosts(family, w);
    if (host >= 0) return host;
    const p = this.prefixes;
    for (let i = 0; i < this.prefixCount; i++) {
      const k = i * 10;
      if (
        p[k] === family &&
        (w[0] & p[k + 5]) >>> 0 === p[k + 1] &&
        (w[1] & p[k + 6]) >>> 0 === p[k + 2] &&
        (w[2] & p[k + 7]) >>> 0 === p[k + 3] &&
        (w[3] & p[k + 8]) >>> 0 === p[k + 4]
      ) {
        return p[k + 9];
      }
    }
    return -1;
  }

  /** Exact addresses of a handful of ENIs: each entry compared, no hash (see SCAN_ENTRIES). */
  private scanHosts(family: number, w: Uint32Array): number {
    const list = this.hostList;
    const end = this.hostScanWords;
    const w0 = w[0];
    for (let k = 0; k < end; k += 6) {
      if (
        list[k + 1] === w0 &&
        list[k] === family &&
        list[k + 2] === w[1] &&
        list[k + 3] === w[2] &&
        list[k + 4] === w[3]
      )
        return list[k + 5] - 1;
    }
    return -1;
  }

  /** Exact addresses through the hash table (linear probing). */
  private probeHosts(family: number, w: Uint32Array): number {
    const keys = this.hostKeys;
    let slot = hashWords(family, w[0] | 0, w[1] | 0, w[2] | 0, w[3] | 0) & this.hostMask;
    for (;;) {
      const k = slot * 6;
      const e = keys[k + 5];
      if (e === 0) return -1;
      if (
        keys[k] === family &&
        keys[k + 1] === w[0] &&
        keys[k + 2] === w[1] &&
        keys[k + 3] === w[2] &&
        keys[k + 4] === w[3]
      )
        return e - 1;
      slot = (slot + 1) & this.hostMask;
    }
  }
}

/**
 * Up to this many MACs (or exact addresses) are compared one by one instead of hashed: the
 * common host has one to four ENIs, and a packet's remote end, which matches none, then costs a
 * few comparisons (a hash and a probe of a 4-slot table cost twice as long, measured).
 */
const SCAN_ENTRIES = 4;

function tableSize(entries: number): number {
  let n = 4;
  while (n < entries * 2) n <<= 1;
  return n;
}

function hashWords(a: number, b: number, c: number, d: number, e: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ d ^ (h >>> 16), 0xc2b2ae35);
  h = Math.imul(h ^ e ^ (h >>> 15), 0x85ebca6b);
  return h ^ (h >>> 16); // int32: see readI32 on why not uint32
}
