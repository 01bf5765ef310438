// AssemblyScript, part of the packet kernel (packet-kernel.ts): finding and updating a flow's
// entry in a flow table exactly as src/flow/flow-table.ts does (same hash, index, entry layout
// and times), the table described by a descriptor the host writes (FlowTable.exportTo).
import { be32, ip, ipv6, l3Bytes, ports, protocol, tcpFlags, tsSec } from './packet';

// Table descriptor fields (byte offsets)
const T_INDEX = 0; // u32 address of the index (i32 slots: 7-bit tag << 24 | entry + 1)
const T_MASK = 4;
export const T_GROW_AT = 8; // flows the index holds before the host must double it
export const T_COUNT = 12;
export const T_CAPACITY = 16; // the kernel relies on growAt never exceeding it
const T_ENTRIES = 20; // u32 address of the entries (8 u32 each)
const T_V6 = 24; // u32 address of the IPv6 side array (8 u32 a slot)
const T_V6_COUNT = 28;
const T_BASE_SEC = 32; // f64
const T_ENI_FLOWS = 40; // u32 address of the flows per ENI index (i32 each), FlowTable.setShare
const T_ENI_COUNT = 44; // ENI indexes it has (0: none, every flow from the pool)
const T_GUARANTEED = 48; // flows each ENI is guaranteed
const T_RESERVED = 52; // the guarantees together
const T_EXCESS = 56; // flows beyond their ENI's guarantee (written back)
export const TABLE_BYTES: u32 = 64;

/** `record`'s answers: the host must take the packet (nothing changed), it was recorded, or refused. */
export const STOP: u32 = 0;
export const RECORDED: u32 = 1;
export const REFUSED: u32 = 2;

// flow-table.ts: mixIpv4, mixIpv6Rest, finish, indexTagOf
@inline function step(h: u32, word: u32, k: u32): u32 { return (rotl<u32>(h, 13) ^ word) * k; }

@inline function flowHash(meta: u32): u32 {
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

// set by find(): the packet's key for table t
let meta: u32 = 0;
let hash: u32 = 0;
let key1: u32 = 0;
let emptySlot: u32 = 0;

/**
 * The address of the packet's flow entry in table `t` (for ENI `eni`, direction `flags`), or 0
 * with `emptySlot` the index slot a new entry would take.
 */
@inline export function find(t: usize, eni: u32, flags: u32): usize {
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
 * Adds the packet to table `t` as FlowTable.record would: RECORDED, or REFUSED when it starts a
 * new flow the table refuses (full, or the ENI past its guarantee with the pool full). With
 * `mayStop`, STOP, having changed nothing, when the new flow needs the index grown first (the
 * host's work); without it the caller has made sure no growth is needed (roomFor).
 */
@inline export function record(t: usize, eni: u32, flags: u32, mayStop: bool): u32 {
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
    return RECORDED;
  }
  // Refused first (as FlowTable.record, which refuses without growing): a flood the table
  // refuses never makes the kernel stop, whatever the index's size.
  const capacity = load<u32>(t, T_CAPACITY);
  if (count >= capacity) return REFUSED;
  // The ENI's share (FlowTable.setShare): below its guarantee always, beyond it while the pool has room.
  const known = eni < load<u32>(t, T_ENI_COUNT);
  const counted = <usize>load<u32>(t, T_ENI_FLOWS) + (<usize>eni << 2);
  const guaranteed = load<u32>(t, T_GUARANTEED);
  const used = known ? load<u32>(counted) : guaranteed;
  const pooled = used >= guaranteed;
  const excess = load<u32>(t, T_EXCESS);
  if (pooled && load<u32>(t, T_RESERVED) + excess >= capacity) return REFUSED;
  const growAt = load<u32>(t, T_GROW_AT);
  if (mayStop && count + 1 > growAt && growAt < capacity) return STOP;
  if (pooled) store<u32>(t, excess + 1, T_EXCESS);
  if (known) store<u32>(counted, used + 1);
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
  return RECORDED;
}
