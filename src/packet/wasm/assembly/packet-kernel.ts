// AssemblyScript: the packet kernel, compiled to WebAssembly by `npm run build:kernel` into
// src/packet/wasm/packet-kernel-wasm.ts (committed; a test recompiles and compares).
//
// It walks the pcap records or pcapng packet blocks of one read chunk and does for each the
// whole packet path of the common frame, exactly as the TypeScript path would: the Ethernet/IP
// fast lane (packet.ts), ENI attribution (src/enrich/eni-inventory.ts), the per-ENI counters
// (src/packet/flow-recorder.ts, flow-aggregator.ts) and the flow-table update (flow-update.ts). At
// the first record it cannot finish the same way it stops, having changed nothing for that
// record, and the host hands that one to the TypeScript path. See src/packet/wasm/packet-kernel.ts
// for the layout the host writes and the reasons to stop.
import { be16, be32, decodeLane, ip, ipv6, l3Bytes, protocol, stamp, tcpFlags, transport, tsSec } from './packet';
import { RECORDED, STOP, T_CAPACITY, T_COUNT, T_GROW_AT, TABLE_BYTES, find, record } from './flow-update';

export { TABLE_BYTES };

// Control block, set by `configure` (byte addresses in linear memory)
let macAt: usize = 0; // [hi, lo, eni + 1] u32 per MAC (list) or per slot (table, eni + 1 = 0: empty)
let macCount: u32 = 0;
let macMask: u32 = 0; // 0: scan the list; else probe the table of mask + 1 slots
let hostAt: usize = 0; // [family, w0, w1, w2, w3, eni + 1] u32 per exact address, list or table
let hostCount: u32 = 0;
let hostMask: u32 = 0;
let prefixAt: usize = 0; // [family, w0..w3, m0..m3, eni] u32 per prefix, longest first
let prefixCount: u32 = 0;
let aggOffsetAt: usize = 0; // i32 per ENI + 1: the ENI's aggregators are aggIndex[off[e] .. off[e+1])
let aggIndexAt: usize = 0;
let tablesAt: usize = 0; // one TABLE_BYTES descriptor per aggregator (its current table)
let eniPacketsAt: usize = 0; // f64 per ENI: packets attributed (recorder counters)
let eniBytesAt: usize = 0; // f64 per ENI: L3 bytes attributed
let aggPacketsAt: usize = 0; // f64 per aggregator x ENI: packets recorded in the window
let aggRefusedAt: usize = 0; // f64 per aggregator x ENI: packets the table refused (FlowTable.setShare)
let aggRefusedBytesAt: usize = 0; // f64 per aggregator x ENI: their L3 bytes
let eniCount: u32 = 0;
// Whose packets a frame counts for (live capture, see `scope`): -2 every ENI it names (replay),
// -1 those marked at sharedAt (a shared device), e >= 0 ENI e alone (that ENI's own device).
let scopeEni: i32 = -2;
let sharedAt: usize = 0; // u8 per ENI: 1 when a shared device may count its packets

/** Packets handled by the last `run` (consumed records, attributed or not). */
export let handled: u32 = 0;
/** Of those, packets that matched no ENI. */
export let unattributed: u32 = 0;

export function configure(
  macs: usize, nMacs: u32, nMacMask: u32, hosts: usize, nHosts: u32, nHostMask: u32, prefixes: usize, nPrefixes: u32,
  aggOffset: usize, aggIndex: usize, tables: usize, eniPackets: usize, eniBytes: usize, aggPackets: usize, enis: u32,
  aggRefused: usize, aggRefusedBytes: usize,
): void {
  aggRefusedAt = aggRefused; aggRefusedBytesAt = aggRefusedBytes;
  macAt = macs; macCount = nMacs; macMask = nMacMask; hostAt = hosts; hostCount = nHosts; hostMask = nHostMask;
  prefixAt = prefixes; prefixCount = nPrefixes;
  aggOffsetAt = aggOffset; aggIndexAt = aggIndex; tablesAt = tables;
  eniPacketsAt = eniPackets; eniBytesAt = eniBytes; aggPacketsAt = aggPackets; eniCount = enis;
  macHi0 = macHi1 = 0xffffffff;
  addrFamily0 = addrFamily1 = 0;
}

/**
 * Sets whose packets the next calls count (FlowRecorder.onFrameForEni for e >= 0,
 * onSharedFrame for -1 with the mask at `shared`, onFrame's attribution for -2).
 */
export function scope(eni: i32, shared: usize): void {
  scopeEni = eni;
  sharedAt = shared;
}

/** `eni` if the current scope counts its packets, else -1. */
@inline function scoped(eni: i32): i32 {
  if (eni < 0 || scopeEni == -2) return eni;
  if (scopeEni >= 0) return eni == scopeEni ? eni : -1;
  return load<u8>(sharedAt + <usize>eni) != 0 ? eni : -1;
}

// src/enrich/eni-inventory.ts: hashWords (Math.imul and >>> are i32 multiplication and u32 shifts)
function hashWords(a: u32, b: u32, c: u32, d: u32, e: u32): u32 {
  let h = (a ^ 0x9e3779b9) * 0x85ebca6b;
  h = (h ^ b ^ (h >> 15)) * 0xc2b2ae35;
  h = (h ^ c ^ (h >> 13)) * 0x85ebca6b;
  h = (h ^ d ^ (h >> 16)) * 0xc2b2ae35;
  h = (h ^ e ^ (h >> 15)) * 0x85ebca6b;
  return h ^ (h >> 16);
}

/** The ENI of MAC hi:lo, or -1: the list scanned, or the table probed (EniInventory.macLookup). */
function macEni(hi: u32, lo: u32): i32 {
  if (macMask == 0) {
    for (let k: u32 = 0; k < macCount; k++) {
      const m = macAt + <usize>k * 12;
      if (load<u32>(m, 4) == lo && load<u32>(m) == hi) return <i32>load<u32>(m, 8) - 1;
    }
    return -1;
  }
  let slot = hashWords(hi, lo, 0, 0, 0) & macMask;
  let m = macAt + <usize>slot * 12;
  while (load<u32>(m, 8) != 0) {
    if (load<u32>(m) == hi && load<u32>(m, 4) == lo) return <i32>load<u32>(m, 8) - 1;
    slot = (slot + 1) & macMask;
    m = macAt + <usize>slot * 12;
  }
  return -1;
}

/** The ENI of an exact address, or -1 (EniInventory.scanHosts / probeHosts). */
function hostEni(family: u32, w0: u32, w1: u32, w2: u32, w3: u32): i32 {
  if (hostMask == 0) {
    for (let k: u32 = 0; k < hostCount; k++) {
      const h = hostAt + <usize>k * 24;
      if (load<u32>(h, 4) == w0 && load<u32>(h) == family && load<u32>(h, 8) == w1 && load<u32>(h, 12) == w2 && load<u32>(h, 16) == w3) {
        return <i32>load<u32>(h, 20) - 1;
      }
    }
    return -1;
  }
  let slot = hashWords(family, w0, w1, w2, w3) & hostMask;
  let h = hostAt + <usize>slot * 24;
  while (load<u32>(h, 20) != 0) {
    if (load<u32>(h) == family && load<u32>(h, 4) == w0 && load<u32>(h, 8) == w1 && load<u32>(h, 12) == w2 && load<u32>(h, 16) == w3) return <i32>load<u32>(h, 20) - 1;
    slot = (slot + 1) & hostMask;
    h = hostAt + <usize>slot * 24;
  }
  return -1;
}

// The last answers of eniOf per side (0: the frame's source, 1: its destination). On an ENI's
// own device one side of nearly every frame is that ENI and the other a gateway's MAC, so most
// lookups repeat the previous one; the lists never change after `configure`. A MAC high half
// above 16 bits matches no frame: nothing remembered yet.
let macHi0: u32 = 0xffffffff;
let macLo0: u32 = 0;
let macEni0: i32 = -1;
let macHi1: u32 = 0xffffffff;
let macLo1: u32 = 0;
let macEni1: i32 = -1;
// the address: family (0: none yet), words, ENI
let addrFamily0: u32 = 0;
let addrW00: u32 = 0;
let addrW10: u32 = 0;
let addrW20: u32 = 0;
let addrW30: u32 = 0;
let addrEni0: i32 = -1;
let addrFamily1: u32 = 0;
let addrW01: u32 = 0;
let addrW11: u32 = 0;
let addrW21: u32 = 0;
let addrW31: u32 = 0;
let addrEni1: i32 = -1;

/** macEni, remembering the last answer of `side` (a constant once inlined). */
@inline function macEniOf(side: u32, hi: u32, lo: u32): i32 {
  if (side == 0) {
    if (hi != macHi0 || lo != macLo0) {
      macEni0 = macEni(hi, lo);
      macHi0 = hi;
      macLo0 = lo;
    }
    return macEni0;
  }
  if (hi != macHi1 || lo != macLo1) {
    macEni1 = macEni(hi, lo);
    macHi1 = hi;
    macLo1 = lo;
  }
  return macEni1;
}

/** The ENI of an address by exact match, else by the longest prefix, or -1. */
function addressEni(family: u32, w0: u32, w1: u32, w2: u32, w3: u32): i32 {
  const host = hostEni(family, w0, w1, w2, w3);
  if (host >= 0) return host;
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

/** addressEni, remembering the last answer of `side`. */
@inline function addressEniOf(side: u32, family: u32, w0: u32, w1: u32, w2: u32, w3: u32): i32 {
  if (side == 0) {
    if (w0 != addrW00 || family != addrFamily0 || w1 != addrW10 || w2 != addrW20 || w3 != addrW30) {
      addrEni0 = addressEni(family, w0, w1, w2, w3);
      addrFamily0 = family;
      addrW00 = w0;
      addrW10 = w1;
      addrW20 = w2;
      addrW30 = w3;
    }
    return addrEni0;
  }
  if (w0 != addrW01 || family != addrFamily1 || w1 != addrW11 || w2 != addrW21 || w3 != addrW31) {
    addrEni1 = addressEni(family, w0, w1, w2, w3);
    addrFamily1 = family;
    addrW01 = w0;
    addrW11 = w1;
    addrW21 = w2;
    addrW31 = w3;
  }
  return addrEni1;
}

/**
 * The ENI whose MAC is at `mac` (6 bytes), else whose address is at `addr`, or -1
 * (EniInventory.sourceEni for side 0, destinationEni for side 1).
 */
@inline function eniOf(side: u32, mac: usize, addr: usize): i32 {
  const byMac = macEniOf(side, be16(mac), be32(mac + 2));
  if (byMac >= 0) return byMac;
  const family: u32 = ipv6 ? 6 : 4;
  return addressEniOf(side, family, be32(addr), ipv6 ? be32(addr + 4) : 0, ipv6 ? be32(addr + 8) : 0, ipv6 ? be32(addr + 12) : 0);
}

@inline function aggsOf(eni: i32): u32 {
  return eni < 0 ? 0 : load<u32>(aggOffsetAt + (<usize>(eni + 1) << 2)) - load<u32>(aggOffsetAt + (<usize>eni << 2));
}

/**
 * Whether every table `eni` records into can take the packet without the host: its flow is
 * there, or the table can take `flows` new flows (the packet's count of tables, an upper bound
 * on the new flows any one table gets from it) before its index must grow.
 */
@inline function roomFor(eni: i32, flags: u32, flows: u32): bool {
  if (eni < 0) return true;
  const end = load<u32>(aggOffsetAt + (<usize>(eni + 1) << 2));
  for (let j = load<u32>(aggOffsetAt + (<usize>eni << 2)); j < end; j++) {
    const t = tablesAt + <usize>load<u32>(aggIndexAt + (<usize>j << 2)) * TABLE_BYTES;
    const growAt = load<u32>(t, T_GROW_AT);
    // Only an index that can still grow is the host's: a table at its largest refuses for itself.
    if (growAt < load<u32>(t, T_CAPACITY) && load<u32>(t, T_COUNT) + flows > growAt && find(t, <u32>eni, flags) == 0) return false;
  }
  return true;
}

/** FlowRecorder.recordFor: counters, then every aggregator covering the ENI. */
@inline function recordFor(eni: i32, flags: u32, mayStop: bool): bool {
  const end = load<u32>(aggOffsetAt + (<usize>(eni + 1) << 2));
  for (let j = load<u32>(aggOffsetAt + (<usize>eni << 2)); j < end; j++) {
    const a = load<u32>(aggIndexAt + (<usize>j << 2));
    const done = record(tablesAt + <usize>a * TABLE_BYTES, <u32>eni, flags, mayStop);
    if (done == STOP) return false;
    const k = (<usize>a * eniCount + <usize>eni) << 3;
    if (done == RECORDED) {
      store<f64>(aggPacketsAt + k, load<f64>(aggPacketsAt + k) + 1);
    } else {
      store<f64>(aggRefusedAt + k, load<f64>(aggRefusedAt + k) + 1);
      store<f64>(aggRefusedBytesAt + k, load<f64>(aggRefusedBytesAt + k) + <f64>l3Bytes);
    }
  }
  const p = eniPacketsAt + (<usize>eni << 3);
  store<f64>(p, load<f64>(p) + 1);
  const b = eniBytesAt + (<usize>eni << 3);
  store<f64>(b, load<f64>(b) + <f64>l3Bytes);
  return true;
}

/**
 * The frame at `b` (`capLen` bytes captured), stamped `tsSec`, with the capture's segmentation
 * word `seg` (live records; 0 otherwise), through the packet path. False when the host must
 * take it; nothing has changed then.
 */
@inline function handle(b: usize, capLen: u32, seg: u32): bool {
  if (tsSec < loSec || tsSec >= hiSec) return false;
  if (!decodeLane(b, b + capLen)) return false;
  // Super-frames are the host's (src/packet/decode/super-frame.ts counts their segments): a GSO type in
  // the kernel's header (bit 31 of `seg`: the header was read), or larger than the MTU. So are
  // TCP SYNs with options when no header was read: the host learns their MSS.
  if ((seg & 0x80000000) != 0) {
    if ((seg & 0xff0000) != 0) return false;
  } else if (protocol == 6 && (tcpFlags & 2) != 0 && (load<u8>(transport + 12) >> 4) > 5) {
    return false;
  }
  if (l3Bytes > superAbove) return false;
  const out = scoped(eniOf(0, b + 6, ip + (ipv6 ? 8 : 12)));
  const inbound = scoped(eniOf(1, b, ip + (ipv6 ? 24 : 16)));
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
// Above this L3 length a frame is a super-frame (the MTU of the device or of the file).
let superAbove: u32 = 1500;

/** Starts a call of `run` or `runPcapng`: the windows' bounds, the MTU, and no record handled yet. */
@inline function begin(lo: f64, hi: f64, mtu: u32): void {
  loSec = lo;
  hiSec = hi;
  superAbove = mtu;
  handled = 0;
  unattributed = 0;
}

/**
 * Handles the little-endian pcap records in [pos, end), stamped in [lo, hi) (inside every
 * aggregator's current window), from the first on; frames of more than `mtu` L3 bytes are left
 * to the host. `live`: word 1 of a record is the capture's segmentation word (ChunkRecorder),
 * not a fraction of a second. Returns the address of the first record not handled; `handled`
 * and `unattributed` count what was.
 */
export function run(pos: usize, end: usize, lo: f64, hi: f64, mtu: u32, live: bool): usize {
  begin(lo, hi, mtu);
  while (end - pos >= 16) {
    // 0: seconds, 4: fraction (live: segmentation), 8: captured length, 12: wire length; then the frame
    const capLen = load<u32>(pos, 8);
    if (capLen > 262144 || end - pos - 16 < <usize>capLen) break;
    stamp(<f64>load<u32>(pos));
    if (!handle(pos + 16, capLen, live ? load<u32>(pos, 4) : 0)) break;
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
export function runPcapng(pos: usize, end: usize, lo: f64, hi: f64, mtu: u32): usize {
  begin(lo, hi, mtu);
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
    stamp(<f64>sec + load<f64>(d, 16));
    if (!handle(pos + 28, capLen, 0)) break;
    handled++;
    pos += <usize>total;
  }
  return pos;
}

