import type { EbpfCapture } from './ebpf-capture';
import { readFileSync } from 'node:fs';
import { DeliveredOutput } from '../output/delivered-output';
import type { EbpfDrainCounters } from '../metrics/metrics-source';
import type { AgentConfig } from '../config/types';
import { DECODE_STATUS_NAMES, MALFORMED_STATUSES } from '../packet/decode/packet-view';
import { SUPER_FRAME_OUTCOME_NAMES } from '../packet/decode/super-frame';
import type { LiveEni } from '../enrich/eni-discovery';
import { DurationHistogram, type HistogramView } from '../metrics/duration-histogram';
import type {
  BlindCondition,
  CaptureDeviceCounters,
  CaptureDeviceState,
  CaptureHandleCounters,
  ConfigReloadCounters,
  FlowTableUsage,
  HealthSource,
  MetricsSource,
  OutputLoss,
  OverlayCounters,
  RecordCount,
  SinkCounters,
  SinkDeliveryState,
  SpoolUsage,
  SuperFrameCounters,
} from '../metrics/metrics-source';
import type { FlushStats } from '../agent/pipeline';
import { outputLossesOf, sinkCountersOf, sinkDeliveryStateOf, spoolUsageOf } from '../output/delivery/delivery-metrics';
import type { CaptureSet } from './capture-set';
import type { CountedOutput } from '../output/counted-output';
import type { CrashCounters } from './crash-watch';
import type { EniSlots } from './eni-slots';
import type { LiveAgent } from '../agent/live-agent';
import type { NflogSet } from './nflog-set';

/**
 * What the daemon shows its metrics, as accessors: the daemon swaps some of these objects (reload,
 * a rebuilt pipeline), so they are read afresh at every scrape and sample, never kept.
 */
export interface DaemonView {
  config(): AgentConfig;
  /** The pipeline (null before the first refresh and after stop). */
  live(): LiveAgent | null;
  /** ENI indexes of the pipeline: which ENI each index's counters are. */
  slots(): EniSlots;
  /** Packets lost to device gaps per ENI id, since start. */
  gapPackets(): ReadonlyMap<string, number>;
  captures(): CaptureSet;
  nflog(): NflogSet;
  /** ENIs resolved to a device now, whether the device is open or not. */
  wantedEnis(): readonly LiveEni[];
  output(): CountedOutput;
  reloads(): ConfigReloadCounters;
  crash(): CrashCounters;
  /** What leaves the daemon blind beyond its devices (see BlindSpots). */
  blindConditions(): readonly BlindCondition[];
  /** The eBPF engine, when the daemon uses it. */
  ebpf?(): EbpfCapture | null;
}

/** IFF_UP in /sys/class/net/<dev>/flags. */
const IFF_UP = 0x1;

/**
 * Whether `device`'s link is administratively up. A link set down keeps its libpcap handle open
 * and readable (non-blocking reads never see the socket error), so health asks the kernel.
 * Unknown (vanished, unreadable) counts as up: discovery handles devices that go away.
 */
function linkIsUp(device: string): boolean {
  try {
    return (parseInt(readFileSync(`/sys/class/net/${device}/flags`, 'utf8'), 16) & IFF_UP) !== 0;
  } catch {
    return true;
  }
}

/** Samples between reads of the wanted devices' link states (health: "link is down"). */
const LINK_SAMPLE_TICKS = 5;

/** pcap_stat fields are u_int and wrap; deltas are taken modulo 2^32. */
const U32 = 0x1_0000_0000;

interface EniTotals {
  packets: number;
  bytes: number;
  kernelDrops: number;
  interfaceDrops: number;
  tableRefused: number;
}

/**
 * The daemon's MetricsSource and HealthSource. The pipeline's counters are per ENI index, and an
 * index is given to another ENI once its ENI's last window closed; so totals are kept per ENI id
 * here: a freed index's counters are folded in (`foldEni`), as are a pipeline's that was replaced
 * (`retire`), and a scrape adds the live pipeline's. Capture drops come from libpcap's cumulative per-handle statistics, sampled
 * every tick (`sample`) as deltas per handle, so a reopened device adds rather than restarts.
 * Window flush durations are sampled from each pipeline's FlushStats (see `sample`).
 *
 * Lifecycle: made once per daemon; the daemon calls `retire` when a pipeline ends, `foldEni` when
 * an index is freed and `sample` every tick. All methods run on the event loop, off the packet path.
 */
export class DaemonMetrics implements MetricsSource, HealthSource {
  private readonly totals = new Map<string, EniTotals>();
  private readonly malformed = new Float64Array(DECODE_STATUS_NAMES.length);
  private unattributed = 0;
  private kernelRetired = 0;
  private readonly overlayRetired: OverlayCounters = { decapsulated: 0, outerFragments: 0, unknownVni: 0 };
  /** Drops per capture device (all its handles), from the figures the last loss collection read. */
  private readonly deviceDrops = new Map<string, { kernel: number; iface: number }>();
  private readonly retired: Array<{ agent: LiveAgent; enis: ReadonlyArray<readonly [number, string]> }> = [];
  private readonly superFramesRetired = new Float64Array(SUPER_FRAME_OUTCOME_NAMES.length);
  private superFrameSegmentsRetired = 0;
  private readonly lastDrops = new WeakMap<object, { kernel: number; iface: number }>();
  private readonly flush = new DurationHistogram();
  /** Pipelines whose flushes are still sampled (the live one and retired ones still draining). */
  private readonly flushing = new Map<FlushStats, { windows: number; totalMs: number }>();
  /** Wanted devices whose link was down at the last sample (sysfs is read per tick, not per scrape). */
  private linksDown = new Set<string>();
  private samples = 0;

  constructor(private readonly view: DaemonView) {}

  /** A pipeline ended: its counters (of `enis`, index and id) are folded in at the next sample or scrape. */
  retire(gen: LiveAgent, enis: ReadonlyArray<readonly [number, string]>): void {
    this.retired.push({ agent: gen, enis });
    const c = gen.counters();
    this.kernelRetired += c.kernelPackets;
    this.overlayRetired.decapsulated += c.overlay.decapsulated;
    this.overlayRetired.outerFragments += c.overlay.outerFragments;
    this.overlayRetired.unknownVni += c.overlay.unknownVni;
    this.watchFlushes(c.flush);
    void gen.drained().then(() => {
      this.sampleFlushes();
      this.flushing.delete(c.flush);
    });
  }

  /** An ENI index was freed: its counters, cleared there, go to the ENI's totals. */
  foldEni(eniId: string, packets: number, bytes: number, tableRefused: number): void {
    const t = this.totalsOf(eniId);
    t.packets += packets;
    t.bytes += bytes;
    t.tableRefused += tableRefused;
  }

  /** Once per tick: capture drops per handle and window flush durations. */
  sample(): void {
    this.foldRetired();
    const gen = this.view.live();
    if (gen !== null) this.watchFlushes(gen.counters().flush);
    this.sampleFlushes();
    // Link states every LINK_SAMPLE_TICKS samples: a sysfs read per device (hundreds on a hypervisor).
    if (this.samples++ % LINK_SAMPLE_TICKS === 0) {
      const sharedDevices = this.view
        .captures()
        .handles()
        .filter((h) => h.shared)
        .map((h) => h.device);
      this.linksDown = new Set(
        [
          ...this.view
            .wantedEnis()
            .filter((l) => !l.shared)
            .map((l) => l.device),
          ...sharedDevices,
        ].filter((d) => !linkIsUp(d)),
      );
    }
    // Each handle's drops once: to its device, and to its ENI when the device is an ENI's own.
    const eniOfDevice = new Map(
      this.view
        .wantedEnis()
        .filter((l) => !l.shared)
        .map((l) => [l.device, l.eni.id]),
    );
    for (const h of this.view.captures().handles()) {
      const source = this.view.captures().source(h.device);
      if (source === null) continue;
      const d = this.dropsSince(source, source.stats());
      const device = this.deviceDrops.get(h.device) ?? { kernel: 0, iface: 0 };
      device.kernel += d.kernel;
      device.iface += d.iface;
      this.deviceDrops.set(h.device, device);
      const eniId = eniOfDevice.get(h.device);
      if (eniId !== undefined) this.addDrops(eniId, d);
    }
    for (const g of this.view.nflog().states()) {
      // A group's drops count for its ENI when it has one; an untied group's belong to none.
      if (g.source !== null && g.eniId !== undefined)
        this.addDrops(g.eniId, this.dropsSince(g.source, g.source.stats()));
    }
  }

  captureDevices(): readonly CaptureDeviceCounters[] {
    this.foldRetired();
    const live = new Map<string, { packets: number; bytes: number; tableRefused: number }>();
    const gen = this.view.live();
    if (gen !== null) {
      const c = gen.counters();
      for (const s of this.view.slots().inUse()) {
        const l = live.get(s.eni.id) ?? { packets: 0, bytes: 0, tableRefused: 0 };
        l.packets += c.eniPackets[s.index];
        l.bytes += c.eniBytes[s.index];
        l.tableRefused += c.tableRefused[s.index];
        live.set(s.eni.id, l);
      }
    }
    const gaps = this.view.gapPackets();
    const ids = new Set([...this.totals.keys(), ...live.keys(), ...gaps.keys()]);
    return [...ids].sort().map((eni) => {
      const t = this.totals.get(eni);
      const l = live.get(eni);
      return {
        eni,
        packets: (t?.packets ?? 0) + (l?.packets ?? 0),
        bytes: (t?.bytes ?? 0) + (l?.bytes ?? 0),
        kernelDrops: t?.kernelDrops ?? 0,
        interfaceDrops: t?.interfaceDrops ?? 0,
        gapPackets: gaps.get(eni) ?? 0,
        tableRefused: (t?.tableRefused ?? 0) + (l?.tableRefused ?? 0),
      };
    });
  }

  superFrames(): SuperFrameCounters {
    this.foldRetired();
    const live = this.view.live()?.counters().superFrames;
    const frames: Record<string, number> = {};
    let packets = this.superFrameSegmentsRetired + (live?.extraSegments ?? 0);
    SUPER_FRAME_OUTCOME_NAMES.forEach((name, i) => {
      frames[name] = this.superFramesRetired[i] + (live?.byOutcome[i] ?? 0);
      packets += frames[name];
    });
    return { frames, packets };
  }

  captureHandles(): readonly CaptureHandleCounters[] {
    return this.view
      .captures()
      .handles()
      .map((h) => {
        const d = this.deviceDrops.get(h.device);
        return { ...h, kernelDrops: d?.kernel ?? 0, interfaceDrops: d?.iface ?? 0 };
      });
  }

  ebpfDrains(): EbpfDrainCounters | null {
    const e = this.view.ebpf?.() ?? null;
    if (e === null) return null;
    return { ok: e.drains, failed: e.drainFailures, flows: e.flows, packets: e.packets, longestMs: e.longestDrainMs };
  }

  kernelPackets(): number {
    return this.kernelRetired + (this.view.live()?.counters().kernelPackets ?? 0);
  }

  overlayPackets(): OverlayCounters {
    const live = this.view.live()?.counters().overlay;
    const r = this.overlayRetired;
    return {
      decapsulated: r.decapsulated + (live?.decapsulated ?? 0),
      outerFragments: r.outerFragments + (live?.outerFragments ?? 0),
      unknownVni: r.unknownVni + (live?.unknownVni ?? 0),
    };
  }

  malformedPackets(): Readonly<Record<string, number>> {
    this.foldRetired();
    const live = this.view.live()?.counters().byStatus;
    const out: Record<string, number> = {};
    for (const s of MALFORMED_STATUSES) out[DECODE_STATUS_NAMES[s]] = this.malformed[s] + (live?.[s] ?? 0);
    return out;
  }

  unattributedPackets(): number {
    this.foldRetired();
    return this.unattributed + (this.view.live()?.counters().unattributed ?? 0);
  }

  flowTable(): { capacity: number; intervals: readonly FlowTableUsage[] } {
    return {
      capacity: this.view.config().flowTable.capacity,
      intervals: this.view.live()?.counters().flowTables ?? [],
    };
  }

  records(): readonly RecordCount[] {
    return this.view.output().recordCounts();
  }

  sinks(): readonly SinkCounters[] {
    // Flow logs may share a sink (two flow logs into one file): one series per sink name.
    const byName = new Map<string, SinkCounters>();
    for (const d of this.deliveries().values()) {
      const c = sinkCountersOf(d);
      const seen = byName.get(c.sink);
      byName.set(c.sink, seen === undefined ? c : mergeSinkCounters(seen, c));
    }
    return [...byName.values()];
  }

  spools(): readonly SpoolUsage[] {
    return [...this.deliveries()].map(([id, d]) => spoolUsageOf(id, d));
  }

  outputLosses(): readonly OutputLoss[] {
    const out = [...this.deliveries()].flatMap(([id, d]) => outputLossesOf(id, d));
    for (const [flowLog, records] of Object.entries(this.view.crash().gapRecordsByFlowLog)) {
      out.push({ flowLog, reason: 'crash', lostRecords: 0, skipdataRecords: records });
    }
    return out;
  }

  windowFlush(): HistogramView {
    this.sampleFlushes();
    return this.flush;
  }

  crashJournal(): CrashCounters {
    return this.view.crash();
  }

  configReloads(): ConfigReloadCounters {
    return { ...this.view.reloads() };
  }

  sinkDeliveries(): readonly SinkDeliveryState[] {
    const windows = new Map(this.view.config().flowLogs.map((f) => [f.id, f.aggregationIntervalSec]));
    const byName = new Map<string, SinkDeliveryState>();
    for (const [id, d] of this.deliveries()) {
      const s = sinkDeliveryStateOf(d, windows.get(id) ?? 60);
      const seen = byName.get(s.sink);
      byName.set(s.sink, seen === undefined ? s : mergeDeliveryStates(seen, s));
    }
    return [...byName.values()];
  }

  blindConditions(): readonly BlindCondition[] {
    return this.view.blindConditions();
  }

  captureDeviceStates(): readonly CaptureDeviceState[] {
    const failed = new Map(
      this.view
        .captures()
        .failedDevices()
        .map((f) => [f.device, f.error]),
    );
    const shared = this.view
      .captures()
      .handles()
      .filter((h) => h.shared)
      .map((h) => h.device);
    const sharedUp = shared.filter((d) => !this.linksDown.has(d) && this.view.captures().source(d) !== null);
    const states: CaptureDeviceState[] = this.view.wantedEnis().map((l) => {
      if (l.shared) {
        // Counted on the shared devices: up while any is; health names the devices that are not.
        const device = shared.join(',');
        return sharedUp.length > 0
          ? { eni: l.eni.id, device, up: true }
          : { eni: l.eni.id, device, up: false, reason: 'no shared capture device open' };
      }
      if (this.linksDown.has(l.device)) return { eni: l.eni.id, device: l.device, up: false, reason: 'link is down' };
      const up = this.view.captures().source(l.device) !== null;
      return up
        ? { eni: l.eni.id, device: l.device, up }
        : { eni: l.eni.id, device: l.device, up, reason: failed.get(l.device) || 'not open' };
    });
    for (const d of shared) {
      if (sharedUp.includes(d)) continue;
      states.push({
        eni: '-',
        device: d,
        up: false,
        reason: this.linksDown.has(d) ? 'link is down' : failed.get(d) || 'not open',
      });
    }
    for (const g of this.view.nflog().states()) {
      const state: CaptureDeviceState = { eni: g.eniId ?? '-', device: g.device, up: g.up };
      if (!g.up) state.reason = g.reason ?? 'not open';
      states.push(state);
    }
    return states;
  }

  private deliveries(): ReadonlyMap<string, import('../output/delivery/delivery').Delivery> {
    const inner = this.view.output().inner;
    return inner instanceof DeliveredOutput ? inner.deliveries : new Map();
  }

  private foldRetired(): void {
    for (const { agent, enis } of this.retired.splice(0)) {
      const counters = agent.counters();
      for (const [i, id] of enis) {
        const t = this.totalsOf(id);
        t.packets += counters.eniPackets[i];
        t.bytes += counters.eniBytes[i];
        t.tableRefused += counters.tableRefused[i];
      }
      const superFrames = counters.superFrames;
      for (let i = 0; i < superFrames.byOutcome.length; i++) this.superFramesRetired[i] += superFrames.byOutcome[i];
      this.superFrameSegmentsRetired += superFrames.extraSegments;
      for (const s of MALFORMED_STATUSES) this.malformed[s] += counters.byStatus[s];
      this.unattributed += counters.unattributed;
    }
  }

  /** Drops of `handle` since its previous sample (libpcap's counters are cumulative u32s and wrap). */
  private dropsSince(
    handle: object,
    s: { droppedKernel: number; droppedInterface: number },
  ): { kernel: number; iface: number } {
    const last = this.lastDrops.get(handle) ?? { kernel: 0, iface: 0 };
    this.lastDrops.set(handle, { kernel: s.droppedKernel, iface: s.droppedInterface });
    return {
      kernel: (s.droppedKernel - last.kernel + U32) % U32,
      iface: (s.droppedInterface - last.iface + U32) % U32,
    };
  }

  private addDrops(eniId: string, d: { kernel: number; iface: number }): void {
    const t = this.totalsOf(eniId);
    t.kernelDrops += d.kernel;
    t.interfaceDrops += d.iface;
  }

  private watchFlushes(stats: FlushStats): void {
    if (!this.flushing.has(stats)) this.flushing.set(stats, { windows: 0, totalMs: 0 });
  }

  /**
   * FlushStats keeps a count, a total and the last duration, not a distribution. A window seen
   * alone since the last sample is observed exactly; several (intervals closing together) are
   * observed at their mean, so count and sum stay exact and only their bucket may blur.
   */
  private sampleFlushes(): void {
    for (const [stats, last] of this.flushing) {
      const windows = stats.windows - last.windows;
      if (windows <= 0) continue;
      const totalMs = stats.totalFlushMs - last.totalMs;
      if (windows === 1) this.flush.observe(stats.lastFlushMs / 1000);
      else for (let i = 0; i < windows; i++) this.flush.observe(totalMs / windows / 1000);
      last.windows = stats.windows;
      last.totalMs = stats.totalFlushMs;
    }
  }

  private totalsOf(eniId: string): EniTotals {
    let t = this.totals.get(eniId);
    if (t === undefined) {
      t = { packets: 0, bytes: 0, kernelDrops: 0, interfaceDrops: 0, tableRefused: 0 };
      this.totals.set(eniId, t);
    }
    return t;
  }
}

function mergeSinkCounters(a: SinkCounters, b: SinkCounters): SinkCounters {
  const merged: SinkCounters = {
    sink: a.sink,
    batchesSent: a.batchesSent + b.batchesSent,
    batchesFailed: a.batchesFailed + b.batchesFailed,
    batchesRetried: a.batchesRetried + b.batchesRetried,
    latency: mergeHistograms(a.latency, b.latency),
  };
  const last = Math.max(a.lastSuccessUnixMs ?? 0, b.lastSuccessUnixMs ?? 0);
  if (last > 0) merged.lastSuccessUnixMs = last;
  return merged;
}

/** Histograms with equal bounds add bucket by bucket; otherwise the first is kept (never happens: one bound set). */
function mergeHistograms(a: HistogramView, b: HistogramView): HistogramView {
  if (a.upperBoundsSec.length !== b.upperBoundsSec.length || a.upperBoundsSec.some((x, i) => x !== b.upperBoundsSec[i]))
    return a;
  const counts = Float64Array.from(a.bucketCounts, (n, i) => n + b.bucketCounts[i]);
  return {
    upperBoundsSec: a.upperBoundsSec,
    bucketCounts: counts,
    sumSec: a.sumSec + b.sumSec,
    count: a.count + b.count,
  };
}

/** One sink serving several flow logs: healthy by its latest success, waiting since the oldest batch, judged by the shortest limit, with either spool's problems. */
function mergeDeliveryStates(a: SinkDeliveryState, b: SinkDeliveryState): SinkDeliveryState {
  const merged: SinkDeliveryState = { sink: a.sink, windowSec: Math.min(a.windowSec, b.windowSec) };
  const last = Math.max(a.lastSuccessUnixMs ?? 0, b.lastSuccessUnixMs ?? 0);
  if (last > 0) merged.lastSuccessUnixMs = last;
  const oldest = Math.min(a.oldestPendingUnixMs ?? Infinity, b.oldestPendingUnixMs ?? Infinity);
  if (oldest !== Infinity) merged.oldestPendingUnixMs = oldest;
  const after = Math.min(a.unhealthyAfterSec ?? Infinity, b.unhealthyAfterSec ?? Infinity);
  if (after !== Infinity) merged.unhealthyAfterSec = after;
  // Each flow log has its own spool: a problem of either is the sink's.
  const writeError = a.spoolWriteError ?? b.spoolWriteError;
  if (writeError !== undefined) {
    merged.spoolWriteError = writeError;
    merged.spoolMemorySegments = (a.spoolMemorySegments ?? 0) + (b.spoolMemorySegments ?? 0);
    merged.spoolDroppedRecords = (a.spoolDroppedRecords ?? 0) + (b.spoolDroppedRecords ?? 0);
  }
  const evicting = Math.min(a.spoolEvictingSinceUnixMs ?? Infinity, b.spoolEvictingSinceUnixMs ?? Infinity);
  if (evicting !== Infinity) {
    merged.spoolEvictingSinceUnixMs = evicting;
    merged.spoolEvictedRecords = (a.spoolEvictedRecords ?? 0) + (b.spoolEvictedRecords ?? 0);
  }
  return merged;
}
