/**
 * The parts of an agent, assembled from a validated config: used by Agent and LiveAgent (this
 * folder) only; everything else goes through their operations (agent.ts).
 *
 *   capture source ──frame──► FlowRecorder ──────────────────────────────────────────┐
 *   (offline file,            │ Decoder.decode(frame, view)    src/decode           │ packet path:
 *    live device,             │ EniInventory source/dest ENI   src/enrich           │ no allocation,
 *    nflog group)             │ PolicyEvaluator (ACCEPT/REJECT) src/enrich/policy   │ counters only
 *                             │ FlowAggregator.record          src/flow, per interval
 *                             ▼                                                     ┘
 *                    window closes (packet time in replay, wall clock + grace in the daemon)
 *                             │ ClosedWindow: FlowTable + per-ENI packet/loss counts
 *                             ▼
 *                    RecordBuilder.buildSlices / buildIncrementally (4096 flows a slice)
 *                             │ RecordBatches per flow log: OK, then NODATA / SKIPDATA
 *                             ▼
 *                    RecordSubmitter.submit ──► delivery (batching, retry, spool) ──► Sink
 *                    (replay --output: OK records as table entries, submitFlows ──► JSON Lines file)
 *
 * Replay of pcap and pcapng files (options.kernel): PacketKernel (src/packet/wasm, WebAssembly) takes
 * the common frames of each read chunk through the same three stages into the same flow tables,
 * which then live in its memory; FlowRecorder gets only the records it stops at.
 */
import { performance } from 'node:perf_hooks';
import type { AgentConfig, EniConfig, FlowLogConfig } from '../config/types';
import { actionPolicyFor } from '../enrich/action-policy';
import { EniInventory } from '../enrich/eni-inventory';
import { OverlayInventory } from '../enrich/overlay-inventory';
import { FlowAggregator, type ClosedWindow } from '../flow/flow-aggregator';
import { FlowRecorder, type RecorderOverlay } from '../packet/flow-recorder';
import { gapPieces } from '../flow/gap-pieces';
import { MAX_ENIS } from '../flow/flow-table';
import type { FlowSlice, RecordBatch } from '../flow/record';
import { RecordBuilder, coveredEnis } from '../flow/record-builder';
import { WindowDropSummary } from '../flow/window-drop-summary';
import { KernelMemory, PacketKernel } from '../packet/wasm/packet-kernel';
import type { Logger } from '../log';
import type { RecordSubmitter } from '../output/record-output';

export interface PipelineOptions {
  /** See FlowAggregatorOptions.maxGapWindows. */
  maxGapWindows: number;
  /**
   * 'sync' builds a closed window's records before the next packet (replay: nothing else waits);
   * 'incremental' builds them in slices between event-loop turns while capture records into a
   * second table (the daemon: a flush never stalls capture).
   */
  drain?: 'sync' | 'incremental';
  /** Flows per slice in incremental drains. */
  drainSliceFlows?: number;
  /** The daemon: windows close on the (grace-delayed) wall clock only; see FlowAggregatorOptions.wallClock. */
  wallClock?: boolean;
  /**
   * The daemon: the wall and monotonic clocks, so a stall of the agent (windows closed late) is
   * told from a step of the wall clock; see FlowAggregatorOptions.clocks. Stalls are logged on dropLog.
   */
  clocks?: { wallMs(): number; monoMs(): number };
  /** Log once per window (of the shortest interval) what was dropped; replay prints a summary at the end instead. */
  dropLog?: Logger;
  /**
   * Replay: hand the common frames of pcap and pcapng files to the WebAssembly kernel
   * (src/packet/wasm), with the flow tables in its memory. Off by default (the daemon, and tests of
   * the TypeScript path).
   */
  kernel?: boolean;
  /**
   * Replay of an overlay device's capture: every frame is decapsulated (when the config has
   * overlay VPCs). Live capture decapsulates per device instead (FlowRecorder.onOverlayFrame).
   */
  decapsulate?: boolean;
  /**
   * A live pipeline whose ENIs change in place (`Pipeline.reconfigure`): its arrays hold this
   * many ENI indexes, and windows start with no ENI captured (see FlowAggregator.setCapturing).
   * Replay leaves it unset: the ENIs are config.enis, captured all along.
   */
  eniCapacity?: number;
  /** ENIs of config.enis whose MACs and addresses lose to the others' (EniInventory). */
  secondaryEnis?: Uint8Array;
}

/** Window flushes, for metrics. */
export interface FlushStats {
  windows: number;
  /** Flows of every closed window (a flow active across windows counts once per window). */
  flows: number;
  lastFlushMs: number;
  totalFlushMs: number;
}

export interface Pipeline {
  /** The current inventory (a live pipeline's changes with its ENIs). */
  readonly inventory: EniInventory;
  /** ENI indexes the pipeline holds: config.enis.length, or options.eniCapacity. */
  readonly eniCapacity: number;
  readonly recorder: FlowRecorder;
  readonly aggregators: readonly FlowAggregator[];
  readonly builders: readonly RecordBuilder[];
  readonly flushStats: FlushStats;
  /** The packet kernel when asked for and available, else null. */
  readonly kernel: PacketKernel | null;
  /** Why the kernel was asked for but is not there (agent-side rules turn it off without a reason). */
  readonly kernelUnavailable?: string;
  /** Closes every open window (at `endSec`, or at its end) and submits its batches. */
  finish(endSec?: number): void;
  /** Resolves when every closed window's batches have been submitted (incremental drains). */
  drained(): Promise<void>;
  /**
   * A live pipeline takes a changed config and ENI list at `nowSec`, in place: ENI indexes keep
   * their meaning (`enis[i]` is ENI i; an entry may match nothing), windows and their flows stay.
   * A flow log that is gone (or moved to another interval) writes its open window as a partial
   * window ending now; the others' settings (coverage, traffic type, ENI attributes) hold for the
   * whole of the open window, whose records are built when it closes. Returns false, changing
   * nothing, when the change needs a new pipeline: more ENIs than eniCapacity, an interval
   * without an aggregator, another flow table capacity, overlay decapsulation turned on or off
   * or its ports changed.
   */
  reconfigure(config: AgentConfig, enis: readonly EniConfig[], secondary: Uint8Array, nowSec: number): boolean;
}

export function buildPipeline(config: AgentConfig, submitter: RecordSubmitter, options: PipelineOptions): Pipeline {
  const eniCapacity = options.eniCapacity ?? config.enis.length;
  if (eniCapacity > MAX_ENIS || config.enis.length > eniCapacity)
    throw new RangeError(`at most ${MAX_ENIS} ENIs per agent, got ${Math.max(eniCapacity, config.enis.length)}`);
  const live = options.eniCapacity !== undefined;
  let inventory = new EniInventory(config.enis, options.secondaryEnis);
  const byInterval = new Map<number, FlowLogConfig[]>();
  for (const fl of config.flowLogs) {
    const list = byInterval.get(fl.aggregationIntervalSec) ?? [];
    list.push(fl);
    byInterval.set(fl.aggregationIntervalSec, list);
  }
  const aggregators: FlowAggregator[] = [];
  const builders: RecordBuilder[] = [];
  const coverage: Uint8Array[] = [];
  const flushStats: FlushStats = { windows: 0, flows: 0, lastFlushMs: 0, totalFlushMs: 0 };
  const incremental = options.drain === 'incremental';
  // 4096 flows make at most 4096 records per flow log: one Log Service request's worth.
  const sliceFlows = options.drainSliceFlows ?? 4096;
  // Windows of one interval drain one after another so their batches reach the sink in order.
  let drainChain: Promise<void> = Promise.resolve();
  const emit = (batch: RecordBatch) => submitter.submit(batch);
  const emitFlows =
    submitter.submitFlows === undefined ? undefined : (slice: FlowSlice) => submitter.submitFlows?.(slice);
  const flushed = (startedMs: number) => {
    const ms = performance.now() - startedMs;
    flushStats.windows++;
    flushStats.lastFlushMs = ms;
    flushStats.totalFlushMs += ms;
  };
  let dropSummary: WindowDropSummary | null = null;
  const shortest = Math.min(...byInterval.keys());
  let kernelMemory: KernelMemory | null = null;
  let kernelUnavailable: string | undefined;
  if (options.kernel === true) {
    try {
      kernelMemory = live
        ? KernelMemory.forLive(inventory, byInterval.size, config.flowTable.capacity, eniCapacity)
        : KernelMemory.forReplay(inventory, byInterval.size, config.flowTable.capacity);
      if (kernelMemory === null)
        kernelUnavailable = `flow tables of ${config.flowTable.capacity} flows exceed its memory`;
    } catch (err) {
      kernelUnavailable = `allocate its memory: ${(err as Error).message}`;
    }
  }
  for (const [intervalSec, flowLogs] of byInterval) {
    const index = aggregators.length;
    const cov = coverageOf(flowLogs, config.enis);
    const aggregator: FlowAggregator = new FlowAggregator({
      intervalSec,
      tableCapacity: config.flowTable.capacity,
      eniCount: eniCapacity,
      maxGapWindows: options.maxGapWindows,
      wallClock: options.wallClock ?? false,
      capturedFromStart: !live,
      coveredEnis: countOf(cov),
      ...(options.clocks === undefined ? {} : { clocks: options.clocks }),
      onStalled: (startSec, endSec) => {
        options.dropLog?.warn(
          { windowStartSec: startSec, windowEndSec: endSec, intervalSec },
          `windows of ${intervalSec} s from ${new Date(startSec * 1000).toISOString()} to ${new Date(endSec * 1000).toISOString()} closed late: the agent did not run in time; written from what the capture rings held`,
        );
      },
      onUncaptured: (startSec, endSec) => {
        const builder = builders[index];
        for (const piece of gapPieces(intervalSec, startSec, endSec))
          for (const b of builder.uncapturedBatches(piece.startSec, piece.endSec)) submitter.submit(b);
      },
      ...(kernelMemory === null ? {} : { arena: kernelMemory }),
      onWindowClosed: (w: ClosedWindow) => {
        // The builder of the moment the window closes: a later change of the ENIs or flow logs
        // builds later windows, never this one's records.
        const builder = builders[index];
        const startedMs = performance.now();
        flushStats.flows += w.table.size;
        if (intervalSec === shortest) dropSummary?.onWindowClosed(w);
        if (!incremental) {
          builder.buildSlices(w, sliceFlows, emit, emitFlows);
          flushed(startedMs);
          aggregator.release(w.table);
          return;
        }
        drainChain = drainChain
          .then(() => builder.buildIncrementally(w, sliceFlows, emit))
          .then(() => flushed(startedMs))
          .finally(() => aggregator.release(w.table));
      },
    });
    aggregators.push(aggregator);
    builders.push(new RecordBuilder(config, config.enis, flowLogs));
    coverage.push(cov);
  }
  const overlay = config.overlay;
  const recorderOverlay: RecorderOverlay | null =
    overlay === undefined || overlay.vpcs.length === 0
      ? null
      : {
          inventory: new OverlayInventory(config.enis, overlay.vpcs),
          ports: { vxlan: overlay.vxlanPorts, geneve: overlay.genevePorts },
          decapsulateAll: options.decapsulate === true,
        };
  const recorder = new FlowRecorder(
    inventory,
    aggregators,
    coverage,
    config.flowTable.fragmentCacheSize,
    recorderOverlay,
    eniCapacity,
  );
  recorder.setFileMtu(config.capture.mtuBytes);
  // Security groups / network ACLs evaluated per connection direction (REJECT without NFLOG).
  recorder.setActionPolicy(actionPolicyFor(config));
  let policyKey = policyKeyOf(config, config.enis);
  let kernel: PacketKernel | null = null;
  // The kernel counts tunnels under their outer header: a replay that decapsulates does without
  // it. A live pipeline keeps it with rules too (it steps aside while they are configured, see
  // PacketKernel.call), since a change may remove them.
  if (kernelMemory !== null && (live || !recorder.hasActionPolicy) && !recorder.decapsulatesAll) {
    try {
      kernel = new PacketKernel(kernelMemory, inventory, recorder, aggregators);
    } catch (err) {
      kernelUnavailable = `instantiate it: ${(err as Error).message}`;
    }
  }
  if (options.dropLog)
    dropSummary = new WindowDropSummary(
      recorder.counters,
      config.enis.map((e) => e.id),
      options.dropLog,
    );
  let current: { config: AgentConfig; enis: readonly EniConfig[] } = { config, enis: config.enis };
  const reconfigure = (
    next: AgentConfig,
    enis: readonly EniConfig[],
    secondary: Uint8Array,
    nowSec: number,
  ): boolean => {
    const intervals = new Set(next.flowLogs.map((fl) => fl.aggregationIntervalSec));
    const nextOverlay = next.overlay !== undefined && next.overlay.vpcs.length > 0 ? next.overlay : undefined;
    const samePorts =
      JSON.stringify([overlay?.vxlanPorts, overlay?.genevePorts]) ===
      JSON.stringify([nextOverlay?.vxlanPorts, nextOverlay?.genevePorts]);
    if (
      !live ||
      enis.length > eniCapacity ||
      [...intervals].some((i) => !byInterval.has(i)) ||
      next.flowTable.capacity !== current.config.flowTable.capacity ||
      (recorderOverlay === null) !== (nextOverlay === undefined) ||
      (nextOverlay !== undefined && !samePorts)
    ) {
      return false;
    }
    writeRemovedFlowLogs(current, next, aggregators, nowSec, sliceFlows, emit);
    const nextInventory = new EniInventory(enis, secondary);
    const nextCoverage = aggregators.map((a) =>
      coverageOf(
        next.flowLogs.filter((fl) => fl.aggregationIntervalSec === a.intervalSec),
        enis,
      ),
    );
    recorder.setCoverage(nextCoverage);
    // Each ENI's guaranteed share of the tables follows the ENIs its interval now covers.
    aggregators.forEach((a, i) => a.setCoveredEnis(countOf(nextCoverage[i])));
    recorder.setInventory(nextInventory);
    // The kernel copies the recorder's coverage and the inventory's lists.
    if (kernel !== null && !kernel.reconfigure(nextInventory)) {
      kernel = null;
      kernelUnavailable = 'lookup lists outgrew its memory';
    }
    inventory = nextInventory;
    if (nextOverlay !== undefined) recorder.setOverlayInventory(new OverlayInventory(enis, nextOverlay.vpcs));
    const key = policyKeyOf(next, enis);
    // A new evaluator forgets the connections it tracks: only when the rules or ENIs' groups changed.
    if (key !== policyKey) recorder.setActionPolicy(actionPolicyFor(next, enis));
    policyKey = key;
    aggregators.forEach(
      (a, i) =>
        (builders[i] = new RecordBuilder(
          next,
          enis,
          next.flowLogs.filter((fl) => fl.aggregationIntervalSec === a.intervalSec),
        )),
    );
    dropSummary?.setEniIds(enis.map((e) => e.id));
    current = { config: next, enis };
    return true;
  };
  return {
    get inventory() {
      return inventory;
    },
    eniCapacity,
    recorder,
    aggregators,
    builders,
    flushStats,
    get kernel() {
      return kernel;
    },
    get kernelUnavailable() {
      return kernelUnavailable;
    },
    finish(endSec?: number) {
      for (const a of aggregators) a.finish(endSec);
    },
    drained: () => drainChain,
    reconfigure,
  };
}

/** Which ENIs an aggregator records: those any of its flow logs covers. */
function coverageOf(flowLogs: readonly FlowLogConfig[], enis: readonly EniConfig[]): Uint8Array {
  const cov = new Uint8Array(enis.length);
  for (const fl of flowLogs) coveredEnis(fl, enis).forEach((c, i) => (cov[i] |= c));
  return cov;
}

function countOf(coverage: Uint8Array): number {
  let n = 0;
  for (const c of coverage) n += c;
  return n;
}

/** What the agent-side rules are made of: a new evaluator only when it changes. */
function policyKeyOf(config: AgentConfig, enis: readonly EniConfig[]): string {
  return JSON.stringify([config.networkAcls ?? [], enis.map((e) => [e.securityGroups ?? null, e.vswitchId])]);
}

/**
 * Flow logs of `previous` that `next` no longer has in the same interval: their open windows are
 * written now, as partial windows ending at `nowSec`, with the settings they had (the tables go
 * on recording for the flow logs that stay).
 */
function writeRemovedFlowLogs(
  previous: { config: AgentConfig; enis: readonly EniConfig[] },
  next: AgentConfig,
  aggregators: readonly FlowAggregator[],
  nowSec: number,
  sliceFlows: number,
  emit: (batch: RecordBatch) => void,
): void {
  const kept = new Set(next.flowLogs.map((fl) => `${fl.id}@${fl.aggregationIntervalSec}`));
  for (const fl of previous.config.flowLogs) {
    if (kept.has(`${fl.id}@${fl.aggregationIntervalSec}`)) continue;
    const agg = aggregators.find((a) => a.intervalSec === fl.aggregationIntervalSec);
    if (agg === undefined) continue;
    const builder = new RecordBuilder(previous.config, previous.enis, [fl]);
    for (const w of agg.openWindows(nowSec)) builder.buildSlices(w, sliceFlows, emit);
  }
}
