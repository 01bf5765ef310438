import type { LinkEvent } from '../capture/live/link-watch';
import type { AgentConfig, EniConfig } from '../config/types';
import type { EniResolution } from '../enrich/eni-discovery';
import { OVERLAY_DEVICE, SHARED_DEVICE } from '../packet/chunk-recorder';
import type { Logger } from '../log';
import type { RecordSubmitter } from '../output/record-output';
import { CaptureSet, type DeviceSource, type WantedDevice } from './capture-set';
import { EniSlots } from './eni-slots';
import { LiveAgent } from '../agent/live-agent';
import type { NflogSet } from './nflog-set';
import type { EbpfCapture } from './ebpf-capture';

/** What an EniCapture tells its owner (crash journal, metrics). */
export interface EniCaptureHooks {
  /** ENIs got an index (or theirs back): they are captured from now on. */
  enisAdded(enis: readonly EniConfig[]): void;
  /** Retired ENIs whose last window closed: their indexes are free (fold `packets`/`bytes` of each). */
  enisFreed(
    freed: ReadonlyArray<{ eni: EniConfig; packets: number; bytes: number; tableRefused: number }>,
    live: LiveAgent,
  ): void;
  /** A pipeline ended at `endSec` (its windows written up to then): a new one follows, or the daemon stops. */
  pipelineEnded(live: LiveAgent, endSec: number): void;
}

export interface EniCaptureOptions {
  config: AgentConfig;
  submitter: RecordSubmitter;
  nflog: NflogSet;
  /** libpcap read timeout of every device. */
  bufferTimeoutMs: number;
  log: Logger;
  hooks: EniCaptureHooks;
  /** Devices opened, failed or went away by themselves: the owner refreshes (outside any read). */
  onDevicesChanged: () => void;
  /** The eBPF engine for the ENIs' own devices (capture.engine), or null: libpcap everywhere. */
  ebpf?: EbpfCapture | null;
}

/** ENI indexes a pipeline is first made for: twice the ENIs, at least 256 (a few KiB per 256). */
function capacityFor(enis: number): number {
  let n = 256;
  while (n < 2 * enis) n *= 2;
  return Math.min(n, 0xffff);
}

/**
 * The daemon's captured ENIs: their stable indexes (EniSlots), the one pipeline they record into
 * (LiveAgent) and their devices' handles (CaptureSet), kept in step by `apply` (a refresh: the
 * config and the host as they are now) and by link events. A device deleted, re-created, or
 * reopened touches that device's handle and its ENI's capture flag only.
 *
 * Lifecycle: made once per daemon; `apply` at every refresh; the window hooks every tick;
 * `stop` once. Everything runs on the event loop, between packet reads.
 */
export class EniCapture {
  readonly slots = new EniSlots();
  readonly captures: CaptureSet;
  private live: LiveAgent | null = null;
  private config: AgentConfig;
  /** Packets lost to device gaps, per ENI id, since start (flowlog_capture_gap_packets_total). */
  readonly gapPackets = new Map<string, number>();

  constructor(private readonly o: EniCaptureOptions) {
    this.config = o.config;
    this.captures = new CaptureSet({
      capture: o.config.capture,
      overlaySnaplenBytes: overlaySnaplenOf(o.config),
      bufferTimeoutMs: o.bufferTimeoutMs,
      log: o.log,
      onOpened: (device, source) => this.bindOpened(device, source),
      onOpenSetChanged: o.onDevicesChanged,
      onGapLoss: (device, packets) => this.countGapLoss(device, packets),
      ...(o.ebpf == null
        ? {}
        : {
            ebpfSourceFor: (device, onFailure) =>
              (o.ebpf as EbpfCapture).sourceFor(device, (d) => this.slots.ofDevice(d)?.index ?? -1, onFailure),
          }),
    });
  }

  /** Whether windows ending by `clockSec` may close: the eBPF engine's flows up to then are recorded. */
  mayClose(clockSec: number): boolean {
    const ebpf = this.o.ebpf;
    return ebpf == null || ebpf.drainedThrough(clockSec);
  }

  /** The pipeline (null before the first `apply`). */
  get pipeline(): LiveAgent | null {
    return this.live;
  }

  /**
   * Makes the captured ENIs those of `resolution` under `config` at `nowSec`: indexes kept or
   * given, the pipeline changed in place (or remade when it must be), devices opened and closed,
   * handles bound. `force`: the config changed (reload), so the pipeline takes it even when the
   * ENIs did not change.
   */
  apply(config: AgentConfig, resolution: EniResolution, nowSec: number, force = false): void {
    this.config = config;
    const changes = this.slots.apply(resolution, nowSec);
    if (changes.added.length > 0) this.o.hooks.enisAdded(changes.added);
    const fresh = this.live === null;
    if (this.live === null)
      this.live = new LiveAgent(config, this.slots, this.o.submitter, nowSec, capacityFor(this.slots.length));
    else if (changes.changed || force) this.changePipeline(nowSec);
    this.o.ebpf?.syncSlots(this.slots.resolved());
    this.captures.sync(this.wantedDevices());
    this.rebind(fresh || changes.changed || force);
    if (changes.added.length > 0 || changes.retired.length > 0) {
      this.o.log.info(
        {
          added: changes.added.map((e) => ({ id: e.id, device: e.interface ?? '(shared)', mac: e.mac, ips: e.ips })),
          retired: changes.retired.map((e) => e.id),
        },
        'capturing ENIs',
      );
    }
  }

  /** New capture settings (reload): only the devices they concern are reopened. */
  setCapture(config: AgentConfig): void {
    this.captures.setCapture(config.capture, overlaySnaplenOf(config));
  }

  onLinkEvents(events: readonly LinkEvent[], overflowed: boolean): void {
    this.captures.onLinkEvents(events, overflowed);
  }

  /**
   * Before the windows may close at `clockSec`: handles read out and gaps counted when a window
   * closes; drops collected (from every handle when `full`, else from those that read).
   */
  beforeTick(closing: boolean, full: boolean): void {
    const live = this.live;
    if (live === null) return;
    if (closing) {
      this.captures.drainAll();
      this.captures.sampleGaps();
    }
    live.collectLoss(this.captures, this.slots, !full);
  }

  /** After windows closed: retired ENIs whose last window is written give their index back. */
  afterClose(nowSec: number): void {
    const live = this.live;
    if (live === null) return;
    const freed = this.slots.freeRetired(live.openWindowStartSec());
    if (freed.length === 0) return;
    const folded = freed.map(({ index, eni }) => ({ eni, ...live.takeEniCounters(index) }));
    this.o.hooks.enisFreed(folded, live);
    this.changePipeline(nowSec);
    this.rebind(true);
  }

  /** Stops: every handle read out (after the read timeout) and closed, the open windows written at now. */
  async stop(nowSec: () => number): Promise<void> {
    await this.captures.closeAll();
    try {
      // The devices are detached: a last drain holds everything their hooks counted.
      await this.o.ebpf?.stop();
    } finally {
      this.endPipeline(nowSec());
    }
  }

  /** Writes the open windows as partial windows ending at `endSec` and forgets the pipeline. */
  private endPipeline(endSec: number): void {
    const live = this.live;
    if (live === null) return;
    this.captures.drainAll();
    live.collectLoss(this.captures, this.slots);
    live.collectNflogLoss(this.o.nflog, this.slots);
    live.finish(endSec);
    this.o.hooks.pipelineEnded(live, endSec);
    this.live = null;
  }

  /** The pipeline takes the ENI list in place, or (rarely) a new one replaces it. */
  private changePipeline(nowSec: number): void {
    const live = this.live as LiveAgent;
    if (live.reconfigure(this.config, this.slots, nowSec)) return;
    const capacity = Math.max(live.eniCapacity, capacityFor(this.slots.length));
    this.o.log.warn(
      { enis: this.slots.length, eniCapacity: capacity },
      'pipeline rebuilt (ENI capacity, an aggregation interval, the flow table capacity or the overlay changed): the open windows end now',
    );
    this.endPipeline(nowSec);
    this.live = new LiveAgent(this.config, this.slots, this.o.submitter, nowSec, capacity);
  }

  /** Handles bound to their ENI's index, NFLOG groups to the ENI list, capture flags set. */
  private rebind(enisChanged: boolean): void {
    const live = this.live as LiveAgent;
    live.bindSources(this.captures, this.slots);
    if (enisChanged) live.bindNflog(this.o.nflog, this.slots.configs());
    live.updateCapturing(this.captures, this.slots);
  }

  private wantedDevices(): WantedDevice[] {
    const resolved = this.slots.resolved();
    const own: WantedDevice[] = resolved
      .filter((s) => !s.shared)
      .map((s) => ({ device: s.device, shared: false, sinceMs: s.sinceMs }));
    // Shared devices are opened only while some ENI is counted there.
    if (!resolved.some((s) => s.shared)) return own;
    const shared = this.config.capture.devices.map((device) => ({ device, shared: true }));
    const overlay = (this.config.overlay?.devices ?? []).map((device) => ({ device, shared: true, overlay: true }));
    return [...own, ...shared, ...overlay];
  }

  /** A handle just opened: bound before its first read, and its ENI marked captured. */
  private bindOpened(device: string, source: DeviceSource): void {
    const live = this.live;
    if (live === null) return;
    if (this.isShared(device))
      live.bindSource(source, this.captures.isOverlay(source) ? OVERLAY_DEVICE : SHARED_DEVICE);
    else {
      const slot = this.slots.ofDevice(device);
      if (slot !== undefined) live.bindSource(source, slot.index);
    }
    live.updateCapturing(this.captures, this.slots);
  }

  private isShared(device: string): boolean {
    return this.config.capture.devices.includes(device) || (this.config.overlay?.devices ?? []).includes(device);
  }

  /** A device gap's loss: SKIPDATA for its ENI (every shared ENI for a shared device), and the counter. */
  private countGapLoss(device: string, packets: number): void {
    const live = this.live;
    if (live === null) return;
    const ids: string[] = [];
    if (this.isShared(device)) {
      live.addSharedLoss(this.slots, packets);
      for (const s of this.slots.resolved()) if (s.shared) ids.push(s.eni.id);
    } else {
      const slot = this.slots.ofDevice(device, true);
      if (slot === undefined) return;
      live.addLoss(slot.index, packets);
      ids.push(slot.eni.id);
    }
    for (const id of ids) this.gapPackets.set(id, (this.gapPackets.get(id) ?? 0) + packets);
  }
}

function overlaySnaplenOf(config: AgentConfig): number {
  return Math.max(config.capture.snaplenBytes, config.overlay?.snaplenBytes ?? 0);
}
