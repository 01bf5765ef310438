import type { PacketView } from '../decode/packet-view';

/**
 * Unidirectional flows of one aggregation window, in typed arrays.
 *
 * Layout: one 64-byte entry per flow (a cache line), entries dense in insertion order so a drain
 * walks them sequentially, plus an open-addressing index (linear probing, power-of-two size,
 * load <= 2/3) mapping a key hash to `entry + 1` (0 = empty). Keeping a flow's key and counters
 * in one line makes a packet cost one index read and one entry line; a structure of separate
 * arrays cost a cache miss per counter. Per flow: 64 B + about 8 B of index, and no per-flow
 * object for the GC to trace.
 *
 * Words of entry i at words[i*16 ..] (u32 unless noted):
 *   0..3  source address (IPv4 in word 0, words 1..3 zero)
 *   4..7  destination address
 *   8     srcPort << 16 | dstPort
 *   9     eni << 16 | protocol << 8 | flags  (bit 0 IPv6, bit 1 direction out, bit 2 REJECT)
 *   10    hash & 0xffffff00 | TCP flags seen
 *   11    packets (a window would need 4.29e9 packets of one flow to wrap: 7 Mpps for 10 minutes)
 *   12    first second
 *   13    last second
 *   14-15 bytes, float64 (exact to 2^53)
 *
 * Ownership: the table owns its arrays for its whole life; `record` copies what it needs out of
 * the caller's `PacketView`. Single-threaded; not re-entrant.
 */
export const KEY_WORDS = 16;
const W_HASH = 10;
const W_PACKETS = 11;
const W_FIRST = 12;
const W_LAST = 13;
/** Float64 index of the bytes of entry i is i * 8 + F_BYTES. */
const F_BYTES = 7;
const HASH_MASK = 0xffffff00 | 0;
/**
 * An index slot holds `entry + 1` in its low 24 bits (capacity is below 2^24) and 7 more bits of
 * the key's hash above them, so a probe that meets another flow's slot almost never reads that
 * flow's entry: at the index's load of 1/2..2/3 a lookup passes 0.5-1 other slots on average,
 * and each entry read is a cache miss once the flows outgrow the cache.
 */
const ENTRY_MASK = 0xffffff;
const INDEX_TAG_MASK = 0x7f000000;
export const FLAG_IPV6 = 1;
export const FLAG_OUT = 2;
export const FLAG_REJECT = 4;
/** ENI indexes are stored in 16 bits of the key. */
export const MAX_ENIS = 0xffff;

export class FlowTable {
  readonly capacity: number;
  private mask: number;
  private index: Int32Array;
  /** Flows the index holds before it doubles (2/3 of its slots). */
  private growAt: number;
  /** Largest index: enough slots for `capacity` flows at load <= 2/3. */
  private readonly maxSlots: number;
  private readonly words: Uint32Array;
  private readonly doubles: Float64Array;
  private count = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`flow table capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    let slots = 1;
    while (slots * 2 < capacity * 3) slots <<= 1; // load factor <= 2/3
    if (slots > 1 << 24) throw new RangeError(`flow table capacity must be at most ${Math.floor(((1 << 24) * 2) / 3)}, got ${capacity}`);
    this.maxSlots = slots;
    // The index starts small and doubles with the flows: a packet's index read then stays in
    // cache for the flow counts of most windows, where an index sized for the whole capacity
    // (8 MiB at a million flows) costs a cache miss per packet. It starts tiny, so its first
    // doublings happen within the first few dozen flows, before V8 optimizes `record` (growth
    // first reached in optimized code would deoptimize it). Growth happens only while a table is
    // new (tables are reused across windows), never once the index has grown.
    const initial = Math.min(slots, 16);
    this.mask = initial - 1;
    this.index = new Int32Array(initial);
    this.growAt = initial === slots ? capacity : Math.floor((initial * 2) / 3);
    const entries = new ArrayBuffer(capacity * KEY_WORDS * 4);
    this.words = new Uint32Array(entries);
    this.doubles = new Float64Array(entries);
  }

  /** Number of flows recorded since the last `clear`. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the table's arrays (for the memory benchmark and the capacity metric). */
  get allocatedBytes(): number {
    return this.index.byteLength + this.words.byteLength;
  }

  /**
   * Adds one packet, at time `v.tsSec`, to its flow. `flags` combines FLAG_OUT / FLAG_REJECT.
   * Returns false, recording nothing, when the packet starts a new flow and the table is full.
   * (The time is read from the view rather than passed: epoch seconds exceed V8's small-integer
   * range, and a boxed number argument would allocate on every packet.)
   */
  record(v: PacketView, eni: number, flags: number): boolean {
    const tsSec = v.tsSec;
    const s = v.src;
    const d = v.dst;
    const ports = ((v.srcPort << 16) | v.dstPort) >>> 0;
    const meta = ((eni << 16) | (v.protocol << 8) | flags | (v.family === 6 ? FLAG_IPV6 : 0)) >>> 0;
    // Multiply-rotate per key word, then murmur3's finaliser for avalanche. Words go in as int32
    // (`| 0`): a uint32 of 2^31 or more is a heap number in V8. IPv4 keys skip the six address
    // words that are always zero (a third of the hashing work of every packet).
    let h = Math.imul((s[0] | 0) ^ 0x9747b28c, 0x9e3779b1);
    h = Math.imul(((h << 13) | (h >>> 19)) ^ (d[0] | 0), 0x85ebca6b);
    h = Math.imul(((h << 13) | (h >>> 19)) ^ (ports | 0), 0xc2b2ae35);
    h = Math.imul(((h << 13) | (h >>> 19)) ^ (meta | 0), 0x9e3779b1);
    if ((meta & FLAG_IPV6) !== 0) {
      h = Math.imul(((h << 13) | (h >>> 19)) ^ (s[1] | 0), 0x85ebca6b);
      h = Math.imul(((h << 13) | (h >>> 19)) ^ (s[2] | 0), 0xc2b2ae35);
      h = Math.imul(((h << 13) | (h >>> 19)) ^ (s[3] | 0), 0x9e3779b1);
      h = Math.imul(((h << 13) | (h >>> 19)) ^ (d[1] | 0), 0x85ebca6b);
      h = Math.imul(((h << 13) | (h >>> 19)) ^ (d[2] | 0), 0xc2b2ae35);
      h = Math.imul(((h << 13) | (h >>> 19)) ^ (d[3] | 0), 0x9e3779b1);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16; // int32 throughout: a uint32 of 2^31 or more would be a boxed heap number
    const tag = h & HASH_MASK;
    const indexTag = indexTagOf(tag);

    const index = this.index;
    const w = this.words;
    const mask = this.mask;
    // The slot comes from the hash bits kept in the entry's tag, so the index can be rebuilt. The
    // step to the next slot is taken first, so it runs on every packet: a step first taken after
    // V8 optimized this method (the first collision) would deoptimize it.
    let slot = ((h >>> 8) - 1) & mask;
    for (;;) {
      slot = (slot + 1) & mask;
      const e = index[slot];
      if (e === 0) break;
      const entry = (e & ENTRY_MASK) - 1;
      const k = entry * KEY_WORDS;
      if (
        (e & INDEX_TAG_MASK) === indexTag &&
        (w[k + W_HASH] & HASH_MASK) === tag &&
        w[k + 9] === meta &&
        w[k + 8] === ports &&
        w[k] === s[0] &&
        w[k + 4] === d[0] &&
        w[k + 1] === s[1] &&
        w[k + 2] === s[2] &&
        w[k + 3] === s[3] &&
        w[k + 5] === d[1] &&
        w[k + 6] === d[2] &&
        w[k + 7] === d[3]
      ) {
        w[k + W_PACKETS] += 1;
        this.doubles[entry * 8 + F_BYTES] += v.l3Bytes;
        // Stored unconditionally: a store first reached after V8 optimized this method (the
        // first packet of a flow in a later second) would deoptimize it.
        const first = w[k + W_FIRST];
        const last = w[k + W_LAST];
        w[k + W_FIRST] = tsSec < first ? tsSec : first;
        w[k + W_LAST] = tsSec > last ? tsSec : last;
        w[k + W_HASH] |= v.tcpFlags & 0xff;
        return true;
      }
    }
    const i = this.count;
    if (i === this.capacity) return false;
    this.count = i + 1;
    index[slot] = indexTag | (i + 1);
    const k = i * KEY_WORDS;
    w[k] = s[0];
    w[k + 1] = s[1];
    w[k + 2] = s[2];
    w[k + 3] = s[3];
    w[k + 4] = d[0];
    w[k + 5] = d[1];
    w[k + 6] = d[2];
    w[k + 7] = d[3];
    w[k + 8] = ports;
    w[k + 9] = meta;
    w[k + W_HASH] = tag | (v.tcpFlags & 0xff);
    w[k + W_PACKETS] = 1;
    w[k + W_FIRST] = tsSec;
    w[k + W_LAST] = tsSec;
    this.doubles[i * 8 + F_BYTES] = v.l3Bytes;
    if (this.count > this.growAt) this.growIndex();
    return true;
  }

  /** Doubles the index and re-inserts every entry by its stored hash tag. */
  private growIndex(): void {
    const slots = this.index.length * 2;
    const index = new Int32Array(slots);
    const mask = slots - 1;
    const w = this.words;
    for (let i = 0; i < this.count; i++) {
      let slot = (w[i * KEY_WORDS + W_HASH] >>> 8) & mask;
      while (index[slot] !== 0) slot = (slot + 1) & mask;
      index[slot] = indexTagOf(w[i * KEY_WORDS + W_HASH] & HASH_MASK) | (i + 1);
    }
    this.index = index;
    this.mask = mask;
    this.growAt = slots === this.maxSlots ? this.capacity : Math.floor((slots * 2) / 3);
  }

  /** Forgets every flow. The index is zeroed; entries are overwritten on reuse. */
  clear(): void {
    if (this.count > 0) this.index.fill(0);
    this.count = 0;
  }

  // ---- per-entry accessors for drains (entry i in 0..size-1) ----
  eni(i: number): number {
    return this.words[i * KEY_WORDS + 9] >>> 16;
  }
  protocol(i: number): number {
    return (this.words[i * KEY_WORDS + 9] >>> 8) & 0xff;
  }
  flags(i: number): number {
    return this.words[i * KEY_WORDS + 9] & 0xff;
  }
  srcPort(i: number): number {
    return this.words[i * KEY_WORDS + 8] >>> 16;
  }
  dstPort(i: number): number {
    return this.words[i * KEY_WORDS + 8] & 0xffff;
  }
  packets(i: number): number {
    return this.words[i * KEY_WORDS + W_PACKETS];
  }
  bytes(i: number): number {
    return this.doubles[i * 8 + F_BYTES];
  }
  startSec(i: number): number {
    return this.words[i * KEY_WORDS + W_FIRST];
  }
  endSec(i: number): number {
    return this.words[i * KEY_WORDS + W_LAST];
  }
  tcpFlags(i: number): number {
    return this.words[i * KEY_WORDS + W_HASH] & 0xff;
  }
  /** The entry words; entry i's source address is at i*KEY_WORDS, its destination 4 words later. */
  keyWords(): Uint32Array {
    return this.words;
  }
}

/**
 * The index tag of a stored hash tag: 7 bits taken by a multiplication of all 24 stored bits,
 * so flows in neighbouring slots (which share the low bits that chose their slots) still differ.
 */
function indexTagOf(tag: number): number {
  return (Math.imul(tag, 0x9e3779b1) >>> 25) << 24;
}
