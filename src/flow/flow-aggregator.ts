import type { FlowWindows } from '../packet/flow-windows';
import type { PacketView } from '../packet/decode/packet-view';
import { FlowTable, type TableArena } from './flow-table';

/**
 * A window's worth of flows and per-ENI counts, handed to the record builder when the window
 * closes. The builder owns `table` until it calls `FlowAggregator.release(table)`; the per-ENI
 * arrays are the builder's to keep.
 */
export interface ClosedWindow {
  intervalSec: number;
  startSec: number;
  /** start + interval, or earlier for a partial window written at shutdown. */
  endSec: number;
  table: FlowTable;
  /** Packets recorded per ENI (index as in the inventory). 0 means NODATA for that ENI. */
  eniPackets: Float64Array;
  /** Packets of the window that could not be recorded per ENI (table full, capture drops). */
  eniLostPackets: Float64Array;
  /** Bytes of those packets where known (table full); capture drops add packets only. */
  eniLostBytes: Float64Array;
  /**
   * 1 per ENI captured at some moment of the window (its device open, or a shared device). An
   * idle ENI gets NODATA only when captured; one whose device existed for none of the window gets
   * no record (unless it lost packets: SKIPDATA). Replay captures every ENI all along.
   */
  eniCaptured: Uint8Array;
}

/**
 * A ClosedWindow made by a constructor rather than an object literal: V8 generalizes the field
 * types of a literal's map on the literal's second use, which threw away the record builder's
 * compiled slice loop (it reads the window) when a replay's second window closed.
 */
class ClosedFlowWindow implements ClosedWindow {
  constructor(
    readonly intervalSec: number,
    readonly startSec: number,
    readonly endSec: number,
    readonly table: FlowTable,
    readonly eniPackets: Float64Array,
    readonly eniLostPackets: Float64Array,
    readonly eniLostBytes: Float64Array,
    readonly eniCaptured: Uint8Array,
  ) {}
}

export interface FlowAggregatorOptions {
  intervalSec: number;
  tableCapacity: number;
  eniCount: number;
  /**
   * Empty windows between two packets that still get written (as NODATA) before a forward jump in
   * time is treated as a new timeline, e.g. replaying captures from different years in one run.
   */
  maxGapWindows: number;
  onWindowClosed: (window: ClosedWindow) => void;
  /**
   * Wall-clock mode (the daemon): windows close only when the clock is moved (`advanceTo`, a
   * grace after each boundary), and packets stamped in the next window that arrive before then
   * (another capture handle delivered first) are recorded in that next window, instead of closing
   * the current one early and turning its stragglers into late packets. Replay leaves it off:
   * there the packets are the clock.
   */
  wallClock?: boolean;
  /** Where tables keep their arrays: the packet kernel's memory (src/packet/wasm); default their own. */
  arena?: TableArena;
  /**
   * ENIs the interval's flow logs cover: each is guaranteed tableCapacity / (2 x this) flows of
   * every window, the rest is shared (FlowTable.setShare). Default eniCount.
   */
  coveredEnis?: number;
  /**
   * Wall-clock mode: the clock jumped over whole windows (a forward step of the wall clock, or
   * the process suspended or stalled): `[startSec, endSec)` was not watched window by window, so
   * it is written as SKIPDATA with unknown counts rather than NODATA (packets stamped in it may
   * still arrive, late, into the current window). Called once per jump.
   */
  onUncaptured?: (startSec: number, endSec: number) => void;
  /**
   * Wall-clock mode: the clocks that tell a stall from a step. Given, a jump over whole windows
   * that the monotonic clock accounts for (the process did not run: a loaded host, SIGSTOP) is no
   * loss, as the capture rings held the packets (or counted what they dropped): the windows
   * jumped over are written as ordinary windows from what was read, and `onStalled` is told.
   * Only a jump the wall clock made on its own (a forward step of at least CLOCK_STEP_MS) goes to
   * onUncaptured. Without them every jump goes to onUncaptured.
   */
  clocks?: { wallMs(): number; monoMs(): number };
  /** Wall-clock mode with `clocks`: whole windows `[startSec, endSec)` closed late after a stall. */
  onStalled?: (startSec: number, endSec: number) => void;
  /**
   * Whether every ENI counts as captured from the start (replay: yes, the default). The daemon
   * starts with none and says which are with `setCapturing` as their devices open and close.
   */
  capturedFromStart?: boolean;
}

/** A wall clock that ran this much further than the monotonic clock stepped (see ClockStepWatch). */
export const CLOCK_STEP_MS = 2000;

/**
 * Aggregates the flows of one aggregation interval (every flow log with the same interval shares
 * one aggregator). Windows are aligned to multiples of the interval since the Unix epoch and are
 * driven by `record`/`advanceTo` timestamps: packet times in replay, the wall clock in the daemon.
 *
 * Tables: the record builder may drain a closed window asynchronously (the daemon does, so a
 * flush never stalls capture); the aggregator then records into a second table. The second table
 * is allocated only the first time a close finds the previous one still unreleased.
 */
export class FlowAggregator implements FlowWindows {
  readonly intervalSec: number;
  private readonly capacity: number;
  private readonly eniCount: number;
  private readonly maxGapWindows: number;
  private readonly onWindowClosed: (window: ClosedWindow) => void;
  private readonly onUncaptured: ((startSec: number, endSec: number) => void) | undefined;
  private table: FlowTable | null;
  private spare: FlowTable | null = null;
  private readonly clocks: { wallMs(): number; monoMs(): number } | undefined;
  private readonly onStalled: ((startSec: number, endSec: number) => void) | undefined;
  /** Both clocks when the current window opened (wall-clock mode with clocks). */
  private openedWallMs = 0;
  private openedMonoMs = 0;
  /** The table of windows closed with no flows after a stall: never recorded into, never released. */
  private emptyTable: FlowTable | null = null;
  private eniPackets: Float64Array;
  private eniLostPackets: Float64Array;
  private eniLostBytes: Float64Array;
  private eniCaptured: Uint8Array;
  /** Per ENI, 1 while it is captured now: the next window's eniCaptured starts from it. */
  private readonly capturing: Uint8Array;
  /** Per ENI, when it was last captured (Unix s; -1 never), for windows opened after that. */
  private readonly capturedUntilSec: Float64Array;
  private readonly wallClock: boolean;
  private readonly arena: TableArena | undefined;
  private coveredEnis: number;
  /** Wall-clock mode: the next window's flows and counts, recorded before the current one closed. */
  private ahead: FlowTable | null = null;
  private aheadPackets: Float64Array | null = null;
  private aheadLostPackets: Float64Array | null = null;
  private aheadLostBytes: Float64Array | null = null;
  private aheadCaptured: Uint8Array | null = null;
  /** -1 until the first timestamp arrives. */
  windowStartSec = -1;
  windowEndSec = -1;

  // counters (read by metrics and summaries)
  tablesAllocated = 1;
  latePackets = 0;
  timelineRestarts = 0;
  gapWindowsSkipped = 0;
  tableFullPackets = 0;
  /** Wall-clock mode: whole windows the clock jumped over, written as SKIPDATA (onUncaptured). */
  uncapturedWindows = 0;
  /** Wall-clock mode: whole windows closed late after a stall, written from what was read (onStalled). */
  stalledWindows = 0;
  /** Per ENI, since construction: packets of new flows the table refused (its share used, the pool full). */
  readonly refusedPackets: Float64Array;

  constructor(o: FlowAggregatorOptions) {
    this.intervalSec = o.intervalSec;
    this.capacity = o.tableCapacity;
    this.eniCount = o.eniCount;
    this.maxGapWindows = o.maxGapWindows;
    this.onWindowClosed = o.onWindowClosed;
    this.onUncaptured = o.onUncaptured;
    this.clocks = o.clocks;
    this.onStalled = o.onStalled;
    this.wallClock = o.wallClock ?? false;
    this.arena = o.arena;
    this.coveredEnis = o.coveredEnis ?? o.eniCount;
    this.refusedPackets = new Float64Array(o.eniCount);
    this.table = this.newTable();
    this.eniPackets = new Float64Array(o.eniCount);
    this.eniLostPackets = new Float64Array(o.eniCount);
    this.eniLostBytes = new Float64Array(o.eniCount);
    this.capturing = new Uint8Array(o.eniCount).fill(o.capturedFromStart === false ? 0 : 1);
    this.capturedUntilSec = new Float64Array(o.eniCount).fill(-1);
    this.eniCaptured = this.capturing.slice();
  }

  /**
   * ENI `eni` is captured from `atSec` (wall clock) on (`on`), or no longer. The window `atSec`
   * falls in is marked captured (the current one, or the next when the clock has passed the
   * current one's end and it waits out its grace), and so is every later window it overlaps.
   */
  setCapturing(eni: number, on: boolean, atSec: number): void {
    this.capturing[eni] = on ? 1 : 0;
    if (!on) {
      this.capturedUntilSec[eni] = atSec;
      return;
    }
    if (this.windowStartSec < 0 || atSec < this.windowEndSec) this.eniCaptured[eni] = 1;
    if (this.aheadCaptured !== null) this.aheadCaptured[eni] = 1;
  }

  /** Who a window opening at `startSec` starts captured with: those captured now or since its start. */
  private capturedFrom(startSec: number): Uint8Array {
    const c = this.capturing.slice();
    const until = this.capturedUntilSec;
    for (let e = 0; e < c.length; e++) if (until[e] >= startSec) c[e] = 1;
    return c;
  }

  /** Whether ENI `eni` is captured now (see setCapturing). */
  isCapturing(eni: number): boolean {
    return this.capturing[eni] === 1;
  }

  /** Records one packet for `eni`; `flags` as in FlowTable. Packet path: no allocation. */
  record(v: PacketView, eni: number, flags: number): void {
    const ts = v.tsSec;
    let recorded: boolean;
    if (
      this.wallClock &&
      ts >= this.windowEndSec &&
      this.windowStartSec >= 0 &&
      ts < this.windowEndSec + this.intervalSec
    ) {
      this.recordAhead(v, eni, flags);
      return;
    }
    if (this.wallClock && this.windowStartSec >= 0 && ts < this.windowStartSec) {
      // A written window is never reopened: a packet stamped before the open window (the wall
      // clock stepped back, a packet held in the ring across a stall) counts in it at its start,
      // so windows never overlap and start <= end. (Stamped two or more windows ahead, a packet
      // moves the windows as the next tick would: below.)
      this.latePackets += 1;
      v.tsSec = this.windowStartSec;
      recorded = (this.table as FlowTable).record(v, eni, flags);
      v.tsSec = ts;
    } else if (ts >= this.windowEndSec || ts < this.windowStartSec) {
      // Late packets are recorded at the window start; the view's time is put back afterwards
      // because other aggregators (other intervals) read the same view.
      v.tsSec = this.advanceTo(ts);
      recorded = (this.table as FlowTable).record(v, eni, flags);
      v.tsSec = ts;
    } else {
      recorded = (this.table as FlowTable).record(v, eni, flags);
    }
    if (recorded) {
      this.eniPackets[eni] += v.segments;
    } else {
      this.tableFullPackets += v.segments;
      this.refusedPackets[eni] += v.segments;
      this.eniLostPackets[eni] += v.segments;
      this.eniLostBytes[eni] += v.l3Bytes;
    }
  }

  /**
   * For the kernel: packets of `eni` its table refused (see record), in the current window or,
   * with `ahead`, the next one's.
   */
  addRefused(eni: number, packets: number, bytes: number, ahead: boolean): void {
    this.tableFullPackets += packets;
    this.refusedPackets[eni] += packets;
    (ahead ? (this.aheadLostPackets as Float64Array) : this.eniLostPackets)[eni] += packets;
    (ahead ? (this.aheadLostBytes as Float64Array) : this.eniLostBytes)[eni] += bytes;
  }

  /**
   * The ENIs the interval's flow logs cover changed to `enis` (an ENI added or removed in place):
   * every table's guarantee follows at once; flows already in stay (FlowTable.setShare).
   */
  setCoveredEnis(enis: number): void {
    this.coveredEnis = enis;
    for (const t of [this.table, this.spare, this.ahead]) t?.setShare(enis);
  }

  /** A table of this aggregator, shared among its covered ENIs. */
  private newTable(): FlowTable {
    const t = new FlowTable(this.capacity, this.arena, this.eniCount);
    t.setShare(this.coveredEnis);
    return t;
  }

  /** A packet of the next window that arrived before the clock closed the current one. */
  private recordAhead(v: PacketView, eni: number, flags: number): void {
    const ahead = this.ahead ?? this.openAhead();
    if (ahead.record(v, eni, flags)) {
      (this.aheadPackets as Float64Array)[eni] += v.segments;
    } else {
      this.tableFullPackets += v.segments;
      this.refusedPackets[eni] += v.segments;
      (this.aheadLostPackets as Float64Array)[eni] += v.segments;
      (this.aheadLostBytes as Float64Array)[eni] += v.l3Bytes;
    }
  }

  /** The next window's table, made at its first packet (once per window at most). */
  private openAhead(): FlowTable {
    // From the spare table when the last drain has returned it.
    let ahead = this.spare;
    if (ahead !== null) this.spare = null;
    else {
      ahead = this.newTable();
      this.tablesAllocated += 1;
    }
    this.ahead = ahead;
    this.aheadPackets = new Float64Array(this.eniCount);
    this.aheadLostPackets = new Float64Array(this.eniCount);
    this.aheadLostBytes = new Float64Array(this.eniCount);
    this.aheadCaptured = this.capturedFrom(this.windowEndSec);
    return ahead;
  }

  /**
   * For the kernel in wall-clock mode: the table a packet stamped `tsSec` goes to when it belongs
   * to the next window (one that arrived before the clock closed the current one), made now if
   * it is the first such packet; null when `tsSec` is not in the next window.
   */
  aheadTableFor(tsSec: number): FlowTable | null {
    if (
      !this.wallClock ||
      this.windowStartSec < 0 ||
      tsSec < this.windowEndSec ||
      tsSec >= this.windowEndSec + this.intervalSec
    )
      return null;
    return this.ahead ?? this.openAhead();
  }

  /** The next window's packets recorded per ENI, while its table is open (see aheadTableFor). */
  get aheadRecordedPackets(): Float64Array | null {
    return this.aheadPackets;
  }

  /** Counts packets lost before aggregation (capture drops) against the current window of `eni`. */
  addLoss(eni: number, packets: number): void {
    // In wall-clock mode, once packets of the next window are arriving, losses reported now
    // belong with them rather than with the window waiting out its grace.
    if (this.ahead !== null) (this.aheadLostPackets as Float64Array)[eni] += packets;
    else this.eniLostPackets[eni] += packets;
  }

  /**
   * Moves the clock to `tsSec`, closing every window that ends at or before it. Returns the
   * timestamp to record a packet at: itself, or the window start for a late packet (one that
   * arrives after its window closed, by at most one interval), counted in `latePackets`.
   */
  advanceTo(tsSec: number): number {
    const interval = this.intervalSec;
    if (this.windowStartSec < 0) {
      this.openWindow(tsSec - (tsSec % interval));
      return tsSec;
    }
    if (tsSec < this.windowStartSec) {
      if (this.windowStartSec - tsSec <= interval) {
        this.latePackets += 1;
        return this.windowStartSec;
      }
      // Time went backwards by more than a window (the next capture file of a replay starts
      // earlier): finish the current window and start a new timeline.
      this.timelineRestarts += 1;
      this.closeWindow(this.windowEndSec);
      this.openWindow(tsSec - (tsSec % interval));
      return tsSec;
    }
    if (tsSec < this.windowEndSec) return tsSec;
    const nextStart = tsSec - (tsSec % interval);
    if (this.wallClock) return this.advanceWallClock(nextStart, tsSec);
    this.closeWindow(this.windowEndSec);
    const gap = (nextStart - this.windowEndSec) / interval;
    if (gap > this.maxGapWindows) {
      this.timelineRestarts += 1;
      this.gapWindowsSkipped += gap;
    } else {
      for (let s = this.windowEndSec; s < nextStart; s += interval) {
        this.openWindow(s);
        this.closeWindow(s + interval);
      }
    }
    this.openWindow(nextStart);
    return tsSec;
  }

  /**
   * Wall-clock mode: closes the current window (and the next one when packets of it arrived
   * early) and opens the window at `nextStart`; whole windows in between are handed to
   * onUncaptured. A clock that went back never gets here: the current window stays open until
   * the clock reaches its end again, so no window is written twice.
   */
  private advanceWallClock(nextStart: number, tsSec: number): number {
    const interval = this.intervalSec;
    let s = this.windowEndSec;
    const hadAhead = this.ahead !== null;
    // Against the clocks of the window that was open: opening the ahead one below re-reads them.
    const stalled = this.stalled();
    this.closeWindow(s);
    if (hadAhead && nextStart > s) {
      this.openWindow(s);
      s += interval;
      this.closeWindow(s);
    }
    if (nextStart > s && stalled) {
      // Every handle was read before the clock moved (or this packet is the first of a later
      // window): the windows in between saw no packet. Stragglers still in a ring arrive late.
      this.stalledWindows += (nextStart - s) / interval;
      if (this.onStalled !== undefined) this.onStalled(s, nextStart);
      for (; s < nextStart; s += interval) this.closeEmptyWindow(s);
    } else if (nextStart > s) {
      this.uncapturedWindows += (nextStart - s) / interval;
      if (this.onUncaptured !== undefined) this.onUncaptured(s, nextStart);
      else this.gapWindowsSkipped += (nextStart - s) / interval;
    }
    this.openWindow(nextStart);
    return tsSec;
  }

  /** Whether the monotonic clock accounts for the wall clock's advance since the window opened. */
  private stalled(): boolean {
    const c = this.clocks;
    if (c === undefined) return false;
    return c.wallMs() - this.openedWallMs - (c.monoMs() - this.openedMonoMs) < CLOCK_STEP_MS;
  }

  /** Closes `[startSec, startSec + interval)` with no flows: NODATA for its captured ENIs. */
  private closeEmptyWindow(startSec: number): void {
    this.emptyTable ??= new FlowTable(1);
    this.onWindowClosed(
      new ClosedFlowWindow(
        this.intervalSec,
        startSec,
        startSec + this.intervalSec,
        this.emptyTable,
        new Float64Array(this.eniCount),
        new Float64Array(this.eniCount),
        new Float64Array(this.eniCount),
        this.capturedFrom(startSec),
      ),
    );
  }

  /** Closes the current window early at `endSec` (shutdown), or at its end when omitted. */
  finish(endSec?: number): void {
    if (this.windowStartSec < 0) return;
    const end =
      endSec === undefined ? this.windowEndSec : Math.max(this.windowStartSec, Math.min(endSec, this.windowEndSec));
    const nextStart = this.windowEndSec;
    const hadAhead = this.ahead !== null;
    this.closeWindow(end);
    if (hadAhead) {
      // Packets of the next window were recorded already: that window is written too, ending
      // at `endSec` (or at its own end).
      this.openWindow(nextStart);
      this.closeWindow(
        endSec === undefined ? this.windowEndSec : Math.max(nextStart + 1, Math.min(endSec, this.windowEndSec)),
      );
    }
    this.windowStartSec = -1;
    this.windowEndSec = -1;
  }

  /** Returns a drained table for reuse. */
  release(table: FlowTable): void {
    if (table === this.emptyTable) return;
    table.clear();
    table.setShare(this.coveredEnis);
    if (this.table === null) this.table = table;
    else if (table !== this.table && table !== this.ahead) this.spare = table;
  }

  /** The current window's table (null only inside a close); for the packet kernel. */
  get currentTable(): FlowTable | null {
    return this.table;
  }

  /** The current window's packets recorded per ENI; the packet kernel adds its own. */
  get recordedPackets(): Float64Array {
    return this.eniPackets;
  }

  /**
   * The open window as it stands, ending at `endSec`, and the next one when packets of it came
   * early: what a flow log removed mid-window writes as its partial last window. The tables and
   * counts are borrowed (they keep recording): build their records before the next packet.
   */
  openWindows(endSec: number): ClosedWindow[] {
    if (this.windowStartSec < 0 || this.table === null) return [];
    const end = Math.max(this.windowStartSec + 1, Math.min(endSec, this.windowEndSec));
    const out: ClosedWindow[] = [
      new ClosedFlowWindow(
        this.intervalSec,
        this.windowStartSec,
        end,
        this.table,
        this.eniPackets,
        this.eniLostPackets,
        this.eniLostBytes,
        this.eniCaptured,
      ),
    ];
    if (this.ahead !== null && endSec > this.windowEndSec) {
      const next = this.windowEndSec;
      out.push(
        new ClosedFlowWindow(
          this.intervalSec,
          next,
          Math.min(endSec, next + this.intervalSec),
          this.ahead,
          this.aheadPackets as Float64Array,
          this.aheadLostPackets as Float64Array,
          this.aheadLostBytes as Float64Array,
          this.aheadCaptured as Uint8Array,
        ),
      );
    }
    return out;
  }

  /** Flows recorded in the current window (for the active-flows gauge). */
  get activeFlows(): number {
    return this.table === null ? 0 : this.table.size;
  }

  private openWindow(startSec: number): void {
    this.windowStartSec = startSec;
    this.windowEndSec = startSec + this.intervalSec;
    if (this.clocks !== undefined) {
      this.openedWallMs = this.clocks.wallMs();
      this.openedMonoMs = this.clocks.monoMs();
    }
  }

  private closeWindow(endSec: number): void {
    const closing = this.table as FlowTable;
    const window = new ClosedFlowWindow(
      this.intervalSec,
      this.windowStartSec,
      endSec,
      closing,
      this.eniPackets,
      this.eniLostPackets,
      this.eniLostBytes,
      this.eniCaptured,
    );
    if (this.ahead !== null) {
      // The next window started recording early (wall-clock mode): it becomes the current one.
      this.eniPackets = this.aheadPackets as Float64Array;
      this.eniLostPackets = this.aheadLostPackets as Float64Array;
      this.eniLostBytes = this.aheadLostBytes as Float64Array;
      this.eniCaptured = this.aheadCaptured as Uint8Array;
      this.table = this.ahead;
      this.ahead = this.aheadPackets = this.aheadLostPackets = this.aheadLostBytes = null;
      this.aheadCaptured = null;
    } else {
      this.eniPackets = new Float64Array(this.eniCount);
      this.eniLostPackets = new Float64Array(this.eniCount);
      this.eniLostBytes = new Float64Array(this.eniCount);
      this.eniCaptured = this.capturedFrom(this.windowEndSec);
      this.table = this.spare;
      this.spare = null;
    }
    this.onWindowClosed(window); // may call release(closing) synchronously
    if (this.table === null) {
      this.table = this.newTable();
      this.tablesAllocated += 1;
    }
  }
}
