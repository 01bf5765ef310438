import type { ChunkRunner } from '../../capture/capture-source';
import { CHUNK_BYTES } from '../../capture/file/capture-file-reader';
import { DecodeStatus } from '../decode/packet-view';
import type { EniInventory } from '../../enrich/eni-inventory';
import type { FlowRecorder } from '../flow-recorder';
import type { FlowWindows, KernelTable, TableArena } from '../flow-windows';
import { TABLE_DESCRIPTOR_WORDS } from './kernel-layout';
import { KERNEL_WASM_BASE64 } from './packet-kernel-wasm';

/**
 * The packet kernel: the packet path of the common frame in WebAssembly, for replays of pcap and
 * pcapng files. One call walks a whole read chunk (about 2,000 packets); the TypeScript path takes
 * only the records the kernel stops at, one each, then the kernel goes on.
 *
 *   CaptureFileReader chunk ──► PacketKernel.run ─── common frame ──► kernel: lane decode,
 *      (in kernel memory)          │                                   ENI lookup, counters,
 *                                  │ stops at any other record         flow-table update
 *                                  ▼                                        │
 *                        FlowRecorder.onFrame (TypeScript) ◄────────────────┘ counters folded
 *                        for that one record, then back to the kernel         in after each call
 *
 * Why: a replay in TypeScript spends a quarter of its CPU before V8 has optimized the packet
 * path, and the optimized path still checks every typed-array read and every field's type.
 * WebAssembly is compiled before the first packet and reads memory unchecked.
 *
 * It stops, having changed nothing for that record, at: a frame the fast lane does not read
 * (tags, options, fragments, extension headers, other link layers), a time outside every
 * aggregator's current window (window closes, late packets), a new flow that the table cannot
 * take without the host (the index must grow, the table is full), an oversized record, and the
 * end of the chunk. The rules it repeats are held equal to the TypeScript path by
 * test/packet/wasm/packet-kernel.test.ts, which replays every capture both ways.
 *
 * Memory: one linear memory, never grown (so views stay valid): the lookup lists, the tables'
 * descriptors and counters, the reader's chunk, then the flow tables (FlowTable with a
 * TableArena), whose untouched pages cost nothing.
 */

/** pcapng interfaces the kernel knows of in a section; later ones are left to the host. */
const MAX_INTERFACES = 64;

/** Largest kernel memory asked for; above it (huge table capacities) replays stay in TypeScript. */
const MAX_MEMORY_BYTES = 3 * 1024 * 1024 * 1024;
const PAGE_BYTES = 65536;

/** Bytes one flow table can take from the arena (entries, IPv6 side array, every index size, flows per ENI). */
function tableBytes(capacity: number, enis: number): number {
  let slots = 1;
  while (slots * 2 < capacity * 3) slots <<= 1;
  return capacity * 32 * 2 + slots * 4 * 2 + enis * 4 + 64;
}

/** Bytes of an inventory's lookup lists as the kernel copies them (MACs, addresses, prefixes). */
function lookupBytes(inventory: EniInventory): number {
  const lists = inventory.kernelTables();
  return [lists.macs.length, lists.hosts.length, lists.prefixes.length].reduce((sum, n) => sum + listBytes(n), 0);
}

/** Bytes one list of `words` u32 takes in a lookup area (8-aligned). */
function listBytes(words: number): number {
  return (Math.max(4, words * 4) + 7) & ~7;
}

/** Bytes of the kernel's own regions, as PacketKernel's constructor takes them (each 8-aligned). */
function controlBytes(enis: number, aggregators: number, lookupAreaBytes: number): number {
  const copies = [enis + 1, enis * aggregators].map((n) => Math.max(4, n * 4));
  // Per aggregator x ENI: recorded packets, refused packets, refused bytes.
  const perAggEni = aggregators * enis * 8;
  const regions = [
    lookupAreaBytes,
    ...copies,
    aggregators * TABLE_DESCRIPTOR_WORDS * 4,
    enis * 8,
    enis * 8,
    perAggEni,
    perAggEni,
    perAggEni,
    MAX_INTERFACES * 24,
    Math.max(4, enis),
    CHUNK_BYTES,
  ];
  return regions.reduce((sum, bytes) => sum + bytes + 8, 0);
}

/**
 * A live pipeline's lookup lists change with its ENIs (PacketKernel.reconfigure): the area holds
 * four times the first lists (at least 256 KiB), and the memory keeps as much again spare for a
 * larger area. Pages never written cost nothing.
 */
const LIVE_LOOKUP_AREA_MIN_BYTES = 256 * 1024;

/** The kernel's linear memory, handed out front to back; also the flow tables' arena. */
export class KernelMemory implements TableArena {
  readonly memory: WebAssembly.Memory;
  readonly buffer: ArrayBuffer;
  private next = 0;

  private constructor(
    bytes: number,
    /** ENI indexes the kernel's per-ENI regions hold. */
    readonly eniCapacity: number,
    /** Bytes of the kernel's first lookup area. */
    readonly lookupAreaBytes: number,
  ) {
    this.memory = new WebAssembly.Memory({
      initial: Math.ceil(bytes / PAGE_BYTES),
      maximum: Math.ceil(bytes / PAGE_BYTES),
    });
    this.buffer = this.memory.buffer;
  }

  /**
   * Memory for a replay whose aggregators each keep up to two tables of `capacity` flows, or
   * null when that would exceed MAX_MEMORY_BYTES.
   */
  static forReplay(inventory: EniInventory, aggregators: number, capacity: number): KernelMemory | null {
    const lookups = lookupBytes(inventory);
    const enis = inventory.enis.length;
    const bytes = controlBytes(enis, aggregators, lookups) + aggregators * 2 * tableBytes(capacity, enis);
    return bytes > MAX_MEMORY_BYTES ? null : new KernelMemory(bytes, enis, lookups);
  }

  /**
   * Memory for a live pipeline whose ENIs change in place: per-ENI regions for `eniCapacity`
   * indexes and room for lookup lists larger than `inventory`'s (see PacketKernel.reconfigure).
   */
  static forLive(
    inventory: EniInventory,
    aggregators: number,
    capacity: number,
    eniCapacity: number,
  ): KernelMemory | null {
    const area = Math.max(LIVE_LOOKUP_AREA_MIN_BYTES, 4 * lookupBytes(inventory));
    const bytes =
      controlBytes(eniCapacity, aggregators, area) + 2 * area + aggregators * 2 * tableBytes(capacity, eniCapacity);
    return bytes > MAX_MEMORY_BYTES ? null : new KernelMemory(bytes, eniCapacity, area);
  }

  allocate(bytes: number): number {
    const at = (this.next + 7) & ~7;
    if (at + bytes > this.buffer.byteLength) return -1;
    this.next = at + bytes;
    return at;
  }

  /** Like allocate, for the kernel's own regions, which always fit (see controlBytes). */
  take(bytes: number): number {
    const at = this.allocate(bytes);
    if (at < 0) throw new RangeError(`allocate kernel region: ${bytes} bytes past the end of its memory`);
    return at;
  }
}

interface KernelExports {
  configure(...addresses: number[]): void;
  interfaces(at: number, count: number): void;
  scope(eni: number, shared: number): void;
  run(pos: number, end: number, loSec: number, hiSec: number, mtu: number, live: number): number;
  runPcapng(pos: number, end: number, loSec: number, hiSec: number, mtu: number): number;
  handled: WebAssembly.Global;
  unattributed: WebAssembly.Global;
}

let compiled: WebAssembly.Module | undefined;

export class PacketKernel implements ChunkRunner {
  /** The reader's chunk, in kernel memory: CaptureFileReader reads the file into it. */
  readonly chunk: Buffer;
  /** Packets the kernel handled (the rest went through the TypeScript path). */
  packets = 0;
  /** Packets handled by the last `run`. */
  handled = 0;
  private readonly exports: KernelExports;
  private readonly chunkAt: number;
  private readonly descWords: Uint32Array;
  private readonly descFloats: Float64Array;
  private readonly eniPackets: Float64Array;
  private readonly eniBytes: Float64Array;
  private readonly aggPackets: Float64Array;
  /** Per aggregator x ENI: packets (and bytes) its table refused, as counted by the last call. */
  private readonly aggRefused: Float64Array;
  private readonly aggRefusedBytes: Float64Array;
  private readonly eniCount: number;
  /** [readable, units per second, offset seconds] per pcapng interface (see `setInterfaces`). */
  private readonly ifaces: Float64Array;
  private ifacesVersion = -1;
  /** 1 per ENI that shared devices may count (live capture; see `runLive`). */
  readonly sharedEnis: Uint8Array;
  private readonly sharedAt: number;
  private scopeEni = -2;
  /** Per aggregator, the table the last call exported, and whether it was the ahead one. */
  private readonly tables: Array<KernelTable | null>;
  private readonly aheadOf: Uint8Array;
  /** Where the lookup lists and the ENIs' aggregator lists are copied (see `reconfigure`). */
  private lookupAt: number;
  private lookupAreaBytes: number;
  private readonly aggOffsetAt: number;
  private readonly aggIndexAt: number;
  private readonly tablesAt: number;
  private readonly eniPacketsAt: number;
  private readonly eniBytesAt: number;
  private readonly aggPacketsAt: number;
  private readonly aggRefusedAt: number;
  private readonly aggRefusedBytesAt: number;

  /**
   * `memory` must be the arena the aggregators' tables were made in. Throws only when the
   * module cannot be instantiated (the caller then replays without it).
   */
  constructor(
    private readonly memory: KernelMemory,
    inventory: EniInventory,
    private readonly recorder: FlowRecorder,
    private readonly aggregators: readonly FlowWindows[],
  ) {
    compiled ??= new WebAssembly.Module(Buffer.from(KERNEL_WASM_BASE64, 'base64'));
    this.exports = new WebAssembly.Instance(compiled, { env: { memory: memory.memory } })
      .exports as unknown as KernelExports;
    const buffer = memory.buffer;
    const enis = (this.eniCount = memory.eniCapacity);
    if (recorder.eniCapacity !== enis)
      throw new RangeError(`kernel memory for ${enis} ENIs, recorder for ${recorder.eniCapacity}`);
    this.tables = aggregators.map(() => null);
    this.aheadOf = new Uint8Array(aggregators.length);
    const aggs = aggregators.length;
    this.lookupAreaBytes = memory.lookupAreaBytes;
    this.lookupAt = memory.take(this.lookupAreaBytes);
    this.aggOffsetAt = memory.take(Math.max(4, (enis + 1) * 4));
    this.aggIndexAt = memory.take(Math.max(4, enis * aggs * 4));
    const tables = (this.tablesAt = memory.take(aggs * TABLE_DESCRIPTOR_WORDS * 4));
    this.descWords = new Uint32Array(buffer, tables, aggs * TABLE_DESCRIPTOR_WORDS);
    this.descFloats = new Float64Array(buffer, tables, (aggs * TABLE_DESCRIPTOR_WORDS) / 2);
    const eniPacketsAt = (this.eniPacketsAt = memory.take(enis * 8));
    const eniBytesAt = (this.eniBytesAt = memory.take(enis * 8));
    const aggPacketsAt = (this.aggPacketsAt = memory.take(aggs * enis * 8));
    this.eniPackets = new Float64Array(buffer, eniPacketsAt, enis);
    this.eniBytes = new Float64Array(buffer, eniBytesAt, enis);
    this.aggPackets = new Float64Array(buffer, aggPacketsAt, aggs * enis);
    const aggRefusedAt = (this.aggRefusedAt = memory.take(aggs * enis * 8));
    const aggRefusedBytesAt = (this.aggRefusedBytesAt = memory.take(aggs * enis * 8));
    this.aggRefused = new Float64Array(buffer, aggRefusedAt, aggs * enis);
    this.aggRefusedBytes = new Float64Array(buffer, aggRefusedBytesAt, aggs * enis);
    const ifacesAt = memory.take(MAX_INTERFACES * 24);
    this.ifaces = new Float64Array(buffer, ifacesAt, MAX_INTERFACES * 3);
    this.exports.interfaces(ifacesAt, 0);
    this.sharedAt = memory.take(Math.max(4, enis));
    this.sharedEnis = new Uint8Array(buffer, this.sharedAt, enis);
    this.chunkAt = memory.take(CHUNK_BYTES);
    this.chunk = Buffer.from(buffer, this.chunkAt, CHUNK_BYTES);
    if (!this.reconfigure(inventory)) throw new RangeError('copy the lookup lists: they exceed the kernel memory');
  }

  /**
   * Copies `inventory`'s lookup lists and the recorder's ENI-to-aggregator lists (after
   * FlowRecorder.setCoverage) into kernel memory: the live pipeline's ENIs changed in place,
   * indexes kept. Between calls only. False when the lists outgrew every area the memory has; the
   * kernel must then not be called again (the owner goes on without it).
   */
  reconfigure(inventory: EniInventory): boolean {
    const lists = inventory.kernelTables();
    const need = lookupBytes(inventory);
    if (need > this.lookupAreaBytes) {
      const at = this.memory.allocate(2 * need);
      if (at < 0) return false;
      this.lookupAt = at;
      this.lookupAreaBytes = 2 * need;
    }
    const buffer = this.memory.buffer;
    let next = this.lookupAt;
    const copy = (words: Int32Array | Uint32Array, to = -1): number => {
      const at = to >= 0 ? to : next;
      new Uint32Array(buffer, at, words.length).set(words);
      if (to < 0) next += listBytes(words.length);
      return at;
    };
    const macs = copy(lists.macs);
    const hosts = copy(lists.hosts);
    const prefixes = copy(lists.prefixes);
    const aggOffset = copy(this.recorder.eniAggOffset, this.aggOffsetAt);
    const aggIndex = copy(this.recorder.eniAggIndex, this.aggIndexAt);
    this.exports.configure(
      macs,
      lists.macs.length / 3,
      lists.macMask,
      hosts,
      lists.hosts.length / 6,
      lists.hostMask,
      prefixes,
      lists.prefixes.length / 10,
      aggOffset,
      aggIndex,
      this.tablesAt,
      this.eniPacketsAt,
      this.eniBytesAt,
      this.aggPacketsAt,
      this.eniCount,
      this.aggRefusedAt,
      this.aggRefusedBytesAt,
    );
    return true;
  }

  /**
   * Handles the pcap records of the chunk in [pos, end) (little-endian, Ethernet) from the first
   * on, and returns where it stopped; `handled` says how many it took. The record there, if
   * whole, is the TypeScript path's.
   */
  run(pos: number, end: number): number {
    if (this.scopeEni !== -2) {
      this.scopeEni = -2;
      this.exports.scope(-2, this.sharedAt);
    }
    return this.call(false, pos, end, this.recorder.fileSuperFrameThreshold, 0);
  }

  /**
   * Like `run`, for a chunk of live frames (Ethernet) captured on the device of ENI `eni`, which
   * alone they count for (FlowRecorder.onFrameForEni), or on a shared device when `eni` is -1:
   * then for the ENIs marked in `sharedEnis` (FlowRecorder.onSharedFrame). Frames of more than
   * `mtu` L3 bytes, or with a GSO type in their record's segmentation word, are the host's.
   */
  runLive(eni: number, pos: number, end: number, mtu: number): number {
    if (eni !== this.scopeEni) {
      this.scopeEni = eni;
      this.exports.scope(eni, this.sharedAt);
    }
    return this.call(false, pos, end, mtu, 1);
  }

  /**
   * Like `run`, for the blocks of a little-endian pcapng section, whose interfaces the reader
   * has given with `setInterfaces`.
   */
  runPcapng(pos: number, end: number): number {
    return this.call(true, pos, end, this.recorder.fileSuperFrameThreshold, 0);
  }

  /**
   * The interfaces of the pcapng section being read (link type, timestamp units per second,
   * offset in seconds, by interface id); `version` changes whenever they do, and the same version
   * is not written again. The kernel reads packets of Ethernet interfaces whose units are whole
   * and at most 2^32 (the reader's exact division) and leaves the others to the reader.
   */
  setInterfaces(
    version: number,
    linkTypes: readonly number[],
    unitsPerSec: readonly number[],
    offsetSec: readonly number[],
  ): void {
    if (version === this.ifacesVersion) return;
    this.ifacesVersion = version;
    const n = Math.min(linkTypes.length, MAX_INTERFACES);
    const f = this.ifaces;
    for (let i = 0; i < n; i++) {
      const units = unitsPerSec[i];
      f[i * 3] = linkTypes[i] === 1 && Number.isInteger(units) && units >= 1 && units <= 4294967296 ? 1 : 0;
      f[i * 3 + 1] = units;
      f[i * 3 + 2] = offsetSec[i];
    }
    this.exports.interfaces(this.ifaces.byteOffset, n);
  }

  private call(pcapng: boolean, pos: number, end: number, mtu: number, live: number): number {
    this.handled = 0;
    if (this.recorder.hasActionPolicy) return pos;
    const aggs = this.aggregators;
    let lo = -1;
    let hi = Infinity;
    // A run that starts with a packet of an aggregator's next window, which the wall clock has
    // not opened yet (the daemon's grace), records into that window's ahead table
    // (aheadTableFor: wall-clock aggregators only, so never in replay).
    const firstSec = !pcapng && end - pos >= 16 ? this.chunk.readUInt32LE(pos) : -1;
    for (let a = 0; a < aggs.length; a++) {
      const agg = aggs[a];
      let table = agg.currentTable;
      let start = agg.windowStartSec;
      let stop = agg.windowEndSec;
      const ahead = firstSec >= stop ? agg.aheadTableFor(firstSec) : null;
      if (ahead !== null) {
        table = ahead;
        start = stop;
        stop += agg.intervalSec;
      }
      this.tables[a] = table;
      this.aheadOf[a] = ahead !== null ? 1 : 0;
      if (start < 0 || table === null || !table.exportTo(this.descWords, this.descFloats, a * TABLE_DESCRIPTOR_WORDS))
        return pos;
      if (start > lo) lo = start;
      if (stop < hi) hi = stop;
    }
    const ex = this.exports;
    const at = this.chunkAt;
    const stop =
      (pcapng ? ex.runPcapng(at + pos, at + end, lo, hi, mtu) : ex.run(at + pos, at + end, lo, hi, mtu, live)) - at;
    const n = ex.handled.value as number;
    if (n === 0) return pos;
    this.handled = n;
    this.packets += n;
    this.foldCounters(n, ex.unattributed.value as number);
    return stop;
  }

  /**
   * Adds what the kernel counted to the recorder's and aggregators' counters, and takes back the
   * tables' state. A call scoped to one ENI (its own device) counted for that ENI alone, so only
   * its counters are read: with hundreds of ENIs each wake-up of one device stays O(1).
   */
  private foldCounters(handled: number, unattributed: number): void {
    const c = this.recorder.counters;
    c.frames += handled;
    c.byStatus[DecodeStatus.Ok] += handled;
    c.unattributed += unattributed;
    const only = this.scopeEni;
    const first = only >= 0 ? only : 0;
    const enis = only >= 0 ? only + 1 : this.eniCount;
    const packets = this.eniPackets;
    const bytes = this.eniBytes;
    for (let e = first; e < enis; e++) {
      if (packets[e] === 0) continue;
      c.eniPackets[e] += packets[e];
      c.eniBytes[e] += bytes[e];
      packets[e] = 0;
      bytes[e] = 0;
    }
    const aggs = this.aggregators;
    const aggPackets = this.aggPackets;
    const refused = this.aggRefused;
    for (let a = 0; a < aggs.length; a++) {
      const ahead = this.aheadOf[a] === 1;
      const recorded = ahead ? (aggs[a].aheadRecordedPackets as Float64Array) : aggs[a].recordedPackets;
      for (let e = first, k = a * this.eniCount + first; e < enis; e++, k++) {
        if (refused[k] !== 0) {
          aggs[a].addRefused(e, refused[k], this.aggRefusedBytes[k], ahead);
          refused[k] = 0;
          this.aggRefusedBytes[k] = 0;
        }
        if (aggPackets[k] === 0) continue;
        recorded[e] += aggPackets[k];
        aggPackets[k] = 0;
      }
      (this.tables[a] as KernelTable).importFrom(this.descWords, this.descFloats, a * TABLE_DESCRIPTOR_WORDS);
    }
  }
}
