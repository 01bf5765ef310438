/**
 * A pipeline stand-in for the metrics endpoint: plain, mutable fields a test sets directly,
 * read through the MetricsSource and HealthSource callbacks exactly as the server reads the
 * real pipeline. Tests change a field and scrape again to see the change.
 */
import { DurationHistogram } from '../../src/metrics/duration-histogram';
import type {
  BlindCondition,
  CaptureDeviceCounters,
  CaptureDeviceState,
  CaptureHandleCounters,
  ConfigReloadCounters,
  FlowTableUsage,
  OverlayCounters,
  HealthSource,
  MetricsSource,
  RecordCount,
  SinkCounters,
  SinkDeliveryState,
  SpoolUsage,
} from '../../src/metrics/metrics-source';

export class FakePipelineCounters implements MetricsSource, HealthSource {
  devices: CaptureDeviceCounters[] = [];
  handles: CaptureHandleCounters[] = [];
  kernel = 0;
  malformed: Record<string, number> = {};
  unattributed = 0;
  tableCapacity = 0;
  intervals: FlowTableUsage[] = [];
  recordCounts: RecordCount[] = [];
  sinkCounters: SinkCounters[] = [];
  spoolUsage: SpoolUsage[] = [];
  flush = new DurationHistogram();
  reloads: ConfigReloadCounters = { ok: 0, failed: 0 };
  deliveries: SinkDeliveryState[] = [];
  deviceStates: CaptureDeviceState[] = [];
  blind: BlindCondition[] = [];
  /** Calls per callback name, to check that scrapes read the source. */
  readonly calls: Record<string, number> = {};

  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }

  captureDevices(): readonly CaptureDeviceCounters[] {
    this.count('captureDevices');
    return this.devices;
  }
  captureHandles(): readonly CaptureHandleCounters[] {
    return this.handles;
  }
  overlayPackets(): OverlayCounters {
    return { decapsulated: 0, outerFragments: 0, unknownVni: 0 };
  }
  kernelPackets(): number {
    return this.kernel;
  }
  captureDeviceStates(): readonly CaptureDeviceState[] {
    return this.deviceStates;
  }
  blindConditions(): readonly BlindCondition[] {
    return this.blind;
  }
  malformedPackets(): Readonly<Record<string, number>> {
    this.count('malformedPackets');
    return this.malformed;
  }
  unattributedPackets(): number {
    return this.unattributed;
  }
  flowTable(): { capacity: number; intervals: readonly FlowTableUsage[] } {
    return { capacity: this.tableCapacity, intervals: this.intervals };
  }
  records(): readonly RecordCount[] {
    return this.recordCounts;
  }
  sinks(): readonly SinkCounters[] {
    return this.sinkCounters;
  }
  spools(): readonly SpoolUsage[] {
    return this.spoolUsage;
  }
  windowFlush(): DurationHistogram {
    return this.flush;
  }
  configReloads(): ConfigReloadCounters {
    return this.reloads;
  }
  sinkDeliveries(): readonly SinkDeliveryState[] {
    return this.deliveries;
  }
}
