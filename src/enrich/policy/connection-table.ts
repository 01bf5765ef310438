import type { PacketView } from '../../packet/decode/packet-view';

/**
 * Bounded connection state for stateful security-group evaluation, keyed by the ENI and the
 * direction-free 5-tuple: the two endpoints are put in a canonical order ("a" is the smaller
 * address, then port), so a packet and its reply find the same entry; `lastDirection` says which
 * way the packet went (0: a to b, 1: b to a).
 *
 * Bounds: two generations of `capacity` entries each. New entries go into the current one; when
 * it is full, or `rotateAfterSec` of packet time has passed since it started, the older one is
 * cleared and becomes current. An entry found only in the older generation is copied forward, so
 * a connection idle for up to `rotateAfterSec` (the product keeps sessions 910 s) always survives
 * and one idle for twice that is always forgotten; memory stays 2 x capacity entries.
 *
 * Packet path: `find` allocates nothing (typed arrays, open addressing, murmur3-style hash).
 * Single-threaded, owned by one PolicyEvaluator.
 */
const KEY = 10; // a[4], b[4], aPort<<16|bPort, eni<<16|proto<<8|family

class Generation {
  readonly index: Int32Array;
  readonly keys: Uint32Array;
  readonly hashes: Int32Array;
  readonly state: Uint8Array;
  readonly mask: number;
  count = 0;
  startSec = -1;

  constructor(readonly capacity: number) {
    let slots = 1;
    while (slots * 2 < capacity * 3) slots <<= 1;
    this.mask = slots - 1;
    this.index = new Int32Array(slots);
    this.keys = new Uint32Array(capacity * KEY);
    this.hashes = new Int32Array(capacity);
    this.state = new Uint8Array(capacity);
  }

  clear(): void {
    if (this.count > 0) this.index.fill(0);
    this.count = 0;
    this.startSec = -1;
  }
}

export class ConnectionTable {
  /** Direction of the packet of the last `find`: 0 when its source is endpoint a, 1 otherwise. */
  lastDirection = 0;
  /** Whether the last `find` created the entry (no state known for the connection). */
  lastCreated = false;
  /** Generations started (1 + rotations), for tests and metrics. */
  rotations = 0;
  private current: Generation;
  private previous: Generation;
  // The canonical key of the packet being looked up, filled by `find` (no allocation).
  private readonly k = new Uint32Array(KEY);

  constructor(
    readonly capacity: number,
    readonly rotateAfterSec = 910,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`connection table capacity must be a positive integer, got ${capacity}`);
    this.current = new Generation(capacity);
    this.previous = new Generation(capacity);
  }

  /**
   * The entry of the packet's connection for `eni` in the current generation, created (state 0)
   * when unknown; read and write its state with `state`/`setState` before the next `find`.
   * The time is the view's: epoch seconds passed as an argument would be boxed (allocated) on
   * every call V8 does not inline.
   */
  find(v: PacketView, eni: number): number {
    const tsSec = v.tsSec;
    const k = this.k;
    const s = v.src;
    const d = v.dst;
    const dir = compareEndpoints(s, v.srcPort, d, v.dstPort) <= 0 ? 0 : 1;
    const a = dir === 0 ? s : d;
    const b = dir === 0 ? d : s;
    k[0] = a[0];
    k[1] = a[1];
    k[2] = a[2];
    k[3] = a[3];
    k[4] = b[0];
    k[5] = b[1];
    k[6] = b[2];
    k[7] = b[3];
    k[8] = dir === 0 ? ((v.srcPort << 16) | v.dstPort) >>> 0 : ((v.dstPort << 16) | v.srcPort) >>> 0;
    k[9] = ((eni << 16) | (v.protocol << 8) | v.family) >>> 0;
    this.lastDirection = dir;
    const h = hashKey(k);

    let cur = this.current;
    if (cur.startSec < 0) cur.startSec = tsSec;
    else if (tsSec - cur.startSec >= this.rotateAfterSec) cur = this.rotate(tsSec);
    const found = lookup(cur, k, h);
    if (found >= 0) {
      this.lastCreated = false;
      return found;
    }
    const old = lookup(this.previous, k, h);
    // Read the old state before a rotation clears the generation it lives in.
    const oldState = old >= 0 ? this.previous.state[old] : 0;
    if (cur.count === cur.capacity) cur = this.rotate(tsSec);
    const i = insert(cur, k, h);
    cur.state[i] = oldState;
    this.lastCreated = old < 0;
    return i;
  }

  state(entry: number): number {
    return this.current.state[entry];
  }

  setState(entry: number, state: number): void {
    this.current.state[entry] = state;
  }

  /** Connections held (both generations; a connection copied forward counts twice). */
  get size(): number {
    return this.current.count + this.previous.count;
  }

  private rotate(tsSec: number): Generation {
    const older = this.previous;
    older.clear();
    this.previous = this.current;
    this.current = older;
    older.startSec = tsSec;
    this.rotations++;
    return older;
  }
}

/** Orders two endpoints by address words, then port: negative, 0 or positive. */
function compareEndpoints(x: Uint32Array, xPort: number, y: Uint32Array, yPort: number): number {
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return xPort - yPort;
}

function lookup(g: Generation, k: Uint32Array, h: number): number {
  const keys = g.keys;
  let slot = h & g.mask;
  for (;;) {
    const e = g.index[slot];
    if (e === 0) return -1;
    const i = e - 1;
    if (g.hashes[i] === h) {
      const o = i * KEY;
      if (
        keys[o + 9] === k[9] &&
        keys[o + 8] === k[8] &&
        keys[o] === k[0] &&
        keys[o + 4] === k[4] &&
        keys[o + 1] === k[1] &&
        keys[o + 2] === k[2] &&
        keys[o + 3] === k[3] &&
        keys[o + 5] === k[5] &&
        keys[o + 6] === k[6] &&
        keys[o + 7] === k[7]
      ) {
        return i;
      }
    }
    slot = (slot + 1) & g.mask;
  }
}

/** Inserts a key known to be absent into a generation with room. */
function insert(g: Generation, k: Uint32Array, h: number): number {
  let slot = h & g.mask;
  while (g.index[slot] !== 0) slot = (slot + 1) & g.mask;
  const i = g.count++;
  g.index[slot] = i + 1;
  g.keys.set(k, i * KEY);
  g.hashes[i] = h;
  g.state[i] = 0;
  return i;
}

function hashKey(k: Uint32Array): number {
  let h = 0x9747b28c;
  for (let i = 0; i < KEY; i++) {
    let w = Math.imul(k[i], 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    h ^= Math.imul(w, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  // int32, not uint32: a uint32 of 2^31 or more is a heap number, allocated whenever this
  // result or `h` crosses a call V8 did not inline (seen as a dozen scavenges per 6M packets).
  return h ^ (h >>> 16);
}
