/**
 * The Prometheus metrics of the agent, as a prom-client Registry whose every metric is filled
 * from a MetricsSource at scrape time (prom-client `collect`). Nothing here is touched by the
 * packet path; a scrape costs one pass over the source's arrays.
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { HistogramView } from './duration-histogram';
import type { MetricsSource } from './metrics-source';

/** Metric names, one place for the README and tests. */
export const METRIC_NAMES = {
  capturePackets: 'flowlog_capture_packets_total',
  captureBytes: 'flowlog_capture_bytes_total',
  captureKernelDrops: 'flowlog_capture_kernel_drops_total',
  captureInterfaceDrops: 'flowlog_capture_interface_drops_total',
  captureGapPackets: 'flowlog_capture_gap_packets_total',
  captureRingBytes: 'flowlog_capture_ring_bytes',
  captureDeviceEngine: 'flowlog_capture_device_engine',
  captureDevicePackets: 'flowlog_capture_device_packets_total',
  captureDeviceDrops: 'flowlog_capture_device_drops_total',
  captureKernelPackets: 'flowlog_capture_kernel_packets_total',
  captureEbpfDrains: 'flowlog_capture_ebpf_drains_total',
  captureEbpfPackets: 'flowlog_capture_ebpf_packets_total',
  captureEbpfLongestDrain: 'flowlog_capture_ebpf_longest_drain_seconds',
  decodeTunnelPackets: 'flowlog_decode_tunnel_packets_total',
  decodeMalformed: 'flowlog_decode_malformed_total',
  decodeSuperFrames: 'flowlog_decode_super_frames_total',
  decodeSuperFramePackets: 'flowlog_decode_super_frame_packets_total',
  flowTableRefused: 'flowlog_flow_table_refused_packets_total',
  enrichUnattributed: 'flowlog_enrich_unattributed_packets_total',
  flowActiveFlows: 'flowlog_flow_active_flows',
  flowTableCapacity: 'flowlog_flow_table_capacity',
  records: 'flowlog_records_total',
  sinkBatches: 'flowlog_sink_batches_total',
  sinkLatency: 'flowlog_sink_latency_seconds',
  sinkLastSuccess: 'flowlog_sink_last_success_timestamp_seconds',
  spoolSegments: 'flowlog_spool_segments',
  spoolBytes: 'flowlog_spool_bytes',
  spoolMemorySegments: 'flowlog_spool_memory_segments',
  spoolDroppedRecords: 'flowlog_spool_dropped_records_total',
  outputLostRecords: 'flowlog_output_lost_records_total',
  outputLossSkipdata: 'flowlog_output_loss_skipdata_records_total',
  windowFlush: 'flowlog_window_flush_seconds',
  configReloads: 'flowlog_config_reloads_total',
  daemonUncleanRestarts: 'flowlog_daemon_unclean_restarts_total',
  daemonGapRecords: 'flowlog_daemon_gap_records_total',
  daemonJournalWriteFailures: 'flowlog_daemon_journal_write_failures_total',
  daemonClockSteps: 'flowlog_daemon_clock_steps_total',
} as const;

type Labels = Record<string, string>;

/** A source bug (NaN, negative) must not fail the whole scrape: such a value reads as 0. */
function sane(value: number): number {
  return Number.isFinite(value) && value >= 0 ? value : 0;
}

/** Builds a registry reading `source` on every scrape. One registry per source; not shared with prom-client's global one. */
export function buildMetricRegistry(source: MetricsSource): Registry {
  const registry = new Registry();
  const counter = (name: string, help: string, labelNames: string[], read: () => [Labels, number][]) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        // Totals come from the pipeline: replace rather than add.
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, sane(value));
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], read: () => [Labels, number][]) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, sane(value));
      },
    });

  const devices = () => source.captureDevices();
  counter(METRIC_NAMES.capturePackets, 'Packets captured, per ENI.', ['eni'], () =>
    devices().map((d) => [{ eni: d.eni }, d.packets]),
  );
  counter(
    METRIC_NAMES.captureBytes,
    'Layer-3 bytes (from the IP header) of the packets attributed to each ENI.',
    ['eni'],
    () => devices().map((d) => [{ eni: d.eni }, d.bytes]),
  );
  counter(METRIC_NAMES.captureKernelDrops, 'Packets dropped by the kernel capture buffer, per ENI.', ['eni'], () =>
    devices().map((d) => [{ eni: d.eni }, d.kernelDrops]),
  );
  counter(METRIC_NAMES.captureInterfaceDrops, 'Packets dropped by the interface or driver, per ENI.', ['eni'], () =>
    devices().map((d) => [{ eni: d.eni }, d.interfaceDrops]),
  );
  counter(
    METRIC_NAMES.captureGapPackets,
    "Packets an ENI's device carried while it existed but was not captured (re-created, reopened, not open yet), from its own counters: SKIPDATA.",
    ['eni'],
    () => devices().map((d) => [{ eni: d.eni }, d.gapPackets ?? 0]),
  );
  const handles = () => source.captureHandles();
  const handleLabels = (h: { device: string; shared: boolean }) => ({
    device: h.device,
    shared: h.shared ? 'true' : 'false',
  });
  gauge(
    METRIC_NAMES.captureRingBytes,
    'Kernel ring bytes of each capture device (a share of capture.totalBufferBytes).',
    ['device', 'shared'],
    () => handles().map((h) => [handleLabels(h), h.ringBytes]),
  );
  gauge(
    METRIC_NAMES.captureDeviceEngine,
    "1 for each open capture device, labelled with the engine capturing it (libpcap, ebpf) and the eBPF engine's hook (tcx, clsact).",
    ['device', 'engine', 'hook'],
    () =>
      handles()
        .filter((h) => h.engine !== '')
        .map((h) => [{ device: h.device, engine: h.engine, hook: h.hook }, 1]),
  );
  counter(METRIC_NAMES.captureDevicePackets, 'Frames read from each capture device.', ['device', 'shared'], () =>
    handles().map((h) => [handleLabels(h), h.packets]),
  );
  counter(
    METRIC_NAMES.captureDeviceDrops,
    'Packets each capture device dropped (kernel ring full, or the interface), as SKIPDATA counts them.',
    ['device', 'shared', 'where'],
    () =>
      handles().flatMap((h): [Labels, number][] => [
        [{ ...handleLabels(h), where: 'kernel' }, h.kernelDrops],
        [{ ...handleLabels(h), where: 'interface' }, h.interfaceDrops],
      ]),
  );
  counter(
    METRIC_NAMES.captureKernelPackets,
    'Packets the WebAssembly kernel recorded; the others went through the TypeScript path.',
    [],
    () => [[{}, source.kernelPackets()]],
  );
  const drains = () => source.ebpfDrains?.() ?? null;
  counter(
    METRIC_NAMES.captureEbpfDrains,
    "The eBPF engine's drains of its kernel flow table (once a second): ok, or failed (its windows wait for the next that works, 10 s at most).",
    ['result'],
    () => {
      const d = drains();
      return d === null
        ? []
        : [
            [{ result: 'ok' }, d.ok],
            [{ result: 'failed' }, d.failed],
          ];
    },
  );
  counter(
    METRIC_NAMES.captureEbpfPackets,
    "Packets the eBPF engine's drains handed to the pipeline as flows.",
    [],
    () => {
      const d = drains();
      return d === null ? [] : [[{}, d.packets]];
    },
  );
  gauge(
    METRIC_NAMES.captureEbpfLongestDrain,
    'The longest drain of the eBPF engine since start (swap, read, clear and recording).',
    [],
    () => {
      const d = drains();
      return d === null ? [] : [[{}, d.longestMs / 1000]];
    },
  );
  counter(
    METRIC_NAMES.decodeTunnelPackets,
    'Overlay devices: packets taken out of VXLAN/Geneve tunnels, later outer fragments (counted at the first), and packets of VNIs no VPC has (unattributed).',
    ['outcome'],
    () => {
      const o = source.overlayPackets();
      return [
        [{ outcome: 'decapsulated' }, o.decapsulated],
        [{ outcome: 'outer_fragment' }, o.outerFragments],
        [{ outcome: 'unknown_vni' }, o.unknownVni],
      ];
    },
  );
  counter(METRIC_NAMES.decodeMalformed, 'Packets that could not be decoded, by reason.', ['reason'], () =>
    Object.entries(source.malformedPackets()).map(([reason, n]) => [{ reason }, n]),
  );
  const superFrames = source.superFrames?.bind(source);
  if (superFrames !== undefined) {
    counter(
      METRIC_NAMES.decodeSuperFrames,
      'GSO/GRO super-frames counted as the segments the wire carried, by how: kernel (its virtio_net_hdr), derived (MTU, MSS), gso_mismatch, headers_cut, no_mtu, unsegmented.',
      ['outcome'],
      () => Object.entries(superFrames().frames).map(([outcome, n]) => [{ outcome }, n]),
    );
    counter(METRIC_NAMES.decodeSuperFramePackets, 'Packets (segments) the super-frames stood for.', [], () => [
      [{}, superFrames().packets],
    ]);
  }
  counter(
    METRIC_NAMES.flowTableRefused,
    'Packets of new flows the flow table refused an ENI (its guaranteed share used, the shared part full): in its SKIPDATA; once per aggregation interval.',
    ['eni'],
    () => devices().map((d) => [{ eni: d.eni }, d.tableRefused ?? 0]),
  );
  counter(METRIC_NAMES.enrichUnattributed, 'Packets that matched no configured ENI.', [], () => [
    [{}, source.unattributedPackets()],
  ]);
  gauge(
    METRIC_NAMES.flowActiveFlows,
    'Flows in the flow table in the current window, per aggregation interval (seconds).',
    ['interval'],
    () => source.flowTable().intervals.map((t) => [{ interval: String(t.intervalSec) }, t.activeFlows]),
  );
  gauge(
    METRIC_NAMES.flowTableCapacity,
    'Most flows per window per interval before new flows become SKIPDATA.',
    [],
    () => [[{}, source.flowTable().capacity]],
  );
  counter(
    METRIC_NAMES.records,
    'Flow-log records produced, by flow log and log-status.',
    ['flow_log', 'log_status'],
    () => source.records().map((r) => [{ flow_log: r.flowLog, log_status: r.logStatus }, r.records]),
  );
  counter(
    METRIC_NAMES.sinkBatches,
    'Record batches per sink by result: sent, failed (given up), retried.',
    ['sink', 'result'],
    () =>
      source.sinks().flatMap((s): [Labels, number][] => [
        [{ sink: s.sink, result: 'sent' }, s.batchesSent],
        [{ sink: s.sink, result: 'failed' }, s.batchesFailed],
        [{ sink: s.sink, result: 'retried' }, s.batchesRetried],
      ]),
  );
  gauge(METRIC_NAMES.sinkLastSuccess, 'Time of the last batch a sink accepted, Unix seconds.', ['sink'], () =>
    source
      .sinks()
      .filter((s) => s.lastSuccessUnixMs !== undefined)
      .map((s) => [{ sink: s.sink }, (s.lastSuccessUnixMs as number) / 1000]),
  );
  gauge(METRIC_NAMES.spoolSegments, 'Segments waiting in the disk spool, per flow log.', ['flow_log'], () =>
    source.spools().map((s) => [{ flow_log: s.flowLog }, s.segments]),
  );
  gauge(METRIC_NAMES.spoolBytes, 'Bytes of the segments in the disk spool, per flow log.', ['flow_log'], () =>
    source.spools().map((s) => [{ flow_log: s.flowLog }, s.bytes]),
  );
  gauge(
    METRIC_NAMES.spoolMemorySegments,
    'Segments held in memory because the spool disk refused them (full, read-only), per flow log.',
    ['flow_log'],
    () => source.spools().map((s) => [{ flow_log: s.flowLog }, s.memorySegments]),
  );
  counter(
    METRIC_NAMES.spoolDroppedRecords,
    'Records the spool dropped: over its disk bound, or over its memory bound while the disk refused writes.',
    ['flow_log'],
    () => source.spools().map((s) => [{ flow_log: s.flowLog }, s.droppedRecords]),
  );
  const losses = source.outputLosses?.bind(source);
  if (losses !== undefined) {
    counter(
      METRIC_NAMES.outputLostRecords,
      'Records lost after capture, by flow log and reason: spool_full, spool_memory_full, segment_corrupt, not_spooled (crash: see the SKIPDATA counter).',
      ['flow_log', 'reason'],
      () => losses().map((l) => [{ flow_log: l.flowLog, reason: l.reason }, l.lostRecords]),
    );
    counter(
      METRIC_NAMES.outputLossSkipdata,
      'SKIPDATA records written so a loss after capture shows in the Logstore, by flow log and reason (as lost records, plus crash).',
      ['flow_log', 'reason'],
      () => losses().map((l) => [{ flow_log: l.flowLog, reason: l.reason }, l.skipdataRecords]),
    );
  }
  counter(METRIC_NAMES.configReloads, 'Configuration reloads by result: ok, failed.', ['result'], () => {
    const r = source.configReloads();
    return [
      [{ result: 'ok' }, r.ok],
      [{ result: 'failed' }, r.failed],
    ];
  });
  const crash = source.crashJournal?.bind(source);
  if (crash !== undefined) {
    counter(
      METRIC_NAMES.daemonUncleanRestarts,
      'Starts that found the previous run stopped uncleanly (SIGKILL, OOM kill, power loss, crash).',
      [],
      () => [[{}, crash().uncleanRestarts]],
    );
    counter(
      METRIC_NAMES.daemonGapRecords,
      'SKIPDATA records written for the time an unclean stop left uncaptured.',
      [],
      () => [[{}, crash().gapRecords]],
    );
    counter(METRIC_NAMES.daemonJournalWriteFailures, 'Capture journal writes the file system refused.', [], () => [
      [{}, crash().journalWriteFailures],
    ]);
    counter(
      METRIC_NAMES.daemonClockSteps,
      'Steps of the wall clock against the monotonic one, by direction: forward, back.',
      ['direction'],
      () => [
        [{ direction: 'forward' }, crash().clockStepsForward],
        [{ direction: 'back' }, crash().clockStepsBack],
      ],
    );
  }
  registry.registerMetric(
    histogramMetric(
      METRIC_NAMES.sinkLatency,
      'Seconds from handing a batch to a sink to its answer, per attempt.',
      () => source.sinks().map((s) => [{ sink: s.sink }, s.latency]),
    ),
  );
  registry.registerMetric(
    histogramMetric(
      METRIC_NAMES.windowFlush,
      'Seconds to drain a closed window into records and hand them over.',
      () => [[{}, source.windowFlush()]],
    ),
  );
  return registry;
}

/**
 * A histogram rendered from HistogramViews the pipeline owns. prom-client's Histogram can only
 * be fed observations, so this implements the small part of its metric contract the Registry
 * uses (name, help, type, get()) and is cast where it is registered.
 */
function histogramMetric(name: string, help: string, read: () => [Labels, HistogramView][]): Metric {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: { metricName: string; labels: Record<string, string>; value: number }[] = [];
      for (const [labels, view] of read()) {
        let cumulative = 0;
        view.upperBoundsSec.forEach((bound, i) => {
          cumulative += sane(view.bucketCounts[i]);
          values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(bound) }, value: cumulative });
        });
        cumulative += sane(view.bucketCounts[view.upperBoundsSec.length]);
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
        values.push({ metricName: `${name}_sum`, labels, value: sane(view.sumSec) });
        values.push({ metricName: `${name}_count`, labels, value: cumulative });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  return metric as unknown as Metric;
}
