import { OfflineCaptureSource, type CaptureFileReport } from '../capture/file/offline-source';
import type { AgentConfig, EniConfig } from '../config/types';
import { OverlayDecoder } from '../packet/decode/overlay-decoder';
import { DecodeStatus } from '../packet/decode/packet-view';
import type { FlowRecorder } from '../packet/flow-recorder';
import type { RecordSubmitter } from '../output/record-output';
import { KernelFirstRunner } from '../packet/recorder-choice';
import { buildPipeline, type FlushStats, type Pipeline, type PipelineOptions } from './pipeline';

/**
 * What an agent has counted, for the replay summary and the daemon's metrics. A view, not a
 * copy: the arrays are the agent's own, borrowed read-only until the next packet; the numbers
 * are taken when `counters()` is called. Off the packet path.
 */
export interface AgentCounters {
  /** Frames handed to the packet path. */
  readonly frames: number;
  /** Frames per DecodeStatus (index: the status). */
  readonly byStatus: ArrayLike<number>;
  /** Frames that matched no ENI. */
  readonly unattributed: number;
  /** Per ENI index: packets and L3 bytes recorded. */
  readonly eniPackets: ArrayLike<number>;
  readonly eniBytes: ArrayLike<number>;
  /** Per ENI index, summed over the intervals: packets the flow tables refused (the ENI's share full). */
  readonly tableRefused: ArrayLike<number>;
  /** Super-frames by outcome (SUPER_FRAME_OUTCOME_NAMES) and the segments beyond the first they stood for. */
  readonly superFrames: { readonly byOutcome: ArrayLike<number>; readonly extraSegments: number };
  /** Decapsulation: tunnels opened, outer fragments, unknown VNIs (zero when the agent decapsulates nothing). */
  readonly overlay: { readonly decapsulated: number; readonly outerFragments: number; readonly unknownVni: number };
  /** Records built, by kind, over every flow log. */
  readonly records: {
    readonly ok: number;
    readonly nodata: number;
    readonly skipdata: number;
    readonly filtered: number;
  };
  /** Summed over the intervals: packets older than their window, timelines restarted, packets a full table refused. */
  readonly latePackets: number;
  readonly timelineRestarts: number;
  readonly tableFullPackets: number;
  /** Window flushes; the same object for the agent's life (a key for samplers). */
  readonly flush: Readonly<FlushStats>;
  /** Flows in each interval's table now. */
  readonly flowTables: ReadonlyArray<{ readonly intervalSec: number; readonly activeFlows: number }>;
  /** Packets the WebAssembly kernel recorded. */
  readonly kernelPackets: number;
}

/**
 * THE assembly place: an agent is a packet path (decode, ENI lookup, policy, the WebAssembly
 * kernel and its TypeScript twin), one flow aggregator per aggregation interval and one record
 * builder per flow log, wired to a RecordSubmitter (agent/pipeline.ts builds the parts). Replay
 * and the daemon (LiveAgent) are assembled from the same parts and used through the same
 * operations; callers never hold the parts.
 *
 * Lifecycle: built from a validated config; `tick` and the capture close windows; `finish` closes
 * the rest; `drained` resolves when every closed window's records are submitted.
 */
export class Agent {
  protected readonly pipeline: Pipeline;

  protected constructor(config: AgentConfig, submitter: RecordSubmitter, options: PipelineOptions) {
    this.pipeline = buildPipeline(config, submitter, options);
  }

  /**
   * A replay agent: windows driven by packet times, records built synchronously, the kernel
   * taking the common frames of pcap and pcapng files unless `kernel` is false, every frame
   * decapsulated when the config has overlay VPCs.
   */
  static forReplay(
    config: AgentConfig,
    submitter: RecordSubmitter,
    o: { maxGapWindows: number; kernel?: boolean },
  ): Agent {
    return new Agent(config, submitter, {
      maxGapWindows: o.maxGapWindows,
      kernel: o.kernel ?? true,
      decapsulate: true,
    });
  }

  /** Why the WebAssembly kernel was asked for but is not there; undefined when it runs (or was not asked for). */
  get kernelUnavailable(): string | undefined {
    return this.pipeline.kernelUnavailable;
  }

  /**
   * Reads capture files in order as one stream through the packet path (the kernel first when
   * it runs); `progress` is told the packets read so far per file. Returns each file's outcome.
   */
  readFiles(paths: readonly string[], progress?: (path: string, packets: number) => void): CaptureFileReport[] {
    const kernel = this.pipeline.kernel;
    return new OfflineCaptureSource(paths, progress, kernel === null ? null : new KernelFirstRunner(kernel)).run(
      this.pipeline.recorder,
    );
  }

  /** Closes the windows that ended by `clockSec`. */
  tick(clockSec: number): void {
    this.pipeline.recorder.tick(clockSec);
  }

  /** Lost packets of ENI `eni` in the current window of every interval: SKIPDATA. */
  addLoss(eni: number, packets: number): void {
    for (const agg of this.pipeline.aggregators) agg.addLoss(eni, packets);
  }

  /** Closes every open window (at `endSec`, or at its end) and submits its records. */
  finish(endSec?: number): void {
    this.pipeline.finish(endSec);
  }

  /** Resolves when every closed window's records have been submitted (incremental drains). */
  drained(): Promise<void> {
    return this.pipeline.drained();
  }

  /** Each interval's current window start (-1 before its first window). */
  windowStarts(): Array<readonly [intervalSec: number, windowStartSec: number]> {
    return this.pipeline.aggregators.map((a) => [a.intervalSec, a.windowStartSec] as const);
  }

  /** What the agent counted (see AgentCounters). */
  counters(): AgentCounters {
    const p = this.pipeline;
    const c = p.recorder.counters;
    const aggs = p.aggregators;
    const sum = (f: (a: (typeof aggs)[number]) => number) => aggs.reduce((n, a) => n + f(a), 0);
    const records = { ok: 0, nodata: 0, skipdata: 0, filtered: 0 };
    for (const b of p.builders) {
      records.ok += b.counters.ok;
      records.nodata += b.counters.nodata;
      records.skipdata += b.counters.skipdata;
      records.filtered += b.counters.filtered;
    }
    const tableRefused = new Array<number>(p.eniCapacity).fill(0);
    for (const a of aggs) for (let i = 0; i < p.eniCapacity; i++) tableRefused[i] += a.refusedPackets[i];
    return {
      frames: c.frames,
      byStatus: c.byStatus,
      unattributed: c.unattributed,
      eniPackets: c.eniPackets,
      eniBytes: c.eniBytes,
      tableRefused,
      superFrames: p.recorder.superFrames,
      overlay: overlayOf(p.recorder),
      records,
      latePackets: sum((a) => a.latePackets),
      timelineRestarts: sum((a) => a.timelineRestarts),
      tableFullPackets: sum((a) => a.tableFullPackets),
      flush: p.flushStats,
      flowTables: aggs.map((a) => ({ intervalSec: a.intervalSec, activeFlows: a.activeFlows })),
      kernelPackets: this.kernelPackets(),
    };
  }

  /** Whether the packet path decapsulates every frame (a replay with overlay VPCs). */
  get decapsulatesAll(): boolean {
    const r = this.pipeline.recorder;
    return r.decapsulatesAll && r.overlayInventory !== null && r.decoderCounters instanceof OverlayDecoder;
  }

  /**
   * ENI index `eni` was freed: its packet, byte and table-refused counts are returned and zeroed
   * there, so the index's next ENI starts from nothing.
   */
  takeEniCounters(eni: number): { packets: number; bytes: number; tableRefused: number } {
    const c = this.pipeline.recorder.counters;
    let tableRefused = 0;
    for (const a of this.pipeline.aggregators) {
      tableRefused += a.refusedPackets[eni];
      a.refusedPackets[eni] = 0;
    }
    const taken = { packets: c.eniPackets[eni], bytes: c.eniBytes[eni], tableRefused };
    c.eniPackets[eni] = 0;
    c.eniBytes[eni] = 0;
    return taken;
  }

  /** Points an NFLOG set at this agent's packet path, for `enis` (index i: enis[i]). */
  bindNflog(
    nflog: { bind(recorder: FlowRecorder, enis: readonly EniConfig[]): void },
    enis: readonly EniConfig[],
  ): void {
    nflog.bind(this.pipeline.recorder, enis);
  }

  protected kernelPackets(): number {
    return this.pipeline.kernel === null ? 0 : this.pipeline.kernel.packets;
  }
}

/** The packet path's decapsulation counters (zero when it decapsulates nothing). */
function overlayOf(recorder: FlowRecorder): AgentCounters['overlay'] {
  const decoder = recorder.decoderCounters;
  return {
    decapsulated: decoder instanceof OverlayDecoder ? decoder.tunnelsOpened : 0,
    outerFragments: recorder.counters.byStatus[DecodeStatus.TunnelFragment],
    unknownVni: recorder.overlayInventory?.unknownVni ?? 0,
  };
}
