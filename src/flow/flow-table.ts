import type { PacketView } from '../decode/packet-view';

/**
 * Unidirectional flows of one aggregation window, in typed arrays.
 *
 * Layout: flows live densely in entry order (0..size-1) so a drain walks them sequentially and a
 * reset is O(1) for the entries; an open-addressing index (linear probing, power-of-two size,
 * load <= 2/3) maps a key hash to `entry + 1` (0 = empty). Per flow that is
 * 10 key words (40 B) + packets and bytes as float64 (16 B) + first/last second (8 B) + hash (4 B)
 * + TCP flags (1 B) + about 6 B of index = about 75 B, with no per-flow object for the GC to trace.
 *
 * Key words of entry i at keys[i*10 ..]:
 *   0..3  source address (IPv4 in word 0, words 1..3 zero)
 *   4..7  destination address
 *   8     srcPort << 16 | dstPort
 *   9     eni << 16 | protocol << 8 | flags  (bit 0 IPv6, bit 1 direction out, bit 2 REJECT)
 *
 * Ownership: the table owns its arrays for its whole life; `record` copies what it needs out of
 * the caller's `PacketView`. Not safe for re-entrant use; one table serves one thread of records.
 */
export const KEY_WORDS = 10;
export const FLAG_IPV6 = 1;
export const FLAG_OUT = 2;
export const FLAG_REJECT = 4;
/** ENI indexes are stored in 16 bits of the key. */
export const MAX_ENIS = 0xffff;

export class FlowTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly index: Int32Array;
  private readonly keys: Uint32Array;
  private readonly hashes: Uint32Array;
  private readonly packetCount: Float64Array;
  private readonly byteCount: Float64Array;
  private readonly firstSec: Uint32Array;
  private readonly lastSec: Uint32Array;
  private readonly flagsSeen: Uint8Array;
  private count = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`flow table capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    let slots = 1;
    while (slots * 2 < capacity * 3) slots <<= 1; // load factor <= 2/3
    this.mask = slots - 1;
    this.index = new Int32Array(slots);
    this.keys = new Uint32Array(capacity * KEY_WORDS);
    this.hashes = new Uint32Array(capacity);
    this.packetCount = new Float64Array(capacity);
    this.byteCount = new Float64Array(capacity);
    this.firstSec = new Uint32Array(capacity);
    this.lastSec = new Uint32Array(capacity);
    this.flagsSeen = new Uint8Array(capacity);
  }

  /** Number of flows recorded since the last `clear`. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the table's arrays (for the memory benchmark and the capacity metric). */
  get allocatedBytes(): number {
    return (
      this.index.byteLength +
      this.keys.byteLength +
      this.hashes.byteLength +
      this.packetCount.byteLength +
      this.byteCount.byteLength +
      this.firstSec.byteLength +
      this.lastSec.byteLength +
      this.flagsSeen.byteLength
    );
  }

  /**
   * Adds one packet to its flow. `flags` combines FLAG_OUT / FLAG_REJECT; `tsSec` is the time to
   * record (the caller clamps late packets into the window). Returns false, recording nothing,
   * when the packet starts a new flow and the table is full.
   */
  record(v: PacketView, eni: number, flags: number, tsSec: number): boolean {
    const s = v.src;
    const d = v.dst;
    const ports = ((v.srcPort << 16) | v.dstPort) >>> 0;
    const meta = ((eni << 16) | (v.protocol << 8) | flags | (v.family === 6 ? FLAG_IPV6 : 0)) >>> 0;
    // murmur3-style mixing of the ten key words; Math.imul keeps it in int32 without allocation.
    let h = 0x9747b28c;
    h = mixWord(h, s[0]);
    h = mixWord(h, s[1]);
    h = mixWord(h, s[2]);
    h = mixWord(h, s[3]);
    h = mixWord(h, d[0]);
    h = mixWord(h, d[1]);
    h = mixWord(h, d[2]);
    h = mixWord(h, d[3]);
    h = mixWord(h, ports);
    h = mixWord(h, meta);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;

    const index = this.index;
    const keys = this.keys;
    const mask = this.mask;
    let slot = h & mask;
    for (;;) {
      const e = index[slot];
      if (e === 0) break;
      const i = e - 1;
      if (this.hashes[i] === h) {
        const k = i * KEY_WORDS;
        if (
          keys[k + 9] === meta &&
          keys[k + 8] === ports &&
          keys[k] === s[0] &&
          keys[k + 4] === d[0] &&
          keys[k + 1] === s[1] &&
          keys[k + 2] === s[2] &&
          keys[k + 3] === s[3] &&
          keys[k + 5] === d[1] &&
          keys[k + 6] === d[2] &&
          keys[k + 7] === d[3]
        ) {
          this.packetCount[i] += 1;
          this.byteCount[i] += v.l3Bytes;
          if (tsSec < this.firstSec[i]) this.firstSec[i] = tsSec;
          if (tsSec > this.lastSec[i]) this.lastSec[i] = tsSec;
          this.flagsSeen[i] |= v.tcpFlags;
          return true;
        }
      }
      slot = (slot + 1) & mask;
    }
    const i = this.count;
    if (i === this.capacity) return false;
    this.count = i + 1;
    index[slot] = i + 1;
    const k = i * KEY_WORDS;
    keys[k] = s[0];
    keys[k + 1] = s[1];
    keys[k + 2] = s[2];
    keys[k + 3] = s[3];
    keys[k + 4] = d[0];
    keys[k + 5] = d[1];
    keys[k + 6] = d[2];
    keys[k + 7] = d[3];
    keys[k + 8] = ports;
    keys[k + 9] = meta;
    this.hashes[i] = h;
    this.packetCount[i] = 1;
    this.byteCount[i] = v.l3Bytes;
    this.firstSec[i] = tsSec;
    this.lastSec[i] = tsSec;
    this.flagsSeen[i] = v.tcpFlags;
    return true;
  }

  /** Forgets every flow. The index is zeroed; entry arrays are overwritten on reuse. */
  clear(): void {
    if (this.count > 0) this.index.fill(0);
    this.count = 0;
  }

  // ---- per-entry accessors for drains (entry i in 0..size-1) ----
  eni(i: number): number {
    return this.keys[i * KEY_WORDS + 9] >>> 16;
  }
  protocol(i: number): number {
    return (this.keys[i * KEY_WORDS + 9] >>> 8) & 0xff;
  }
  flags(i: number): number {
    return this.keys[i * KEY_WORDS + 9] & 0xff;
  }
  srcPort(i: number): number {
    return this.keys[i * KEY_WORDS + 8] >>> 16;
  }
  dstPort(i: number): number {
    return this.keys[i * KEY_WORDS + 8] & 0xffff;
  }
  packets(i: number): number {
    return this.packetCount[i];
  }
  bytes(i: number): number {
    return this.byteCount[i];
  }
  startSec(i: number): number {
    return this.firstSec[i];
  }
  endSec(i: number): number {
    return this.lastSec[i];
  }
  tcpFlags(i: number): number {
    return this.flagsSeen[i];
  }
  /** The key words array and the offset of entry i's source (0) and destination (4) addresses. */
  keyWords(): Uint32Array {
    return this.keys;
  }
}

function mixWord(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
