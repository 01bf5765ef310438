import type { AgentConfig } from '../config/types';
import { log } from '../log';
import { ChunkRecorder, OVERLAY_DEVICE, SHARED_DEVICE } from '../packet/chunk-recorder';
import type { RecordSubmitter } from '../output/record-output';
import type { FlowRecorder } from '../packet/flow-recorder';
import { Agent } from './agent';
import type { EniConfig } from '../config/types';

/*
 * What the live agent reads of the daemon's state, declared here (the daemon's EniSlots,
 * CaptureSet and NflogSet have these shapes) so that agent/ does not import daemon/.
 */

/** An ENI index whose device is known: its own device, or (shared) any shared device. */
export interface ResolvedEni {
  readonly index: number;
  readonly device: string;
  readonly shared: boolean;
}

/** The daemon's stable ENI indexes (daemon/EniSlots). */
export interface EniIndexes {
  readonly length: number;
  /** `enis[i]` is ENI index i's (a free index: an ENI that matches nothing). */
  configs(): EniConfig[];
  /** 1 for indexes whose MACs and addresses lose to the others' (retiring ENIs). */
  secondary(): Uint8Array;
  /** 1 for indexes counted on shared devices. */
  sharedMask(capacity: number): Uint8Array;
  resolved(): readonly ResolvedEni[];
  indexOfId(id: string): number;
}

/** A live capture source as the agent binds it and takes its drops. */
export interface BindableSource {
  bind(chunks: ChunkRecorder, device: number): void;
  takeDrops(activeOnly?: boolean): number;
}

/** The daemon's open capture handles (daemon/CaptureSet). */
export interface OpenSources<S extends BindableSource = BindableSource> {
  source(device: string): S | null;
  sharedSources(): readonly S[];
  isOverlay(source: S): boolean;
}

/** An NFLOG group's drops since last asked (daemon/NflogSet). */
export interface NflogDrops {
  group: number;
  /** The ENI the group is tied to; absent for a group that logs for any ENI. */
  eniId?: string;
  dropped: number;
}

/**
 * Unused by wall-clock aggregators (windows the clock jumps over are SKIPDATA, see
 * FlowAggregatorOptions.onUncaptured); the pipeline's replay option.
 */
const MAX_GAP_WINDOWS = 1;

/**
 * The daemon's agent. ENI indexes are EniSlots' and stable: an ENI that comes or goes, a
 * device deleted and re-created, a reload, all change the pipeline in place (`reconfigure`), so
 * windows keep every flow whole and write one record per flow and one NODATA per idle ENI. Which
 * ENIs each window captured is kept per window (`setCapturing`): NODATA only for those.
 *
 * A new LiveAgent (the open windows written as partial windows at the change) is made only
 * for what tables and aggregators are built from: more ENIs than `eniCapacity`, a new
 * aggregation interval, another flow table capacity, overlay decapsulation switched.
 */
export class LiveAgent extends Agent {
  /** The packet entry of every device (kernel first, TypeScript for the rest). */
  private readonly chunks: ChunkRecorder;
  /** 1 per ENI index captured now (what `setCapturing` last said). */
  private readonly capturing: Uint8Array;

  constructor(
    config: AgentConfig,
    slots: EniIndexes,
    submitter: RecordSubmitter,
    startSec: number,
    readonly eniCapacity: number,
  ) {
    super({ ...config, enis: slots.configs() }, submitter, {
      maxGapWindows: MAX_GAP_WINDOWS,
      drain: 'incremental',
      wallClock: true,
      clocks: { wallMs: Date.now, monoMs: () => performance.now() },
      dropLog: log,
      kernel: true,
      eniCapacity,
      secondaryEnis: slots.secondary(),
    });
    this.capturing = new Uint8Array(eniCapacity);
    this.chunks = new ChunkRecorder(this.pipeline.recorder, this.pipeline.kernel);
    this.chunks.setSharedEnis(slots.sharedMask(eniCapacity));
    if (this.pipeline.kernelUnavailable !== undefined)
      log.warn(
        { reason: this.pipeline.kernelUnavailable },
        'WebAssembly kernel unavailable, capturing through the TypeScript path alone',
      );
    // Open the windows at the start time now: a first tick with the grace-delayed clock would
    // open the previous window, which a previous pipeline may have written already.
    this.tick(startSec);
  }

  /** Takes a changed config and ENI list in place; false when a new LiveAgent is needed. */
  reconfigure(config: AgentConfig, slots: EniIndexes, nowSec: number): boolean {
    if (slots.length > this.eniCapacity) return false;
    const hadKernel = this.pipeline.kernel !== null;
    if (!this.pipeline.reconfigure(config, slots.configs(), slots.secondary(), nowSec)) return false;
    if (hadKernel && this.pipeline.kernel === null) {
      this.chunks.dropKernel();
      log.warn(
        { reason: this.pipeline.kernelUnavailable },
        'WebAssembly kernel unavailable, capturing through the TypeScript path alone',
      );
    }
    this.chunks.setSharedEnis(slots.sharedMask(this.eniCapacity));
    return true;
  }

  /**
   * Points `source`-s at this pipeline: an ENI's own device with its index, the shared devices
   * with SHARED_DEVICE, the overlay devices with OVERLAY_DEVICE (tunnels opened first).
   */
  bindSources(captures: OpenSources, slots: EniIndexes): void {
    for (const slot of slots.resolved()) if (!slot.shared) captures.source(slot.device)?.bind(this.chunks, slot.index);
    for (const source of captures.sharedSources())
      source.bind(this.chunks, captures.isOverlay(source) ? OVERLAY_DEVICE : SHARED_DEVICE);
  }

  /** Points one capture source at this agent: `device` an ENI index, SHARED_DEVICE or OVERLAY_DEVICE. */
  bindSource(source: { bind(chunks: ChunkRecorder, device: number): void }, device: number): void {
    source.bind(this.chunks, device);
  }

  /**
   * Marks which ENIs are captured now: an own device's ENI while its device's handle is open, a
   * shared one while any shared device's is. A window in which an ENI was captured at any moment
   * gets its records (NODATA when idle); one in which it never was gets none.
   */
  updateCapturing(captures: OpenSources, slots: EniIndexes, nowSec = Math.floor(Date.now() / 1000)): void {
    const sharedOpen = captures.sharedSources().length > 0;
    const now = new Uint8Array(this.eniCapacity);
    for (const slot of slots.resolved())
      if (slot.shared ? sharedOpen : captures.source(slot.device) !== null) now[slot.index] = 1;
    for (let i = 0; i < this.eniCapacity; i++) {
      if (now[i] === this.capturing[i]) continue;
      this.capturing[i] = now[i];
      for (const agg of this.pipeline.aggregators) agg.setCapturing(i, now[i] === 1, nowSec);
    }
  }

  /**
   * Adds each device's capture drops since the last call to the current windows: an ENI's own
   * device's to that ENI; a shared device's could be any shared ENI's, so each of them is
   * marked with the count (SKIPDATA: a loss is never hidden, at the cost of over-marking).
   * `activeOnly` asks only handles that read frames since they were last asked.
   */
  collectLoss(captures: OpenSources, slots: EniIndexes, activeOnly = false): number {
    let total = 0;
    for (const slot of slots.resolved()) {
      const source = slot.shared ? null : captures.source(slot.device);
      if (source === null) continue;
      const dropped = source.takeDrops(activeOnly);
      if (dropped === 0) continue;
      total += dropped;
      this.addLoss(slot.index, dropped);
    }
    for (const source of captures.sharedSources()) {
      const dropped = source.takeDrops(activeOnly);
      if (dropped === 0) continue;
      total += dropped;
      this.addSharedLoss(slots, dropped);
    }
    return total;
  }

  /**
   * Adds NFLOG drops (`nflog.takeDrops()`) to the current windows, so they get SKIPDATA: a
   * group tied to an ENI marks that ENI; an untied group's drops could belong to any ENI, so
   * every captured ENI's window is marked with the group's count. Returns the drops taken.
   */
  collectNflogLoss(nflog: { takeDrops(): readonly NflogDrops[] }, slots: EniIndexes): number {
    let total = 0;
    for (const d of nflog.takeDrops()) {
      total += d.dropped;
      if (d.eniId === undefined) for (const slot of slots.resolved()) this.addLoss(slot.index, d.dropped);
      else {
        const eni = slots.indexOfId(d.eniId);
        if (eni >= 0) this.addLoss(eni, d.dropped); // else its ENI has no index
      }
    }
    return total;
  }

  /** Lost packets of a shared device: each ENI counted there is marked (which one lost them is unknown). */
  addSharedLoss(slots: EniIndexes, packets: number): void {
    for (const slot of slots.resolved()) if (slot.shared) this.addLoss(slot.index, packets);
  }

  /** The kernel's packets that came through this agent's devices (the chunk entry counts them). */
  protected override kernelPackets(): number {
    return this.chunks.kernelPackets;
  }

  /** The pipeline's recorder: flows aggregated elsewhere (the eBPF engine's drains) are recorded through it. */
  get recorder(): FlowRecorder {
    return this.pipeline.recorder;
  }

  /** Whether `tick(clockSec)` would close a window. */
  closesBy(clockSec: number): boolean {
    return this.pipeline.aggregators.some((a) => a.windowStartSec >= 0 && clockSec >= a.windowEndSec);
  }

  /** The latest window start every aggregator has passed (-1 before any): see EniSlots.freeRetired. */
  openWindowStartSec(): number {
    return Math.min(...this.pipeline.aggregators.map((a) => a.windowStartSec));
  }

  /**
   * Ends the pipeline at `nowSec` (stop, or a new pipeline): windows that ended before it are
   * closed whole, the current one as a partial window ending at `nowSec`.
   */
  override finish(nowSec: number): void {
    this.tick(nowSec - 1);
    for (const agg of this.pipeline.aggregators) {
      const start = agg.windowStartSec;
      if (start < 0) continue;
      // A window opened this very second: written only if it holds flows (then ending a second
      // later, as records have whole-second bounds), else a zero-length NODATA window is noise.
      if (start >= nowSec && agg.activeFlows === 0) continue;
      agg.finish(Math.max(nowSec, start + 1));
    }
  }
}
