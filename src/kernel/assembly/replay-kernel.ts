// AssemblyScript: the replay kernel, compiled to WebAssembly by `npm run build:kernel` into
// src/kernel/replay-kernel-wasm.ts (committed; a test recompiles and compares).
//
// It walks the classic-pcap records of one read chunk and does for each the whole packet path
// of the common frame, exactly as the TypeScript path would: the Ethernet/IP fast lane
// (src/decode/ethernet-ip-lane.ts), ENI attribution (src/enrich/eni-inventory.ts), the per-ENI
// counters (src/flow/flow-recorder.ts, flow-aggregator.ts) and the flow-table update
// (src/flow/flow-table.ts: same hash, index, entry layout and times). At the first record it
// cannot finish the same way it stops, having changed nothing for that record, and the host
// hands that one to the TypeScript path. See src/kernel/replay-kernel.ts for the layout the host
// writes and the reasons to stop.

// Control block, set by `configure` (byte addresses in linear memory)
let macAt: usize = 0; // [hi, lo, eni + 1] u32 per MAC
let macCount: u32 = 0;
let hostAt: usize = 0; // [family, w0, w1, w2, w3, eni + 1] u32 per exact address
let hostCount: u32 = 0;
let prefixAt: usize = 0; // [family, w0..w3, m0..m3, eni] u32 per prefix, longest first
let prefixCount: u32 = 0;
let aggOffsetAt: usize = 0; // i32 per ENI + 1: the ENI's aggregators are aggIndex[off[e] .. off[e+1])
let aggIndexAt: usize = 0;
let tablesAt: usize = 0; // one TABLE_BYTES descriptor per aggregator (its current table)
let eniPacketsAt: usize = 0; // f64 per ENI: packets attributed (recorder counters)
let eniBytesAt: usize = 0; // f64 per ENI: L3 bytes attributed
let aggPacketsAt: usize = 0; // f64 per aggregator x ENI: packets recorded in the window
let eniCount: u32 = 0;

// Table descriptor fields (byte offsets)
const T_INDEX = 0; // u32 address of the index (i32 slots: 7-bit tag << 24 | entry + 1)
const T_MASK = 4;
const T_GROW_AT = 8; // flows the index holds before the host must double it
const T_COUNT = 12;
const T_CAPACITY = 16;
const T_ENTRIES = 20; // u32 address of the entries (8 u32 each)
const T_V6 = 24; // u32 address of the IPv6 side array (8 u32 a slot)
const T_V6_COUNT = 28;
const T_BASE_SEC = 32; // f64
export const TABLE_BYTES: u32 = 40;

/** Packets handled by the last `run` (consumed records, attributed or not). */
export let handled: u32 = 0;
/** Of those, packets that matched no ENI. */
export let unattributed: u32 = 0;

export function configure(
  macs: usize, nMacs: u32, hosts: usize, nHosts: u32, prefixes: usize, nPrefixes: u32,
  aggOffset: usize, aggIndex: usize, tables: usize, eniPackets: usize, eniBytes: usize, aggPackets: usize, enis: u32,
): void {
  macAt = macs; macCount = nMacs; hostAt = hosts; hostCount = nHosts; prefixAt = prefixes; prefixCount = nPrefixes;
  aggOffsetAt = aggOffset; aggIndexAt = aggIndex; tablesAt = tables;
  eniPacketsAt = eniPackets; eniBytesAt = eniBytes; aggPacketsAt = aggPackets; eniCount = enis;
}

@inline function be16(p: usize): u32 { return <u32>bswap<u16>(load<u16>(p)); }
@inline function be32(p: usize): u32 { return bswap<u32>(load<u32>(p)); }

// 1 for TCP, UDP, SCTP, UDP-Lite: a header starting with source and destination port
@inline function hasPorts(p: u32): bool { return p == 6 || p == 17 || p == 132 || p == 136; }

// ---- the packet being handled (module globals: no allocation, no struct passing) ----
let ip: usize = 0; // IP header address
let ipv6: bool = false;
let protocol: u32 = 0;
let l3Bytes: u32 = 0;
let ports: u32 = 0;
let tcpFlags: u32 = 0;
let tsSec: f64 = 0;

/** Ethernet, untagged, IPv4 with a 20-byte header and no fragment, or IPv6 without extension headers. */
function decodeLane(b: usize, end: usize): bool {
  if (end - b < 34) return false;
  ip = b + 14;
  const ethertype = be16(b + 12); // 12: ethertype
  let t: usize;
  if (ethertype == 0x0800 && load<u8>(ip) == 0x45) {
    // 2: total length; 6: flags | fragment offset; 9: protocol
    l3Bytes = be16(ip + 2);
    if (l3Bytes < 20 || (be16(ip + 6) & 0x3fff) != 0) return false;
    protocol = load<u8>(ip + 9);
    ipv6 = false;
    t = ip + 20;
  } else if (ethertype == 0x86dd && end - ip >= 40 && (load<u8>(ip) >> 4) == 6) {
    // 4: payload length (0: jumbo or TSO); 6: next header
    const payload = be16(ip + 4);
    protocol = load<u8>(ip + 6);
    if (payload == 0 || protocol == 0 || protocol == 43 || protocol == 44 || protocol == 51 || protocol == 60) return false;
    l3Bytes = 40 + payload;
    ipv6 = true;
    t = ip + 40;
  } else {
    return false;
  }
  const transportEnd = ip + <usize>l3Bytes < end ? ip + <usize>l3Bytes : end;
  ports = 0;
  tcpFlags = 0;
  if (hasPorts(protocol) && t + 4 <= transportEnd) {
    ports = be32(t); // source port << 16 | destination port
    if (protocol == 6 && t + 14 <= transportEnd) tcpFlags = load<u8>(t + 13); // 13: TCP flags
  }
  return true;
}

/** The ENI whose MAC is at `mac` (6 bytes), else whose address is at `addr`, or -1. */
function eniOf(mac: usize, addr: usize): i32 {
  const hi = be16(mac);
  const lo = be32(mac + 2);
  for (let k: u32 = 0; k < macCount; k++) {
    const m = macAt + <usize>k * 12;
    if (load<u32>(m, 4) == lo && load<u32>(m) == hi) return <i32>load<u32>(m, 8) - 1;
  }
  const family: u32 = ipv6 ? 6 : 4;
  const w0 = be32(addr);
  const w1: u32 = ipv6 ? be32(addr + 4) : 0;
  const w2: u32 = ipv6 ? be32(addr + 8) : 0;
  const w3: u32 = ipv6 ? be32(addr + 12) : 0;
  for (let k: u32 = 0; k < hostCount; k++) {
    const h = hostAt + <usize>k * 24;
    if (load<u32>(h, 4) == w0 && load<u32>(h) == family && load<u32>(h, 8) == w1 && load<u32>(h, 12) == w2 && load<u32>(h, 16) == w3) {
      return <i32>load<u32>(h, 20) - 1;
    }
  }
  for (let k: u32 = 0; k < prefixCount; k++) {
    const p = prefixAt + <usize>k * 40;
    if (
      load<u32>(p) == family && (w0 & load<u32>(p, 20)) == load<u32>(p, 4) && (w1 & load<u32>(p, 24)) == load<u32>(p, 8) &&
      (w2 & load<u32>(p, 28)) == load<u32>(p, 12) && (w3 & load<u32>(p, 32)) == load<u32>(p, 16)
    ) {
      return <i32>load<u32>(p, 36);
    }
  }
  return -1;
}

// flow-table.ts: mixIpv4, mixIpv6Rest, finish, indexTagOf
@inline function step(h: u32, word: u32, k: u32): u32 { return (rotl<u32>(h, 13) ^ word) * k; }

function flowHash(meta: u32): u32 {
  const src = ip + (ipv6 ? 8 : 12);
  const dst = ip + (ipv6 ? 24 : 16);
  let h = (be32(src) ^ 0x9747b28c) * 0x9e3779b1;
  h = step(h, be32(dst), 0x85ebca6b);
  h = step(h, ports, 0xc2b2ae35);
  h = step(h, meta, 0x9e3779b1);
  if (ipv6) {
    h = step(h, be32(src + 4), 0x85ebca6b);
    h = step(h, be32(src + 8), 0xc2b2ae35);
    h = step(h, be32(src + 12), 0x9e3779b1);
    h = step(h, be32(dst + 4), 0x85ebca6b);
    h = step(h, be32(dst + 8), 0xc2b2ae35);
    h = step(h, be32(dst + 12), 0x9e3779b1);
  }
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  return h ^ (h >> 16);
}

@inline function sameIpv6(a: usize): bool {
  return load<u32>(a) == be32(ip + 8) && load<u32>(a, 4) == be32(ip + 12) && load<u32>(a, 8) == be32(ip + 16) && load<u32>(a, 12) == be32(ip + 20) &&
    load<u32>(a, 16) == be32(ip + 24) && load<u32>(a, 20) == be32(ip + 28) && load<u32>(a, 24) == be32(ip + 32) && load<u32>(a, 28) == be32(ip + 36);
}

/**
 * Adds the packet to table `t` as FlowTable.record would. With `mayStop`, returns false, having
 * changed nothing, when the packet starts a new flow the host must insert (the index must grow
 * first, or the table is full); without it the caller has made sure the table has room.
 */
// set by find(): the packet's key for table t
let meta: u32 = 0;
let hash: u32 = 0;
let key1: u32 = 0;
let emptySlot: u32 = 0;

/**
 * The address of the packet's flow entry in table `t` (for ENI `eni`, direction `flags`), or 0
 * with `emptySlot` the index slot a new entry would take.
 */
function find(t: usize, eni: u32, flags: u32): usize {
  meta = (eni << 16) | (protocol << 8) | flags | (ipv6 ? 1 : 0);
  const h = (hash = flowHash(meta));
  const tag = ((h & 0xffffff00) * 0x9e3779b1 >> 25) << 24;
  key1 = ipv6 ? h : be32(ip + 16);
  const index = <usize>load<u32>(t, T_INDEX);
  const entries = <usize>load<u32>(t, T_ENTRIES);
  const mask = load<u32>(t, T_MASK);
  let slot = (h >> 8) & mask;
  for (;;) {
    const e = load<u32>(index + (<usize>slot << 2));
    if (e == 0) break;
    const k = entries + (<usize>((e & 0xffffff) - 1) << 5);
    if ((e & 0x7f000000) == tag && load<u32>(k, 12) == meta && load<u32>(k, 8) == ports && load<u32>(k, 4) == key1 &&
      (ipv6 ? sameIpv6(<usize>load<u32>(t, T_V6) + (<usize>load<u32>(k) << 5)) : load<u32>(k) == be32(ip + 12))) {
      return k;
    }
    slot = (slot + 1) & mask;
  }
  emptySlot = slot;
  return 0;
}

/**
 * Adds the packet to table `t` as FlowTable.record would. With `mayStop`, returns false, having
 * changed nothing, when the packet starts a new flow the host must insert (the index must grow
 * first, or the table is full); without it the caller has made sure the table has room.
 */
function record(t: usize, eni: u32, flags: u32, mayStop: bool): bool {
  const count = load<u32>(t, T_COUNT);
  const fresh = tsSec - 32768;
  const base = count == 0 ? fresh : load<f64>(t, T_BASE_SEC);
  let atF = tsSec - base;
  atF = atF < 0 ? 0 : atF > 65535 ? 65535 : atF;
  const at = <u32>atF;
  const found = find(t, eni, flags);
  if (found != 0) {
    const k = found;
    store<u32>(k, load<u32>(k, 16) + 1, 16);
    const lo = <u64>load<u32>(k, 20) + <u64>l3Bytes;
    store<u32>(k, <u32>lo, 20);
    store<u32>(k, (load<u32>(k, 24) + (lo > 0xffffffff ? 0x100 : 0)) | tcpFlags, 24);
    const times = load<u32>(k, 28);
    const first = times >> 16;
    const last = times & 0xffff;
    store<u32>(k, ((at < first ? at : first) << 16) | (at > last ? at : last), 28);
    return true;
  }
  if (mayStop && count + 1 > load<u32>(t, T_GROW_AT)) return false;
  store<u32>(t, count + 1, T_COUNT);
  store<f64>(t, base, T_BASE_SEC);
  const tag = ((hash & 0xffffff00) * 0x9e3779b1 >> 25) << 24;
  store<u32>(<usize>load<u32>(t, T_INDEX) + (<usize>emptySlot << 2), tag | (count + 1));
  const entries = <usize>load<u32>(t, T_ENTRIES);
  const k = entries + (<usize>count << 5);
  if (ipv6) {
    const n = load<u32>(t, T_V6_COUNT);
    const a = <usize>load<u32>(t, T_V6) + (<usize>n << 5);
    for (let i: usize = 0; i < 32; i += 4) store<u32>(a + i, be32(ip + 8 + i));
    store<u32>(t, n + 1, T_V6_COUNT);
    store<u32>(k, n);
  } else {
    store<u32>(k, be32(ip + 12));
  }
  store<u32>(k, key1, 4);
  store<u32>(k, ports, 8);
  store<u32>(k, meta, 12);
  store<u32>(k, 1, 16);
  store<u32>(k, l3Bytes, 20);
  store<u32>(k, tcpFlags, 24);
  store<u32>(k, (at << 16) | at, 28);
  return true;
}

@inline function aggsOf(eni: i32): u32 {
  return eni < 0 ? 0 : load<u32>(aggOffsetAt + (<usize>(eni + 1) << 2)) - load<u32>(aggOffsetAt + (<usize>eni << 2));
}

/**
 * Whether every table `eni` records into can take the packet without the host: its flow is
 * there, or the table can take `flows` new flows (the packet's count of tables, an upper bound
 * on the new flows any one table gets from it) before its index must grow.
 */
function roomFor(eni: i32, flags: u32, flows: u32): bool {
  if (eni < 0) return true;
  const end = load<u32>(aggOffsetAt + (<usize>(eni + 1) << 2));
  for (let j = load<u32>(aggOffsetAt + (<usize>eni << 2)); j < end; j++) {
    const t = tablesAt + <usize>load<u32>(aggIndexAt + (<usize>j << 2)) * TABLE_BYTES;
    if (load<u32>(t, T_COUNT) + flows > load<u32>(t, T_GROW_AT) && find(t, <u32>eni, flags) == 0) return false;
  }
  return true;
}

/** FlowRecorder.recordFor: counters, then every aggregator covering the ENI. */
function recordFor(eni: i32, flags: u32, mayStop: bool): bool {
  const end = load<u32>(aggOffsetAt + (<usize>(eni + 1) << 2));
  for (let j = load<u32>(aggOffsetAt + (<usize>eni << 2)); j < end; j++) {
    const a = load<u32>(aggIndexAt + (<usize>j << 2));
    if (!record(tablesAt + <usize>a * TABLE_BYTES, <u32>eni, flags, mayStop)) return false;
    const c = aggPacketsAt + ((<usize>a * eniCount + <usize>eni) << 3);
    store<f64>(c, load<f64>(c) + 1);
  }
  const p = eniPacketsAt + (<usize>eni << 3);
  store<f64>(p, load<f64>(p) + 1);
  const b = eniBytesAt + (<usize>eni << 3);
  store<f64>(b, load<f64>(b) + <f64>l3Bytes);
  return true;
}

/**
 * The frame at `b` (`capLen` bytes captured), stamped `tsSec`, through the packet path. False
 * when the host must take it; nothing has changed then.
 */
function handle(b: usize, capLen: u32): bool {
  if (tsSec < loSec || tsSec >= hiSec) return false;
  if (!decodeLane(b, b + capLen)) return false;
  const out = eniOf(b + 6, ip + (ipv6 ? 8 : 12));
  const inbound = eniOf(b, ip + (ipv6 ? 24 : 16));
  if (out < 0 && inbound < 0) {
    unattributed++;
    return true;
  }
  const targets = aggsOf(out) + aggsOf(inbound);
  if (targets <= 1) {
    // One table at most, updated first: it can stop before anything else changed.
    if (aggsOf(out) == 0) {
      if (inbound >= 0 && !recordFor(inbound, 0, true)) return false;
      if (out >= 0) recordFor(out, 2, false);
    } else {
      if (!recordFor(out, 2, true)) return false;
      if (inbound >= 0) recordFor(inbound, 0, false);
    }
    return true;
  }
  if (!roomFor(out, 2, targets) || !roomFor(inbound, 0, targets)) return false;
  if (out >= 0) recordFor(out, 2, false);
  if (inbound >= 0) recordFor(inbound, 0, false);
  return true;
}

// The current windows' bounds: [max start, min end) over the aggregators.
let loSec: f64 = 0;
let hiSec: f64 = 0;

/**
 * Handles the little-endian pcap records in [pos, end), stamped in [lo, hi) (inside every
 * aggregator's current window), from the first on. Returns the address of the first record not
 * handled; `handled` and `unattributed` count what was.
 */
export function run(pos: usize, end: usize, lo: f64, hi: f64): usize {
  loSec = lo;
  hiSec = hi;
  handled = 0;
  unattributed = 0;
  while (end - pos >= 16) {
    // 0: seconds, 4: fraction, 8: captured length, 12: wire length; then the frame
    const capLen = load<u32>(pos, 8);
    if (capLen > 262144 || end - pos - 16 < <usize>capLen) break;
    tsSec = <f64>load<u32>(pos);
    if (!handle(pos + 16, capLen)) break;
    handled++;
    pos += 16 + <usize>capLen;
  }
  return pos;
}

// pcapng interfaces, set by `interfaces`: [readable (1/0), units per second, offset seconds] f64 each
let ifacesAt: usize = 0;
let ifaceCount: u32 = 0;

export function interfaces(at: usize, count: u32): void {
  ifacesAt = at;
  ifaceCount = count;
}

/**
 * Like `run`, for the blocks of a little-endian pcapng section: Enhanced Packet Blocks of
 * interfaces the host marked readable (Ethernet, whole units per second up to 2^32); any other
 * block stops it.
 */
export function runPcapng(pos: usize, end: usize, lo: f64, hi: f64): usize {
  loSec = lo;
  hiSec = hi;
  handled = 0;
  unattributed = 0;
  while (end - pos >= 32) {
    // 0: type (6), 4: total length, 8: interface, 12: time high, 16: time low,
    // 20: captured length, 24: wire length, 28: the frame; total length again at the end
    if (load<u32>(pos) != 6) break;
    const total = load<u32>(pos, 4);
    if (total < 32 || (total & 3) != 0 || <usize>total > end - pos) break;
    const iface = load<u32>(pos, 8);
    if (iface >= ifaceCount) break;
    const d = ifacesAt + <usize>iface * 24;
    if (load<f64>(d) == 0) break;
    const capLen = load<u32>(pos, 20);
    if (capLen > 262144 || capLen + 28 > total - 4) break;
    const sec = ((<u64>load<u32>(pos, 12) << 32) | <u64>load<u32>(pos, 16)) / <u64>load<f64>(d, 8);
    if (sec > 0xffffffff) break;
    tsSec = <f64>sec + load<f64>(d, 16);
    if (!handle(pos + 28, capLen)) break;
    handled++;
    pos += <usize>total;
  }
  return pos;
}
