/**
 * A bounded memory of first fragments, so later fragments of the same IP datagram are counted
 * under the flow (ports, and for IPv6 the upper-layer protocol) that only the first fragment
 * names.
 *
 * Lifecycle: created once by the decoder with a fixed capacity; every array is allocated in the
 * constructor and never grows, so `remember` and `find` allocate nothing. Entries are replaced
 * in insertion order (a ring): when the ring is full the oldest entry makes room, which bounds
 * both memory and the work per packet. An entry is also ignored once it is older than the
 * reassembly timeout, because IP identifications are reused and a stale entry would give a new
 * datagram's fragments the ports of an old one.
 *
 * Keys: family 4 uses (src, dst, protocol, 16-bit IP id) as RFC 791 reassembly does; family 6
 * uses (src, dst, 32-bit identification) as RFC 8200 §4.5 does. Callers pass the addresses as
 * the four big-endian words of `PacketView.src`/`dst` and fold the IPv4 protocol into `id`
 * (`protocol << 16 | id`), so both families share one 9-word key.
 */
export class FragmentCache {
  /** Most entries held; 0 disables the cache (every later fragment is unjoined). */
  readonly capacity: number;
  /** Seconds after which an entry no longer joins fragments (RFC 8200 §4.5 gives 60). */
  readonly timeoutSec: number;

  /** After a successful `find`: what the first fragment said. Valid until the next call. */
  foundProtocol = 0;
  foundSrcPort = 0;
  foundDstPort = 0;

  private static readonly KEY_WORDS = 9;
  /** 0 = empty slot, else 4 or 6. */
  private readonly family: Uint8Array;
  private readonly keys: Uint32Array;
  private readonly protocol: Uint8Array;
  private readonly srcPort: Uint16Array;
  private readonly dstPort: Uint16Array;
  private readonly storedAtSec: Float64Array;
  /** 1 once the last fragment was seen: replacing such an entry is expiry, not an eviction. */
  private readonly lastSeen: Uint8Array;
  private readonly hashOf: Int32Array;
  /** Hash chains: bucket -> first slot, slot -> next slot; -1 ends a chain. */
  private readonly bucketHead: Int32Array;
  private readonly nextInBucket: Int32Array;
  private readonly bucketMask: number;
  /** Ring position of the slot the next new entry takes. */
  private cursor = 0;

  constructor(capacity: number, timeoutSec = 60) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`create fragment cache: capacity must be a non-negative integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.timeoutSec = timeoutSec;
    this.family = new Uint8Array(capacity);
    this.keys = new Uint32Array(capacity * FragmentCache.KEY_WORDS);
    this.protocol = new Uint8Array(capacity);
    this.srcPort = new Uint16Array(capacity);
    this.dstPort = new Uint16Array(capacity);
    this.storedAtSec = new Float64Array(capacity);
    this.lastSeen = new Uint8Array(capacity);
    this.hashOf = new Int32Array(capacity);
    this.nextInBucket = new Int32Array(capacity).fill(-1);
    // At least twice the capacity, a power of two, so chains stay about one entry long.
    let buckets = 1;
    while (buckets < capacity * 2) buckets *= 2;
    this.bucketHead = new Int32Array(buckets).fill(-1);
    this.bucketMask = buckets - 1;
  }

  /**
   * Stores (or refreshes, when the key is already present) what a first fragment says.
   * Returns true when this pushed out an entry still waiting for its last fragment and not
   * yet timed out: the caller counts that as an eviction.
   */
  remember(
    family: number,
    src: Uint32Array,
    dst: Uint32Array,
    id: number,
    protocol: number,
    srcPort: number,
    dstPort: number,
    nowSec: number,
  ): boolean {
    if (this.capacity === 0) return false;
    const hash = this.hash(family, src, dst, id);
    let slot = this.lookup(family, src, dst, id, hash);
    let evicted = false;
    if (slot < 0) {
      slot = this.cursor;
      this.cursor = slot + 1 === this.capacity ? 0 : slot + 1;
      if (this.family[slot] !== 0) {
        evicted = this.lastSeen[slot] === 0 && !this.isStale(slot, nowSec);
        this.unlink(slot);
      }
      this.family[slot] = family;
      const k = slot * FragmentCache.KEY_WORDS;
      this.keys[k] = src[0];
      this.keys[k + 1] = src[1];
      this.keys[k + 2] = src[2];
      this.keys[k + 3] = src[3];
      this.keys[k + 4] = dst[0];
      this.keys[k + 5] = dst[1];
      this.keys[k + 6] = dst[2];
      this.keys[k + 7] = dst[3];
      this.keys[k + 8] = id;
      this.hashOf[slot] = hash;
      const bucket = hash & this.bucketMask;
      this.nextInBucket[slot] = this.bucketHead[bucket];
      this.bucketHead[bucket] = slot;
    }
    this.protocol[slot] = protocol;
    this.srcPort[slot] = srcPort;
    this.dstPort[slot] = dstPort;
    this.storedAtSec[slot] = nowSec;
    this.lastSeen[slot] = 0;
    return evicted;
  }

  /**
   * Looks up the first fragment of a later fragment's datagram. On success fills
   * `foundProtocol`/`foundSrcPort`/`foundDstPort` and returns true; `isLast` (the fragment has
   * no more-fragments flag) marks the entry complete. The entry stays for reordered or
   * duplicated fragments until the ring reuses its slot.
   */
  find(family: number, src: Uint32Array, dst: Uint32Array, id: number, isLast: boolean, nowSec: number): boolean {
    if (this.capacity === 0) return false;
    const slot = this.lookup(family, src, dst, id, this.hash(family, src, dst, id));
    if (slot < 0 || this.isStale(slot, nowSec)) return false;
    this.foundProtocol = this.protocol[slot];
    this.foundSrcPort = this.srcPort[slot];
    this.foundDstPort = this.dstPort[slot];
    if (isLast) this.lastSeen[slot] = 1;
    return true;
  }

  private isStale(slot: number, nowSec: number): boolean {
    // A clock stepping backwards (replays, NTP) keeps entries rather than dropping them.
    return nowSec - this.storedAtSec[slot] > this.timeoutSec;
  }

  private lookup(family: number, src: Uint32Array, dst: Uint32Array, id: number, hash: number): number {
    const keys = this.keys;
    let slot = this.bucketHead[hash & this.bucketMask];
    while (slot >= 0) {
      const k = slot * FragmentCache.KEY_WORDS;
      if (
        this.hashOf[slot] === hash &&
        this.family[slot] === family &&
        keys[k + 8] === id >>> 0 &&
        keys[k] === src[0] &&
        keys[k + 4] === dst[0] &&
        keys[k + 1] === src[1] &&
        keys[k + 2] === src[2] &&
        keys[k + 3] === src[3] &&
        keys[k + 5] === dst[1] &&
        keys[k + 6] === dst[2] &&
        keys[k + 7] === dst[3]
      ) {
        return slot;
      }
      slot = this.nextInBucket[slot];
    }
    return -1;
  }

  private unlink(slot: number): void {
    const bucket = this.hashOf[slot] & this.bucketMask;
    let prev = -1;
    let cur = this.bucketHead[bucket];
    while (cur >= 0 && cur !== slot) {
      prev = cur;
      cur = this.nextInBucket[cur];
    }
    if (cur === slot) {
      if (prev < 0) this.bucketHead[bucket] = this.nextInBucket[slot];
      else this.nextInBucket[prev] = this.nextInBucket[slot];
    }
    this.nextInBucket[slot] = -1;
    this.family[slot] = 0;
  }

  private hash(family: number, src: Uint32Array, dst: Uint32Array, id: number): number {
    // FNV-1a style mixing over whole words: cheap, and no string or array is built.
    let h = Math.imul(0x811c9dc5 ^ family, 0x01000193);
    h = Math.imul(h ^ src[0], 0x01000193);
    h = Math.imul(h ^ src[1], 0x01000193);
    h = Math.imul(h ^ src[2], 0x01000193);
    h = Math.imul(h ^ src[3], 0x01000193);
    h = Math.imul(h ^ dst[0], 0x01000193);
    h = Math.imul(h ^ dst[1], 0x01000193);
    h = Math.imul(h ^ dst[2], 0x01000193);
    h = Math.imul(h ^ dst[3], 0x01000193);
    h = Math.imul(h ^ id, 0x01000193);
    h ^= h >>> 15;
    return h; // int32: a uint32 result would be a heap number whenever the call is not inlined
  }
}
