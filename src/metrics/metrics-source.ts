/**
 * What the metrics endpoint reads. The pipeline keeps plain numbers (the packet path only bumps
 * them); these callbacks are called at scrape time, off the packet path, and may allocate.
 *
 * Contract for implementers (the lead's wiring, and test doubles):
 * - every callback is synchronous, cheap (no I/O) and never throws; it is called once per
 *   scrape of /metrics or /healthz, from the event loop, never concurrently with itself;
 * - counters are totals since the process started and never decrease; gauges are current values;
 * - returned arrays/objects are read during the call only and not kept, so an implementation
 *   may reuse them between scrapes.
 */
import type { LogStatus } from '../flow/record';
import type { HistogramView } from './duration-histogram';

/** Per ENI capture counters (libpcap statistics and what the capture loop saw). */
export interface CaptureDeviceCounters {
  eni: string;
  packets: number;
  bytes: number;
  /** Dropped by the kernel (pcap_stats ps_drop): the buffer was full. */
  kernelDrops: number;
  /** Dropped by the interface or driver (pcap_stats ps_ifdrop). */
  interfaceDrops: number;
  /**
   * Carried by the ENI's device while it existed but was not captured (re-created, reopening,
   * not open yet), from the device's own counters: SKIPDATA. The daemon only.
   */
  gapPackets?: number;
  /**
   * Packets of new flows the flow table refused the ENI (its guaranteed share used and the
   * shared pool full; in its SKIPDATA), once per aggregation interval that refused them.
   */
  tableRefused?: number;
}

/** GSO/GRO super-frames by how their segments were found (SuperFrameOutcome names), and the packets they stood for. */
export interface SuperFrameCounters {
  frames: Readonly<Record<string, number>>;
  packets: number;
}

/** Counters of one capture device (an ENI's own, or shared by many). */
export interface CaptureHandleCounters {
  device: string;
  shared: boolean;
  /** Ring bytes of its open handle (0 while not open, and for the eBPF engine). */
  ringBytes: number;
  /** What captures it while open: 'libpcap', or 'ebpf' with its hook ('tcx', 'clsact'); '' while not open. */
  engine: '' | 'libpcap' | 'ebpf';
  hook: string;
  /** Frames read from it. */
  packets: number;
  kernelDrops: number;
  interfaceDrops: number;
}

/** Flows held in the flow table of one aggregation interval, in the current window. */
export interface FlowTableUsage {
  intervalSec: number;
  activeFlows: number;
}

/** Records produced for one flow log with one log-status. */
export interface RecordCount {
  flowLog: string;
  logStatus: LogStatus;
  records: number;
}

/** Delivery counters of one sink (its `Sink.name`). */
export interface SinkCounters {
  sink: string;
  /** Batches the sink accepted. */
  batchesSent: number;
  /** Batches given up on (permanent failure, or evicted from a full spool). */
  batchesFailed: number;
  /** Retries after a retryable failure. */
  batchesRetried: number;
  /** Seconds from hand-over to the sink to its answer, per attempt. */
  latency: HistogramView;
  /** Wall-clock time of the last accepted batch, Unix ms; absent before the first. */
  lastSuccessUnixMs?: number;
}

/** Disk spool of one flow log. */
export interface SpoolUsage {
  flowLog: string;
  segments: number;
  bytes: number;
  /** Segments held in memory because the disk refused them. */
  memorySegments: number;
  /** Records dropped by the spool (its disk bound, or its memory bound while the disk refuses writes). */
  droppedRecords: number;
}

/**
 * Records of one flow log lost after capture, for one reason, and the SKIPDATA records written
 * so the loss shows in the Logstore. Reasons: `spool_full`, `spool_memory_full`,
 * `segment_corrupt` (the spool, see sink/spool-loss.ts), `not_spooled` (submitted after the
 * delivery closed, or refused by its spool: counted, no SKIPDATA possible), `crash` (an unclean
 * stop: SKIPDATA only, how many records died with the process is unknown).
 */
export interface OutputLoss {
  flowLog: string;
  reason: string;
  /** Records known lost (0 when unknown, as for `crash`). */
  lostRecords: number;
  /** SKIPDATA records written for the loss. */
  skipdataRecords: number;
}

export interface ConfigReloadCounters {
  ok: number;
  failed: number;
}

export interface OverlayCounters {
  decapsulated: number;
  outerFragments: number;
  unknownVni: number;
}

/** What the eBPF engine's drains did, since start. */
export interface EbpfDrainCounters {
  ok: number;
  failed: number;
  /** Flows and packets handed to the pipeline. */
  flows: number;
  packets: number;
  /** The longest drain, ms. */
  longestMs: number;
}

/** Scrape-time view of the pipeline's counters; see the contract above. */
export interface MetricsSource {
  captureDevices(): readonly CaptureDeviceCounters[];
  /** Per capture device: ring, frames read, drops. */
  captureHandles(): readonly CaptureHandleCounters[];
  /** Packets the WebAssembly kernel recorded (the rest went through the TypeScript path). */
  kernelPackets(): number;
  /** The eBPF engine's drains (absent, or null: the engine is not used). */
  ebpfDrains?(): EbpfDrainCounters | null;
  /** Overlay devices: packets taken out of tunnels, later outer fragments skipped, unknown VNIs. */
  overlayPackets(): OverlayCounters;
  /** Malformed packets by reason (decode status name, e.g. "truncated"). */
  malformedPackets(): Readonly<Record<string, number>>;
  /** Super-frames counted as their segments (absent: none counted, e.g. test doubles). */
  superFrames?(): SuperFrameCounters;
  /** Packets that matched no configured ENI. */
  unattributedPackets(): number;
  /** `capacity`: flows per window per interval before SKIPDATA (config flowTable.capacity). */
  flowTable(): { capacity: number; intervals: readonly FlowTableUsage[] };
  records(): readonly RecordCount[];
  sinks(): readonly SinkCounters[];
  spools(): readonly SpoolUsage[];
  /** Loss after capture by flow log and reason (flowlog_output_lost_records_total and its SKIPDATA). */
  outputLosses?(): readonly OutputLoss[];
  /** Seconds spent draining a closed window into records and handing them over. */
  windowFlush(): HistogramView;
  configReloads(): ConfigReloadCounters;
  /** The daemon only: restarts after an unclean stop, the SKIPDATA records written for them, journal write failures. */
  crashJournal?(): {
    uncleanRestarts: number;
    gapRecords: number;
    journalWriteFailures: number;
    clockStepsForward: number;
    clockStepsBack: number;
  };
}

/** Delivery state of one sink, for /healthz. */
export interface SinkDeliveryState {
  sink: string;
  /** Aggregation window of the flow log(s) it serves, seconds (the shortest if several). */
  windowSec: number;
  /** Last accepted batch, Unix ms; absent before the first. */
  lastSuccessUnixMs?: number;
  /** Hand-over time of the oldest batch not yet accepted (queued, retrying or spooled), Unix ms; absent when nothing waits. */
  oldestPendingUnixMs?: number;
  /** Why the spool cannot write (ENOSPC, EROFS, ...), while it cannot; batches are then held in memory. */
  spoolWriteError?: string;
  /** Segments held in memory meanwhile, and records dropped over the memory bound. */
  spoolMemorySegments?: number;
  spoolDroppedRecords?: number;
  /** Since when the spool has been evicting over delivery.spoolMaxBytes (this episode), Unix ms; absent while it is not. */
  spoolEvictingSinceUnixMs?: number;
  /** Records the spool evicted over its bound, in total. */
  spoolEvictedRecords?: number;
  /** delivery.unhealthyAfterSec: how long records may wait undelivered before health fails (default 60). */
  unhealthyAfterSec?: number;
}

/**
 * A state in which the agent captures less than it should, as the daemon sees it, with since when
 * it holds: health reports it once it has lasted BLIND_GRACE_MS (see health-report.ts for codes).
 */
export interface BlindCondition {
  code: 'eni_device_missing' | 'discovery_failed' | 'discovery_no_eni' | 'flow_log_no_eni';
  /** The ENI id, flow log id, or discovery type it is about. */
  subject: string;
  message: string;
  sinceUnixMs: number;
}

/** One live capture device, for /healthz. */
export interface CaptureDeviceState {
  eni: string;
  device: string;
  up: boolean;
  /** Why it is down (pcap error text, "interface vanished"), when `up` is false. */
  reason?: string;
}

/** Scrape-time view of what /healthz judges; same contract as MetricsSource. */
export interface HealthSource {
  sinkDeliveries(): readonly SinkDeliveryState[];
  /** Live capture devices only; empty in replay. */
  captureDeviceStates(): readonly CaptureDeviceState[];
  /** The daemon only: ENIs without their device, discovery failing, flow logs without ENI. */
  blindConditions?(): readonly BlindCondition[];
}
