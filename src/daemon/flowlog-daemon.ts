import { unwatchFile, watchFile } from 'node:fs';
import { chunkCaptureBinding } from '../capture/chunk-handle';
import { ConfigError, formatProblem, loadConfig } from '../config/load';
import type { AgentConfig, EniConfig } from '../config/types';
import { openRecordOutput } from '../cli/record-output';
import { EcsMetadataClient } from '../enrich/ecs-metadata';
import { enisFromMetadata, listHostInterfaces, resolveLiveEnis, resolutionKey, type HostInterface, type LiveEni } from '../enrich/eni-discovery';
import type { Logger } from '../log';
import { BlindSpots } from './blind-spots';
import { CaptureSet } from './capture-set';
import { CountedOutput } from './counted-output';
import { CrashWatch } from './crash-watch';
import { DaemonMetrics } from './daemon-metrics';
import { warmUpLivePath } from './kernel-warm-up';
import { LiveGeneration } from './live-generation';
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
  /** Watch the config file and reload on change (as on SIGHUP). */
  watchConfig?: boolean;
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
 * `flowlog-agent run`: live capture of every covered ENI, wall-clock windows, ENIs followed as
 * they come and go, reload on SIGHUP (wired by the run command), graceful stop.
 *
 * Lifecycle: `start()` once, then any number of `reload()`/`refresh()`, then `stop()` once.
 * Everything runs on the event loop; the packet path runs inside libuv poll callbacks and all
 * structural changes (new generation, device open/close) run between them.
 */
export class FlowlogDaemon {
  private config!: AgentConfig;
  private output!: CountedOutput;
  private crash!: CrashWatch;
  private readonly pendingDrains = new Set<Promise<void>>();
  private captures!: CaptureSet;
  private nflog!: NflogSet;
  private generation: LiveGeneration | null = null;
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
  private lastUnresolved = '';
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
    if (config.flowLogs.length === 0) throw new DaemonStartError('start daemon: nothing to capture: the config has no flow logs', 1);
    this.config = config;
    try {
      this.output = new CountedOutput(await openRecordOutput(config, this.o.output, config.delivery.stopFlushTimeoutMs));
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
      generation: () => this.generation,
      captures: () => this.captures,
      nflog: () => this.nflog,
      wantedEnis: () => this.wantedEnis,
      output: () => this.output,
      reloads: () => this.reloads,
      crash: () => this.crash.counters(),
      blindConditions: () => this.blind.conditions(),
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
    this.captures = this.newCaptureSet(config);
    this.nflog = new NflogSet({ bufferTimeoutMs: this.bufferTimeoutMs, log: this.log });
    this.nflog.sync(config);
    this.setupDiscovery(config);
    if (this.metadata !== null) await this.readMetadata();
    // Devices open on worker threads, in parallel; the first generation starts once they have.
    this.refresh();
    await this.captures.settled();
    this.refresh();
    const wanted = this.captures.openDevices().length + this.captures.failedDevices().length;
    if (this.captures.openDevices().length === 0 && wanted > 0 && this.captures.permissionFailures >= wanted) {
      await this.captures.closeAll();
      this.nflog.closeAll();
      await this.endpoint.close();
      throw new DaemonStartError('start daemon: cannot capture on any device: permission denied (needs CAP_NET_RAW and CAP_NET_ADMIN)', 1);
    }
    // Exact to the millisecond: a gap's end floored to the second would hide packets (issue 31).
    this.crash.resume(config, this.output, Date.now() / 1000, this.liveEnis.map((l) => l.eni));
    this.tickTimer = setInterval(() => this.tick(), this.tickIntervalMs);
    if (this.o.watchConfig ?? true) watchFile(config.sourcePath, { interval: 2000 }, (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs && !this.stopped) void this.reload('config file changed');
    });
    this.log.info(
      { enis: this.generation?.enis.length ?? 0, devices: this.captures.openDevices(), nflog: this.nflog.states().filter((g) => g.up).map((g) => g.device), metrics: this.endpoint.url },
      'daemon started',
    );
  }

  /** ENIs captured now, in index order. */
  get liveEnis(): readonly LiveEni[] {
    return this.generation?.enis ?? [];
  }

  /**
   * Re-reads the config file. Refused (problems printed like `validate`, old config kept) when
   * invalid; otherwise the new config takes effect at once (partial window at the change).
   */
  async reload(reason = 'SIGHUP'): Promise<boolean> {
    if (this.stopped) return false;
    const next = this.loadOrReport();
    if (next === null) {
      this.reloads.failed++;
      this.log.error({ reason, config: this.o.configPath }, 'reload refused: config invalid, keeping the running one');
      return false;
    }
    this.reloads.ok++;
    const previous = this.config;
    const captureChanged = JSON.stringify(next.capture) !== JSON.stringify(previous.capture);
    this.config = next;
    this.crash.configChanged(next, nowSec());
    await applySinkChanges(this.output.inner, previous, next, this.log);
    if (captureChanged) {
      this.endGeneration();
      await this.captures.closeAll();
      this.captures = this.newCaptureSet(next);
    }
    this.nflog.sync(next);
    await this.endpoint.follow(next.metrics.listen);
    this.setupDiscovery(next);
    if (this.metadata !== null) await this.readMetadata();
    this.refresh(true);
    this.log.info({ reason, enis: this.liveEnis.length }, 'config reloaded');
    return true;
  }

  /**
   * Finds ENIs and devices now: host interfaces, the config, the last metadata answer. Opens new
   * devices, closes gone ones, and starts a new generation when the captured set changed.
   */
  refresh(force = false): void {
    if (this.stopped) return;
    const hosts = this.listHosts();
    const overlayDevices = this.config.overlay?.devices ?? [];
    const shared = [...this.config.capture.devices, ...overlayDevices];
    const resolution = resolveLiveEnis(this.config.enis, this.discovered, this.config.flowLogs, hosts, shared);
    const unresolved = resolution.unresolved.map((u) => `${u.id}: ${u.reason}`).join('; ');
    if (unresolved !== this.lastUnresolved) {
      this.lastUnresolved = unresolved;
      if (unresolved !== '') this.log.warn({ unresolved: resolution.unresolved }, 'ENIs not captured yet');
    }
    this.wantedEnis = resolution.enis;
    this.blind.resolved(this.config, resolution.unresolved, this.discovered, Date.now());
    const own = resolution.enis.filter((l) => !l.shared).map((l) => ({ device: l.device, shared: false }));
    // Shared devices are opened only while some ENI is counted there.
    const needShared = resolution.enis.some((l) => l.shared);
    const sharedWanted = this.config.capture.devices.map((device) => ({ device, shared: true }));
    const overlayWanted = overlayDevices.map((device) => ({ device, shared: true, overlay: true }));
    this.captures.sync([...own, ...(needShared ? [...sharedWanted, ...overlayWanted] : [])]);
    this.captures.retryDue();
    this.nflog.retryDue();
    const open = new Set(this.captures.openDevices());
    // A shared ENI is captured while any shared device is open (health names the ones that are not).
    const sharedOpen = this.captures.sharedSources().length > 0;
    const live = resolution.enis.filter((l) => (l.shared ? sharedOpen : open.has(l.device)));
    if (!force && this.generation !== null && resolutionKey(live) === this.generation.key) {
      this.generation.bindSources(this.captures); // a device reopened under the same ENI
      return;
    }
    this.endGeneration();
    this.generation = new LiveGeneration(this.config, live, this.output, nowSec());
    this.generation.bindSources(this.captures);
    this.crash.generationStarted(live.map((l) => l.eni));
    this.nflog.bind(this.generation.pipeline.recorder, live);
    this.log.info({ enis: live.map((l) => ({ id: l.eni.id, device: l.shared ? shared : l.device, mac: l.eni.mac, ips: l.eni.ips })) }, 'capturing ENIs');
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
    await this.endpoint.close();
    this.endGeneration();
    await this.captures.closeAll();
    this.nflog.closeAll();
    await Promise.all(this.pendingDrains);
    const result = await this.output.close();
    await this.crash.close(true);
    this.log.info({ ...result, framesRead: this.captures.framesRead(), kernelPackets: this.metrics.kernelPackets() }, 'daemon stopped');
    return result;
  }

  /** Once per tick: retry failed devices, collect drops, close windows on the delayed clock. */
  private tick(): void {
    if (this.stopped) return;
    this.captures.retryDue(); // devices that open call refresh (onOpenSetChanged)
    this.nflog.retryDue();
    this.metrics.sample();
    const gen = this.generation;
    if (gen === null) return;
    const clock = nowSec() - this.graceSec;
    // Before a window closes every handle is read out and asked for its drops, so they land in
    // it; between, only handles that read frames are asked (and all every FULL_SAMPLE_TICKS), and
    // none is read: the poll wakes the agent for every block the kernel hands over.
    const closing = gen.closesBy(clock);
    const full = closing || ++this.ticks % FULL_SAMPLE_TICKS === 0;
    if (closing) {
      this.captures.drainAll();
      this.nflog.drainAll();
    }
    gen.collectLoss(this.captures, !full);
    gen.collectNflogLoss(this.nflog);
    gen.tick(clock);
    if (closing) this.crash.windowsClosed(gen.pipeline, this.output);
    this.crash.tick(nowSec());
  }

  private endGeneration(): void {
    const gen = this.generation;
    if (gen === null) return;
    this.captures.drainAll();
    this.nflog.drainAll();
    gen.collectLoss(this.captures);
    gen.collectNflogLoss(this.nflog);
    const endSec = nowSec();
    gen.finish(endSec);
    this.crash.generationEnded(gen.enis.map((l) => l.eni), gen.pipeline, this.output, endSec);
    this.metrics.retire(gen);
    // Closed windows build their records in slices (so capture never stalls); keep the promise
    // so a stop delivers them before closing the output.
    const drained = gen.pipeline.drained();
    this.pendingDrains.add(drained);
    void drained.finally(() => this.pendingDrains.delete(drained));
    this.generation = null;
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
      if (message !== this.lastMetadataError) this.log.warn({ err: message }, 'read ECS metadata failed; keeping the last ENI list');
      this.lastMetadataError = message;
    } finally {
      this.metadataInFlight = false;
    }
  }

  private newCaptureSet(config: AgentConfig): CaptureSet {
    return new CaptureSet({
      capture: config.capture,
      overlaySnaplenBytes: Math.max(config.capture.snaplenBytes, config.overlay?.snaplenBytes ?? 0),
      bufferTimeoutMs: this.bufferTimeoutMs,
      log: this.log,
      onOpenSetChanged: () => this.refresh(),
    });
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
