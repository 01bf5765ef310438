import type { PacketView } from '../packet/decode/packet-view';
import type { KernelTable, TableArena } from '../packet/flow-windows';
import { TABLE_DESCRIPTOR as D } from '../packet/wasm/kernel-layout';

export type { TableArena };

/**
 * Unidirectional flows of one aggregation window, in typed arrays.
 *
 * Layout: one 32-byte entry per flow, entries dense in insertion order so a drain walks them
 * sequentially, plus an open-addressing index (linear probing, power-of-two size, load <= 2/3)
 * mapping a key hash to `entry + 1` (0 = empty). A packet costs one index read and one entry
 * read, and once a window's flows outgrow the caches each is a miss; entries of 32 bytes keep
 * twice as many flows in cache as whole cache lines did (a replay of 76,000 flows a window:
 * 4.9 MB of 64-byte entries, past this machine's cache cliff near 6 MB with the index; measured
 * 20-40 ns a packet faster). An IPv6 flow keeps its two addresses in a side array.
 *
 * Words of entry i at words[i*8 ..] (u32):
 *   0  source address (IPv4), or the IPv6 flow's slot in the side array (8 words a slot)
 *   1  destination address (IPv4), or the IPv6 key's 32-bit hash
 *   2  srcPort << 16 | dstPort
 *   3  eni << 16 | protocol << 8 | flags  (bit 0 IPv6, bit 1 direction out, bit 2 REJECT)
 *   4  packets (a window would need 4.29e9 packets of one flow to wrap: 7 Mpps for 10 minutes)
 *   5  bytes, low 32 bits
 *   6  bytes above 2^32 << 8 | TCP flags seen
 *   7  first second << 16 | last second, each as 32768 + seconds after the table's first packet
 *
 * Times: every packet of a table lies within 32767 s of its first one, since a window is at most
 * an hour (the config refuses longer ones) and a late packet is recorded at its window's start
 * (FlowAggregator); a time outside that range would be clamped to it.
 *
 * Shares (setShare): one ENI cannot take the table from the others. Each of the N ENIs the table
 * serves is guaranteed floor(capacity / 2N) flows; the other half (at least) is a pool any ENI
 * may fill. A new flow of an ENI below its guarantee is always taken (while the table has room);
 * one above it only while the guarantees not yet used still fit beside the pool's flows. Nothing
 * already in is ever evicted: when N changes inside a window the guarantee follows the new N,
 * an ENI above it keeps its flows, and a newcomer gets its guarantee as far as the table still
 * has room. A refused packet is the caller's to count (SKIPDATA of that ENI).
 *
 * Ownership: the table owns its arrays for its whole life; `record` copies what it needs out of
 * the caller's `PacketView`. Single-threaded; not re-entrant.
 */
const ENTRY_WORDS = 8;
const W_PORTS = 2;
const W_META = 3;
const W_PACKETS = 4;
const W_BYTES_LO = 5;
const W_BYTES_HI = 6;
const W_TIMES = 7;
const TIME_BIAS = 0x8000;
/** Words per IPv6 slot of the side array: source, then destination. */
const V6_WORDS = 8;
/** Words per entry of the tunnel side array (see noteTunnel). */
export const TUNNEL_WORDS = 10;
/**
 * An index slot holds `entry + 1` in its low 24 bits (capacity is below 2^24) and 7 bits of the
 * key's hash above them, so a probe that meets another flow's slot almost never reads that
 * flow's entry: at the index's load of 1/2..2/3 a lookup passes 0.5-1 other slots on average,
 * and each entry read is a cache miss once the flows outgrow the cache.
 */
const ENTRY_MASK = 0xffffff;
const INDEX_TAG_MASK = 0x7f000000;
export const FLAG_IPV6 = 1;
/** ENI indexes are stored in 16 bits of the key. */
export const MAX_ENIS = 0xffff;

export class FlowTable implements KernelTable {
  readonly capacity: number;
  private mask: number;
  private index: Int32Array;
  /** Flows the index holds before it doubles (2/3 of its slots). */
  private growAt: number;
  /** Largest index: enough slots for `capacity` flows at load <= 2/3. */
  private readonly maxSlots: number;
  /** The entries, as u32 for counters and as int32 (the same bytes) for key comparisons. */
  private readonly words: Uint32Array;
  private readonly ints: Int32Array;
  /** IPv6 addresses, V6_WORDS per flow; grows by doubling up to `capacity` slots. */
  private v6: Uint32Array;
  private v6Count = 0;
  /**
   * Overlay flows only: per entry [vni + 1, outer family, outer source (4), outer destination
   * (4)], as the flow's first packet came (0: no tunnel). Made and grown on the first tunnel
   * packet, so a table that never sees one (any host without overlay devices) has none.
   */
  private tunnels: Uint32Array | null = null;
  /** Entries below this may have tunnel words (cleared up to it). */
  private tunnelEntries = 0;
  /** Second of the first packet since `clear`, minus TIME_BIAS. */
  private baseSec = 0;
  private count = 0;
  /** Byte offsets of the arrays in the arena, -1 for arrays of their own. */
  private readonly arena: TableArena | null;
  private indexAt = -1;
  private readonly entriesAt: number = -1;
  private v6At = -1;
  /** Flows of each ENI index in the table (see setShare); in the arena when the table is. */
  private readonly eniFlows: Int32Array;
  private readonly eniFlowsAt: number = -1;
  /** Flows each ENI is guaranteed; 0 until setShare (then one pool: first come, first served). */
  private guaranteed = 0;
  /** The guarantees together (guaranteed x ENIs), at most half the capacity. */
  private reserved = 0;
  /** Flows beyond their ENI's guarantee: the pool's share in use. */
  private excess = 0;

  /** `enis`: the ENI indexes the table may see (0..enis-1); shares need them (setShare). */
  constructor(capacity: number, arena?: TableArena, enis = 0) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`flow table capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    let slots = 1;
    while (slots * 2 < capacity * 3) slots <<= 1; // load factor <= 2/3
    if (slots > 1 << 24)
      throw new RangeError(`flow table capacity must be at most ${Math.floor(((1 << 24) * 2) / 3)}, got ${capacity}`);
    this.maxSlots = slots;
    // The index starts small and doubles with the flows: a packet's index read then stays in
    // cache for the flow counts of most windows, where an index sized for the whole capacity
    // (8 MiB at a million flows) costs a cache miss per packet. It starts tiny, so its first
    // doublings happen within the first few dozen flows, before V8 optimizes `record` (growth
    // first reached in optimized code would deoptimize it). Growth happens only while a table is
    // new (tables are reused across windows), never once the index has grown.
    const initial = Math.min(slots, 16);
    this.mask = initial - 1;
    this.arena = arena ?? null;
    this.index = this.newIndex(initial);
    this.growAt = initial === slots ? capacity : Math.floor((initial * 2) / 3);
    const entryBytes = capacity * ENTRY_WORDS * 4;
    const entriesAt = arena === undefined ? -1 : arena.allocate(entryBytes);
    // In an arena the IPv6 side array takes its whole capacity at once (the kernel cannot grow
    // it); pages never written cost no memory.
    const v6At = entriesAt < 0 ? -1 : (arena as TableArena).allocate(capacity * V6_WORDS * 4);
    const eniFlowsAt = v6At < 0 || enis === 0 ? -1 : (arena as TableArena).allocate(enis * 4);
    if (v6At >= 0) {
      const buffer = (arena as TableArena).buffer;
      this.entriesAt = entriesAt;
      this.words = new Uint32Array(buffer, entriesAt, capacity * ENTRY_WORDS);
      this.ints = new Int32Array(buffer, entriesAt, capacity * ENTRY_WORDS);
      this.v6At = v6At;
      this.v6 = new Uint32Array(buffer, v6At, capacity * V6_WORDS);
    } else {
      const entries = new ArrayBuffer(entryBytes);
      this.words = new Uint32Array(entries);
      this.ints = new Int32Array(entries);
      this.v6 = new Uint32Array(Math.min(capacity, 16) * V6_WORDS);
    }
    this.eniFlowsAt = eniFlowsAt;
    this.eniFlows =
      eniFlowsAt >= 0 ? new Int32Array((arena as TableArena).buffer, eniFlowsAt, enis) : new Int32Array(enis);
  }

  /**
   * Shares the table among `enis` ENIs (those its flow logs cover): each is guaranteed
   * floor(capacity / 2 enis) flows, the rest is a pool (see the class comment). Called when the
   * table is made and whenever the count changes; flows already in stay.
   */
  setShare(enis: number): void {
    const n = enis < 1 ? 1 : enis;
    const g = Math.floor(this.capacity / (2 * n));
    this.guaranteed = g;
    this.reserved = g * n;
    let excess = 0;
    const flows = this.eniFlows;
    for (let e = 0; e < flows.length; e++) if (flows[e] > g) excess += flows[e] - g;
    this.excess = excess;
  }

  /** Flows each ENI is guaranteed (0: no shares set). */
  get guaranteedFlows(): number {
    return this.guaranteed;
  }

  /** A zeroed index of `slots` slots, in the arena when it has room. */
  private newIndex(slots: number): Int32Array {
    const at = this.arena === null ? -1 : this.arena.allocate(slots * 4);
    this.indexAt = at;
    return at < 0 ? new Int32Array(slots) : new Int32Array((this.arena as TableArena).buffer, at, slots);
  }

  /**
   * Writes what the packet kernel needs to update this table into `words` from `at`, in the
   * layout of packet/wasm/kernel-layout.ts (TABLE_DESCRIPTOR). False when an array is not in the
   * arena; the kernel then leaves the table alone. Once per kernel call, not per packet.
   */
  exportTo(words: Uint32Array, floats: Float64Array, at: number): boolean {
    if (this.indexAt < 0 || this.v6At < 0) return false;
    words[at + D.index] = this.indexAt;
    words[at + D.mask] = this.mask;
    words[at + D.growAt] = this.growAt;
    words[at + D.count] = this.count;
    words[at + D.capacity] = this.capacity;
    words[at + D.entries] = this.entriesAt;
    words[at + D.v6] = this.v6At;
    words[at + D.v6Count] = this.v6Count;
    floats[(at + D.baseSec) >> 1] = this.baseSec;
    words[at + D.eniFlows] = this.eniFlowsAt < 0 ? 0 : this.eniFlowsAt;
    words[at + D.eniCount] = this.eniFlowsAt < 0 ? 0 : this.eniFlows.length;
    words[at + D.guaranteed] = this.guaranteed;
    words[at + D.reserved] = this.reserved;
    words[at + D.excess] = this.excess;
    return this.eniFlowsAt >= 0 || this.eniFlows.length === 0;
  }

  /** Takes back what the kernel changed (the flows and IPv6 slots it added, the base second, the pool in use). */
  importFrom(words: Uint32Array, floats: Float64Array, at: number): void {
    this.count = words[at + D.count];
    this.v6Count = words[at + D.v6Count];
    this.baseSec = floats[(at + D.baseSec) >> 1];
    this.excess = words[at + D.excess];
  }

  /** Number of flows recorded since the last `clear`. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the table's arrays (for the memory benchmark and the capacity metric). */
  get allocatedBytes(): number {
    return this.index.byteLength + this.words.byteLength + this.v6.byteLength;
  }

  /**
   * Adds one packet, at time `v.tsSec`, to its flow. `flags` combines FLAG_OUT / FLAG_REJECT.
   * Returns false, recording nothing, when the packet starts a new flow and the table is full.
   * (The time is read from the view rather than passed: epoch seconds exceed V8's small-integer
   * range, and a boxed number argument would allocate on every packet.)
   */
  record(v: PacketView, eni: number, flags: number): boolean {
    const tsSec = v.tsSec;
    // Computed on every packet, then selected: an operation that ran only before V8 allocated
    // this method's feedback (the first packet of the first table) has none, and the first
    // window to reuse the table would deoptimize it.
    const fresh = tsSec - TIME_BIAS;
    const base = this.count === 0 ? fresh : this.baseSec;
    let at = tsSec - base;
    at = at < 0 ? 0 : at > 0xffff ? 0xffff : at;
    const s = v.src;
    const d = v.dst;
    const ipv6 = v.family === 6;
    // int32 throughout: a uint32 of 2^31 or more is a heap number in V8.
    const ports = (v.srcPort << 16) | v.dstPort;
    const meta = (eni << 16) | (v.protocol << 8) | flags | (ipv6 ? FLAG_IPV6 : 0);
    const s0 = s[0] | 0;
    const d0 = d[0] | 0;
    let h = mixIpv4(s0, d0, ports, meta);
    if (ipv6) h = mixIpv6Rest(h, s, d);
    h = finish(h);
    const indexTag = indexTagOf(h);
    // IPv4 compares both addresses in the entry; IPv6 the full hash there, then the side array.
    const key1 = ipv6 ? h : d0;

    const index = this.index;
    const w = this.ints;
    const mask = this.mask;
    // The step to the next slot is taken first, so it runs on every packet: a step first taken
    // after V8 optimized this method (the first collision) would deoptimize it.
    let slot = ((h >>> 8) - 1) & mask;
    for (;;) {
      slot = (slot + 1) & mask;
      const e = index[slot];
      if (e === 0) break;
      const k = ((e & ENTRY_MASK) - 1) * ENTRY_WORDS;
      if (
        (e & INDEX_TAG_MASK) === indexTag &&
        w[k + W_META] === meta &&
        w[k + W_PORTS] === ports &&
        w[k + 1] === key1 &&
        (ipv6 ? this.sameIpv6(w[k], s, d) : w[k] === s0)
      ) {
        const u = this.words;
        u[k + W_PACKETS] += v.segments;
        const lo = u[k + W_BYTES_LO] + v.l3Bytes;
        u[k + W_BYTES_LO] = lo; // stored modulo 2^32; the carry goes to the high word
        // Stored unconditionally, as selects: a store first reached after V8 optimized this
        // method (a first carry, the first packet of a flow in a later second) would deoptimize it.
        u[k + W_BYTES_HI] = (u[k + W_BYTES_HI] + (lo > 0xffffffff ? 0x100 : 0)) | (v.tcpFlags & 0xff);
        const times = u[k + W_TIMES];
        const first = times >>> 16;
        const last = times & 0xffff;
        u[k + W_TIMES] = ((at < first ? at : first) << 16) | (at > last ? at : last);
        return true;
      }
    }
    const i = this.count;
    if (i === this.capacity) return false;
    // The ENI's share: below its guarantee always; beyond it only while the pool has room.
    const flows = this.eniFlows;
    const known = eni < flows.length;
    const used = known ? flows[eni] : this.guaranteed;
    if (used >= this.guaranteed) {
      if (this.reserved + this.excess >= this.capacity) return false;
      this.excess++;
    }
    if (known) flows[eni] = used + 1;
    this.count = i + 1;
    this.baseSec = base;
    index[slot] = indexTag | (i + 1);
    const k = i * ENTRY_WORDS;
    w[k] = ipv6 ? this.addIpv6(s, d) : s0;
    w[k + 1] = key1;
    w[k + W_PORTS] = ports;
    w[k + W_META] = meta;
    w[k + W_PACKETS] = v.segments;
    w[k + W_BYTES_LO] = v.l3Bytes;
    w[k + W_BYTES_HI] = v.tcpFlags & 0xff;
    w[k + W_TIMES] = (at << 16) | at;
    if (v.vni >= 0) this.noteTunnel(i, v);
    if (this.count > this.growAt) this.growIndex();
    return true;
  }

  /** Keeps the tunnel of new flow `i` (overlay packets only: not on the common path). */
  private noteTunnel(i: number, v: PacketView): void {
    let t = this.tunnels;
    if (t === null || (i + 1) * TUNNEL_WORDS > t.length) {
      const grown = new Uint32Array(Math.min(this.capacity, Math.max(64, (i + 1) * 2)) * TUNNEL_WORDS);
      if (t !== null) grown.set(t);
      this.tunnels = t = grown;
    }
    const k = i * TUNNEL_WORDS;
    t[k] = v.vni + 1;
    t[k + 1] = v.tunnelFamily;
    t.set(v.tunnelSrc, k + 2);
    t.set(v.tunnelDst, k + 6);
    if (i + 1 > this.tunnelEntries) this.tunnelEntries = i + 1;
  }

  private sameIpv6(slot: number, s: Uint32Array, d: Uint32Array): boolean {
    const a = this.v6;
    const k = slot * V6_WORDS;
    return (
      a[k] === s[0] &&
      a[k + 1] === s[1] &&
      a[k + 2] === s[2] &&
      a[k + 3] === s[3] &&
      a[k + 4] === d[0] &&
      a[k + 5] === d[1] &&
      a[k + 6] === d[2] &&
      a[k + 7] === d[3]
    );
  }

  /** Stores a new IPv6 flow's addresses; returns its slot. Grows the side array when full. */
  private addIpv6(s: Uint32Array, d: Uint32Array): number {
    const n = this.v6Count;
    if ((n + 1) * V6_WORDS > this.v6.length) {
      const grown = new Uint32Array(Math.min(this.capacity, (n + 1) * 2) * V6_WORDS);
      grown.set(this.v6);
      this.v6 = grown;
    }
    const k = n * V6_WORDS;
    this.v6.set(s, k);
    this.v6.set(d, k + 4);
    this.v6Count = n + 1;
    return n;
  }

  /** Doubles the index and re-inserts every entry by its hash. */
  private growIndex(): void {
    const slots = this.index.length * 2;
    const index = this.newIndex(slots);
    const mask = slots - 1;
    const w = this.ints;
    for (let i = 0; i < this.count; i++) {
      const k = i * ENTRY_WORDS;
      const h =
        (w[k + W_META] & FLAG_IPV6) !== 0 ? w[k + 1] : finish(mixIpv4(w[k], w[k + 1], w[k + W_PORTS], w[k + W_META]));
      let slot = (h >>> 8) & mask;
      while (index[slot] !== 0) slot = (slot + 1) & mask;
      index[slot] = indexTagOf(h) | (i + 1);
    }
    this.index = index;
    this.mask = mask;
    this.growAt = slots === this.maxSlots ? this.capacity : Math.floor((slots * 2) / 3);
  }

  /** Forgets every flow. The index is zeroed; entries are overwritten on reuse. */
  clear(): void {
    if (this.count > 0) {
      this.index.fill(0);
      this.eniFlows.fill(0);
    }
    this.excess = 0;
    this.count = 0;
    this.v6Count = 0;
    if (this.tunnelEntries > 0) (this.tunnels as Uint32Array).fill(0, 0, this.tunnelEntries * TUNNEL_WORDS);
    this.tunnelEntries = 0;
  }

  // ---- per-entry accessors for drains (entry i in 0..size-1) ----
  eni(i: number): number {
    return this.words[i * ENTRY_WORDS + W_META] >>> 16;
  }
  protocol(i: number): number {
    return (this.words[i * ENTRY_WORDS + W_META] >>> 8) & 0xff;
  }
  flags(i: number): number {
    return this.words[i * ENTRY_WORDS + W_META] & 0xff;
  }
  srcPort(i: number): number {
    return this.words[i * ENTRY_WORDS + W_PORTS] >>> 16;
  }
  dstPort(i: number): number {
    return this.words[i * ENTRY_WORDS + W_PORTS] & 0xffff;
  }
  packets(i: number): number {
    return this.words[i * ENTRY_WORDS + W_PACKETS];
  }
  bytes(i: number): number {
    const k = i * ENTRY_WORDS;
    return (this.words[k + W_BYTES_HI] >>> 8) * 0x100000000 + this.words[k + W_BYTES_LO];
  }
  startSec(i: number): number {
    return this.baseSec + (this.words[i * ENTRY_WORDS + W_TIMES] >>> 16);
  }
  endSec(i: number): number {
    return this.baseSec + (this.words[i * ENTRY_WORDS + W_TIMES] & 0xffff);
  }
  tcpFlags(i: number): number {
    return this.words[i * ENTRY_WORDS + W_BYTES_HI] & 0xff;
  }
  /**
   * The array holding entry i's addresses, at `srcAddressAt(i)` and `dstAddressAt(i)`: one word
   * each for IPv4 (the `flags(i) & FLAG_IPV6` bit clear), four for IPv6. Valid until `clear`.
   */
  addressWords(i: number): Uint32Array {
    return (this.words[i * ENTRY_WORDS + W_META] & FLAG_IPV6) !== 0 ? this.v6 : this.words;
  }
  /** The VNI of entry i's tunnel (an overlay flow), or -1. */
  tunnelVni(i: number): number {
    return this.tunnels !== null && i < this.tunnelEntries ? this.tunnels[i * TUNNEL_WORDS] - 1 : -1;
  }
  /**
   * Entry i's tunnel (when tunnelVni(i) >= 0): the outer family, and the array holding the outer
   * source at `i * 10 + 2` and destination at `i * 10 + 6` (four words each, IPv4 in the first).
   */
  tunnelFamily(i: number): number {
    return (this.tunnels as Uint32Array)[i * TUNNEL_WORDS + 1];
  }
  tunnelWords(): Uint32Array {
    return this.tunnels as Uint32Array;
  }
  srcAddressAt(i: number): number {
    const k = i * ENTRY_WORDS;
    return (this.words[k + W_META] & FLAG_IPV6) !== 0 ? this.words[k] * V6_WORDS : k;
  }
  dstAddressAt(i: number): number {
    const k = i * ENTRY_WORDS;
    return (this.words[k + W_META] & FLAG_IPV6) !== 0 ? this.words[k] * V6_WORDS + 4 : k + 1;
  }
}

// Multiply-rotate per key word, then murmur3's finaliser for avalanche. Words go in as int32: a
// uint32 of 2^31 or more is a heap number in V8. IPv4 keys skip the six address words that are
// always zero (a third of the hashing work of every packet).
function mixIpv4(s0: number, d0: number, ports: number, meta: number): number {
  let h = Math.imul(s0 ^ 0x9747b28c, 0x9e3779b1);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ d0, 0x85ebca6b);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ ports, 0xc2b2ae35);
  return Math.imul(((h << 13) | (h >>> 19)) ^ meta, 0x9e3779b1);
}

function mixIpv6Rest(h: number, s: Uint32Array, d: Uint32Array): number {
  h = Math.imul(((h << 13) | (h >>> 19)) ^ (s[1] | 0), 0x85ebca6b);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ (s[2] | 0), 0xc2b2ae35);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ (s[3] | 0), 0x9e3779b1);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ (d[1] | 0), 0x85ebca6b);
  h = Math.imul(((h << 13) | (h >>> 19)) ^ (d[2] | 0), 0xc2b2ae35);
  return Math.imul(((h << 13) | (h >>> 19)) ^ (d[3] | 0), 0x9e3779b1);
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The index tag of a hash: 7 bits taken by a multiplication of the 24 bits above the slot bits,
 * so flows in neighbouring slots (which share the low bits that chose their slots) still differ.
 */
function indexTagOf(h: number): number {
  return (Math.imul(h & 0xffffff00, 0x9e3779b1) >>> 25) << 24;
}
