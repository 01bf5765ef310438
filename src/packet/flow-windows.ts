import type { PacketView } from './decode/packet-view';

/*
 * What the packet path records into, as it sees it: the flow stage (flow/FlowAggregator and its
 * FlowTables) implements these, so packet/ names no class of flow/ and the flow stage stays the
 * packet path's consumer. Type-only: the calls are the same monomorphic calls as before.
 */

/** Flags the packet path gives a packet's flow: it left the ENI; the policy or NFLOG rejected it. */
export const FLAG_OUT = 2;
export const FLAG_REJECT = 4;

/**
 * Linear memory a table's arrays can live in, shared with the packet kernel (packet/wasm). The
 * arena is never grown, so views into it stay valid; a table takes plain arrays when it is full.
 */
export interface TableArena {
  readonly buffer: ArrayBuffer;
  /** The byte offset of `bytes` zeroed bytes (8-aligned) never handed out before, or -1. */
  allocate(bytes: number): number;
}

/** A flow table as the packet kernel updates it: its descriptor out before a call and back after (wasm/kernel-layout.ts). */
export interface KernelTable {
  exportTo(words: Uint32Array, floats: Float64Array, at: number): boolean;
  importFrom(words: Uint32Array, floats: Float64Array, at: number): void;
}

/**
 * One aggregation interval's windows as the packet path records into them. `record` takes the
 * decoded view (borrowed for the call) for ENI index `eni` with FLAG_* `flags`; the kernel takes
 * the current (or, live, the next) window's table and hands its counts back.
 */
export interface FlowWindows {
  readonly intervalSec: number;
  readonly windowStartSec: number;
  readonly windowEndSec: number;
  record(v: PacketView, eni: number, flags: number): void;
  /** Closes the windows that ended by `tsSec`; returns windows closed. */
  advanceTo(tsSec: number): number;
  readonly currentTable: KernelTable | null;
  /** The next window's table when `tsSec` falls in it (wall-clock windows in their grace), else null. */
  aheadTableFor(tsSec: number): KernelTable | null;
  /** Per ENI: packets recorded in the current window, and in the next one (see aheadTableFor). */
  readonly recordedPackets: Float64Array;
  readonly aheadRecordedPackets: Float64Array | null;
  /** Packets (and their L3 bytes) of `eni` a table refused, in the current window or the next. */
  addRefused(eni: number, packets: number, bytes: number, ahead: boolean): void;
}
