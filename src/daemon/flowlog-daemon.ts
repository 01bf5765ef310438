import { unwatchFile, watchFile } from 'node:fs';
import { chunkCaptureBinding } from '../capture/live/chunk-handle';
import { LinkWatch } from '../capture/live/link-watch';
import { ConfigError, formatProblem, loadConfig } from '../config/load';
import type { AgentConfig, EniConfig } from '../config/types';
import { openRecordOutput } from '../output/open-record-output';
import { EcsMetadataClient } from '../enrich/ecs-metadata';
import {
  enisFromMetadata,
  listHostInterfaces,
  resolveLiveEnis,
  type HostInterface,
  type LiveEni,
} from '../enrich/eni-discovery';
import type { Logger } from '../log';
import { BlindSpots } from './blind-spots';
import { CountedOutput } from '../output/counted-output';
import { CrashWatch } from './crash-watch';
import { DaemonMetrics } from './daemon-metrics';
import { chooseEngine, EBPF_FIX } from '../capture/ebpf/engine-choice';
import { EbpfCapture } from './ebpf-capture';
import { EniCapture } from './eni-capture';
import type { LiveAgent } from '../agent/live-agent';
import { warmUpLivePath } from '../agent/kernel-warm-up';
import { MetricsEndpoint } from './metrics-endpoint';
import { NflogSet } from './nflog-set';
import { applySinkChanges } from './sink-reload';

export interface DaemonOptions {
  configPath: string;
  /**
   * Delivery seam: '-' or a file writes JSON Lines (as replay's --output); undefined delivers
   * through each flow log's sink (delivery layer: batching, retry, spool). A reload opens the
   * sinks of added flow logs and moves changed ones (see applySinkChanges).
   */
  output?: string;
  log: Logger;
  /** Where refused-reload problems are printed, one line each as `validate` prints them. */
  err: { write(text: string): unknown };
  /** Wall-clock tick; windows are checked, drops collected and failed devices retried this often. */
  tickIntervalMs?: number;
  /** Seconds after a boundary before an idle window is closed, so buffered packets land in it. */
  graceSec?: number;
  /** libpcap read timeout (bounds how late a packet reaches the table). */
  bufferTimeoutMs?: number;
  /** Watch the config file and reload on change (as on SIGHUP; a content already applied is not reloaded again). */
  watchConfig?: boolean;
  /** Follow link events (rtnetlink); off, devices are found by the periodic refresh alone (tests). */
  watchLinks?: boolean;
  /** Host interface listing (tests). */
  listHosts?: () => HostInterface[];
}

/** The daemon could not start; `exitCode` 2 for a bad config, 1 when nothing can run. */
export class DaemonStartError extends Error {
  override readonly name = 'DaemonStartError';
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * `flowlog-agent run`: live capture of every covered ENI, wall-clock windows, ENIs and devices
 * followed as they come and go (link events, the periodic refresh), reload on SIGHUP (wired by the
 * run command), graceful stop.
 *
 * Lifecycle: `start()` once, then any number of `reload()`/`refresh()`, then `stop()` once.
 * Everything runs on the event loop; the packet path runs inside libuv poll callbacks and all
 * structural changes (ENIs in and out of the pipeline, device open/close) run between them.
 */
export class FlowlogDaemon {
  private config!: AgentConfig;
  /** The applied config as text: a reload of the same content changes nothing. */
  private configKey = '';
  private output!: CountedOutput;
  private crash!: CrashWatch;
  private readonly pendingDrains = new Set<Promise<void>>();
  private capture!: EniCapture;
  private ebpf: EbpfCapture | null = null;
  private nflog!: NflogSet;
  private links: LinkWatch | null = null;
  private refreshQueued = false;
  /** ENIs resolved to a device by the last refresh, open or not (health names the failed ones). */
  private wantedEnis: LiveEni[] = [];
  /** ENIs without device, discovery failing, flow logs without ENI: health's view (issue 31). */
  private readonly blind = new BlindSpots();
  private readonly reloads = { ok: 0, failed: 0 };
  private metrics!: DaemonMetrics;
  private endpoint!: MetricsEndpoint;
  private metadata: EcsMetadataClient | null = null;
  private discovered: EniConfig[] = [];
  private metadataInFlight = false;
  private lastMetadataError = '';
  /** ENIs not captured at the last refresh, id to reason (each logged once, when it begins or changes). */
  private lastUnresolved = new Map<string, string>();
  private tickTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private ticks = 0;
  private readonly tickIntervalMs: number;
  private readonly graceSec: number;
  private readonly bufferTimeoutMs: number;
  private readonly listHosts: () => HostInterface[];
  private readonly log: Logger;

  constructor(private readonly o: DaemonOptions) {
    this.tickIntervalMs = o.tickIntervalMs ?? 1000;
    this.graceSec = o.graceSec ?? 2;
    this.bufferTimeoutMs = o.bufferTimeoutMs ?? 100;
    this.listHosts = o.listHosts ?? (() => listHostInterfaces());
    this.log = o.log;
  }

  /** Loads the config, opens the output and every device it can. Throws DaemonStartError. */
  async start(): Promise<void> {
    const config = this.loadOrReport();
    if (config === null) throw new DaemonStartError(`load config ${this.o.configPath}: refused`, 2);
    if (config.flowLogs.length === 0)
      throw new DaemonStartError('start daemon: nothing to capture: the config has no flow logs', 1);
    this.config = config;
    this.configKey = JSON.stringify(config);
    try {
      this.output = new CountedOutput(
        await openRecordOutput(config, this.o.output, config.delivery.stopFlushTimeoutMs),
      );
    } catch (err) {
      throw new DaemonStartError(`start daemon: ${(err as Error).message}`, 1, { cause: err });
    }
    // After the output: its spool lock keeps a second daemon off this stateDir, and its journal.
    try {
      this.crash = CrashWatch.open(config, this.log, nowSec());
    } catch (err) {
      await this.output.close();
      throw new DaemonStartError(`start daemon: ${(err as Error).message}`, 1, { cause: err });
    }
    this.metrics = new DaemonMetrics({
      config: () => this.config,
      live: () => this.capture.pipeline,
      slots: () => this.capture.slots,
      gapPackets: () => this.capture.gapPackets,
      captures: () => this.capture.captures,
      nflog: () => this.nflog,
      wantedEnis: () => this.wantedEnis,
      output: () => this.output,
      reloads: () => this.reloads,
      crash: () => this.crash.counters(),
      blindConditions: () => this.blind.conditions(),
      ebpf: () => this.ebpf,
    });
    this.endpoint = new MetricsEndpoint(this.metrics, this.log);
    try {
      await this.endpoint.start(config.metrics.listen);
    } catch (err) {
      await this.output.close();
      throw new DaemonStartError(`start daemon: ${(err as Error).message}`, 1, { cause: err });
    }
    try {
      chunkCaptureBinding(); // a package built without its addon cannot capture: say so once, now
    } catch (err) {
      await this.endpoint.close();
      await this.output.close();
      throw new DaemonStartError(`start daemon: ${(err as Error).message}`, 1, { cause: err });
    }
    warmUpLivePath(config);
    this.nflog = new NflogSet({ bufferTimeoutMs: this.bufferTimeoutMs, log: this.log });
    this.nflog.sync(config);
    const choice = chooseEngine(config.capture);
    if (config.capture.engine === 'ebpf' && choice.engine !== 'ebpf') {
      this.nflog.closeAll();
      await this.endpoint.close();
      await this.output.close();
      throw new DaemonStartError(`start daemon: capture.engine is ebpf: ${choice.reason}: ${EBPF_FIX}`, 1);
    }
    try {
      // ENIs from the metadata service are not known yet: room for 512 of them.
      const enis = config.discovery.type === 'ecs-metadata' ? Math.max(512, config.enis.length) : config.enis.length;
      this.ebpf = EbpfCapture.open(choice, enis, this.log, () => {
        const live = this.capture?.pipeline ?? null;
        return live === null
          ? null
          : {
              recorder: live.recorder,
              eniCount: live.eniCapacity,
              addLoss: (eni: number, packets: number) => live.addLoss(eni, packets),
            };
      });
    } catch (err) {
      if (config.capture.engine === 'ebpf') {
        this.nflog.closeAll();
        await this.endpoint.close();
        await this.output.close();
        throw new DaemonStartError(`start daemon: ${(err as Error).message}`, 1, { cause: err });
      }
      choice.engine = 'libpcap';
      choice.reason = `auto: ${(err as Error).message}`;
    }
    this.log.info(
      { engine: choice.engine, reason: choice.reason },
      choice.engine === 'ebpf'
        ? "capture engine: eBPF for the ENIs' own devices (shared and overlay devices, NFLOG: libpcap)"
        : 'capture engine: libpcap',
    );
    this.capture = new EniCapture({
      ebpf: this.ebpf,
      config,
      submitter: this.output,
      nflog: this.nflog,
      bufferTimeoutMs: this.bufferTimeoutMs,
      log: this.log,
      hooks: {
        enisAdded: (enis) => this.crash.enisCaptured(enis),
        enisFreed: (freed, live) => {
          for (const f of freed) this.metrics.foldEni(f.eni.id, f.packets, f.bytes, f.tableRefused);
          this.crash.enisFreed(
            freed.map((f) => f.eni),
            live,
            this.output,
          );
        },
        pipelineEnded: (live, endSec) => this.pipelineEnded(live, endSec),
      },
      onDevicesChanged: () => this.refresh(),
    });
    if (this.o.watchLinks ?? true) this.openLinkWatch();
    this.setupDiscovery(config);
    if (this.metadata !== null) await this.readMetadata();
    // Devices open on worker threads, in parallel; windows start now.
    this.refresh();
    const captures = this.capture.captures;
    await captures.settled();
    const wanted = captures.openDevices().length + captures.failedDevices().length;
    if (captures.openDevices().length === 0 && wanted > 0 && captures.permissionFailures >= wanted) {
      this.links?.close();
      await this.capture.stop(nowSec);
      this.nflog.closeAll();
      await this.endpoint.close();
      throw new DaemonStartError(
        'start daemon: cannot capture on any device: permission denied (needs CAP_NET_RAW and CAP_NET_ADMIN)',
        1,
      );
    }
    // Exact to the millisecond: a gap's end floored to the second would hide packets (issue 31).
    this.crash.resume(
      config,
      this.output,
      Date.now() / 1000,
      this.capture.slots.resolved().map((s) => s.eni),
    );
    this.ebpf?.start();
    this.tickTimer = setInterval(() => this.tick(), this.tickIntervalMs);
    if (this.o.watchConfig ?? true)
      watchFile(config.sourcePath, { interval: 2000 }, (cur, prev) => {
        if (cur.mtimeMs !== prev.mtimeMs && !this.stopped) void this.reload('config file changed');
      });
    this.log.info(
      {
        enis: this.capture.slots.resolved().length,
        devices: captures.openDevices(),
        nflog: this.nflog
          .states()
          .filter((g) => g.up)
          .map((g) => g.device),
        metrics: this.endpoint.url,
      },
      'daemon started',
    );
  }

  /**
   * Re-reads the config file. Refused (problems printed like `validate`, old config kept) when
   * invalid; a content already applied (SIGHUP and the file watcher both see one edit) changes
   * nothing; otherwise the new config takes effect at once, in place: windows stay open, flows
   * whole (see EniCapture, Pipeline.reconfigure).
   */
  async reload(reason = 'SIGHUP'): Promise<boolean> {
    if (this.stopped) return false;
    const next = this.loadOrReport();
    if (next === null) {
      this.reloads.failed++;
      this.log.error({ reason, config: this.o.configPath }, 'reload refused: config invalid, keeping the running one');
      return false;
    }
    const key = JSON.stringify(next);
    if (key === this.configKey) {
      this.log.info({ reason }, 'config unchanged: nothing to reload');
      this.refresh();
      return true;
    }
    this.configKey = key;
    this.reloads.ok++;
    const previous = this.config;
    this.config = next;
    this.crash.configChanged(next, nowSec());
    await applySinkChanges(this.output.inner, previous, next, this.log);
    this.capture.setCapture(next);
    // The engine is chosen once, at start: the program and its maps are not swapped under traffic.
    if (
      next.capture.engine !== previous.capture.engine ||
      (this.ebpf !== null && next.capture.filter !== previous.capture.filter)
    )
      this.log.warn(
        { engine: next.capture.engine, running: this.ebpf === null ? 'libpcap' : 'ebpf' },
        'capture.engine or capture.filter changed the capture engine: it changes at the next start (restart the service)',
      );
    this.nflog.sync(next);
    await this.endpoint.follow(next.metrics.listen);
    this.setupDiscovery(next);
    if (this.metadata !== null) await this.readMetadata();
    this.refresh(true);
    this.log.info({ reason, enis: this.capture.slots.resolved().length }, 'config reloaded');
    return true;
  }

  /**
   * Finds ENIs and devices now: host interfaces, the config, the last metadata answer; the
   * captured ENIs and devices follow (EniCapture.apply). `force`: the config changed.
   */
  refresh(force = false): void {
    if (this.stopped) return;
    const hosts = this.listHosts();
    const shared = [...this.config.capture.devices, ...(this.config.overlay?.devices ?? [])];
    const resolution = resolveLiveEnis(this.config.enis, this.discovered, this.config.flowLogs, hosts, shared);
    // Only what is new since the last refresh: a host deleting 500 devices one by one logs 500
    // short lines, not 500 lines listing every ENI missing so far (8 MB).
    const unresolved = new Map(resolution.unresolved.map((u) => [u.id, u.reason]));
    const fresh = resolution.unresolved.filter((u) => this.lastUnresolved.get(u.id) !== u.reason);
    this.lastUnresolved = unresolved;
    if (fresh.length > 0)
      this.log.warn(
        { unresolved: fresh.map((u) => ({ id: u.id, reason: u.reason })), unresolvedTotal: unresolved.size },
        'ENIs not captured yet',
      );
    this.wantedEnis = resolution.enis;
    this.blind.resolved(this.config, resolution.unresolved, this.discovered, Date.now());
    this.capture.apply(this.config, resolution, nowSec(), force);
    this.capture.captures.retryDue();
    this.nflog.retryDue();
  }

  /** Link events: the handles follow at once, then ENIs and devices are looked at afresh (once per event-loop turn). */
  private openLinkWatch(): void {
    try {
      this.links = LinkWatch.open((events, overflowed) => {
        if (this.stopped) return;
        this.capture.onLinkEvents(events, overflowed);
        if (overflowed) this.log.warn('link events lost (rtnetlink buffer overflow): devices looked at afresh');
        if (this.refreshQueued) return;
        this.refreshQueued = true;
        setImmediate(() => {
          this.refreshQueued = false;
          this.refresh();
        });
      });
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        `${(err as Error).message}: devices are found by the periodic refresh only`,
      );
    }
  }

  /**
   * Stops capture, writes the partial window (end = now) and delivers or spools what is left.
   * Returns what the output reports.
   */
  async stop(): Promise<{ delivered: number; spooled: number }> {
    if (this.stopped) return { delivered: 0, spooled: 0 };
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    unwatchFile(this.config.sourcePath);
    this.links?.close();
    await this.endpoint.close();
    this.nflog.drainAll();
    await this.capture.stop(nowSec);
    this.nflog.closeAll();
    await Promise.all(this.pendingDrains);
    const result = await this.output.close();
    await this.crash.close(true);
    this.log.info(
      { ...result, framesRead: this.capture.captures.framesRead(), kernelPackets: this.metrics.kernelPackets() },
      'daemon stopped',
    );
    return result;
  }

  /** Once per tick: retry failed devices, collect drops, close windows on the delayed clock. */
  private tick(): void {
    if (this.stopped) return;
    this.capture.captures.retryDue(); // devices that open call refresh (onDevicesChanged)
    this.nflog.retryDue();
    this.metrics.sample();
    const live = this.capture.pipeline;
    if (live === null) return;
    const clock = nowSec() - this.graceSec;
    // Before a window closes every handle is read out and asked for its drops, and every device
    // gap counted, so they land in it; between, only handles that read frames are asked (and all
    // every FULL_SAMPLE_TICKS), and none is read: the poll wakes the agent for every block the
    // kernel hands over.
    // With the eBPF engine, a window waits for a drain that began after its end (a tick later at most).
    const due = live.closesBy(clock);
    const closing = due && this.capture.mayClose(clock);
    const full = closing || ++this.ticks % FULL_SAMPLE_TICKS === 0;
    if (closing) this.nflog.drainAll();
    this.capture.beforeTick(closing, full);
    live.collectNflogLoss(this.nflog, this.capture.slots);
    if (closing || !due) live.tick(clock);
    if (closing) {
      this.crash.windowsClosed(live, this.output);
      this.capture.afterClose(nowSec());
    }
    this.crash.tick(nowSec());
  }

  /** A pipeline ended (stop, or replaced): its records delivered before the output closes, its counters folded. */
  private pipelineEnded(live: LiveAgent, endSec: number): void {
    const enis = this.capture.slots.inUse();
    this.crash.pipelineEnded(
      enis.map((s) => s.eni),
      live,
      this.output,
      endSec,
    );
    if (!this.stopped) this.crash.enisCaptured(enis.map((s) => s.eni));
    this.metrics.retire(
      live,
      enis.map((s) => [s.index, s.eni.id] as const),
    );
    // Closed windows build their records in slices (so capture never stalls); keep the promise
    // so a stop delivers them before closing the output.
    const drained = live.drained();
    this.pendingDrains.add(drained);
    void drained.finally(() => this.pendingDrains.delete(drained));
  }

  private setupDiscovery(config: AgentConfig): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    const d = config.discovery;
    this.metadata = d.type === 'ecs-metadata' ? new EcsMetadataClient(d) : null;
    if (this.metadata === null) this.discovered = [];
    this.refreshTimer = setInterval(() => {
      if (this.metadata !== null) void this.readMetadata().then(() => this.refresh());
      else this.refresh();
    }, d.refreshIntervalSec * 1000);
  }

  private async readMetadata(): Promise<void> {
    const client = this.metadata;
    if (client === null || this.metadataInFlight) return;
    this.metadataInFlight = true;
    try {
      this.discovered = enisFromMetadata(await client.read());
      this.blind.metadataRead(null);
      if (this.lastMetadataError !== '') this.log.info({ mode: client.mode }, 'metadata service reachable again');
      this.lastMetadataError = '';
    } catch (err) {
      const message = (err as Error).message;
      this.blind.metadataRead(message);
      if (message !== this.lastMetadataError)
        this.log.warn({ err: message }, 'read ECS metadata failed; keeping the last ENI list');
      this.lastMetadataError = message;
    } finally {
      this.metadataInFlight = false;
    }
  }

  private loadOrReport(): AgentConfig | null {
    const file = this.o.configPath;
    try {
      const { config, warnings } = loadConfig(file);
      for (const w of warnings) this.o.err.write(formatProblem(file, w) + '\n');
      return config;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) this.o.err.write(formatProblem(file, p) + '\n');
      return null;
    }
  }
}

/** Ticks between drop samples of every handle (idle ones included) outside window closes. */
const FULL_SAMPLE_TICKS = 10;

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}
