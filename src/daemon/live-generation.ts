import type { AgentConfig } from '../config/types';
import type { LiveEni } from '../enrich/eni-discovery';
import { resolutionKey } from '../enrich/eni-discovery';
import { log } from '../log';
import { ChunkRecorder, OVERLAY_DEVICE, SHARED_DEVICE } from '../flow/chunk-recorder';
import { buildPipeline, type Pipeline, type RecordSubmitter } from '../pipeline';
import type { CaptureSet } from './capture-set';
import type { NflogDrops } from './nflog-set';

/**
 * Unused by wall-clock aggregators (windows the clock jumps over are SKIPDATA, see
 * FlowAggregatorOptions.onUncaptured); the pipeline's replay option.
 */
const MAX_GAP_WINDOWS = 1;

/**
 * One pipeline over a fixed list of captured ENIs. ENI indexes are positions in `enis` and never
 * change during a generation; when the captured set changes (an ENI appears or goes, a device
 * fails or recovers, the config is reloaded) the daemon ends this generation with a partial
 * window at `now` and starts the next one. Cost of the choice: a window in which the set changed
 * is written as two partial windows (flows split at the change, NODATA twice for an idle ENI),
 * in exchange for never touching the packet path's fixed-size, allocation-free structures.
 */
export class LiveGeneration {
  readonly pipeline: Pipeline;
  /** The packet entry of every device of this generation (kernel first, TypeScript for the rest). */
  readonly chunks: ChunkRecorder;
  /** resolutionKey of `enis`: equal keys mean nothing to rebuild. */
  readonly key: string;

  constructor(
    readonly config: AgentConfig,
    readonly enis: readonly LiveEni[],
    submitter: RecordSubmitter,
    startSec: number,
  ) {
    this.pipeline = buildPipeline({ ...config, enis: enis.map((l) => l.eni) }, submitter, {
      maxGapWindows: MAX_GAP_WINDOWS,
      drain: 'incremental',
      wallClock: true,
      dropLog: log,
      kernel: true,
    });
    this.chunks = new ChunkRecorder(this.pipeline.recorder, this.pipeline.kernel);
    this.chunks.setSharedEnis(Uint8Array.from(enis, (l) => (l.shared ? 1 : 0)));
    if (this.pipeline.kernelUnavailable !== undefined) log.warn({ reason: this.pipeline.kernelUnavailable }, 'WebAssembly kernel unavailable, capturing through the TypeScript path alone');
    this.key = resolutionKey(enis);
    // Open the windows at the start time now: a first tick with the grace-delayed clock would
    // open the previous window, which the previous generation has already written.
    this.pipeline.recorder.tick(startSec);
  }

  /**
   * Points every captured device of this generation at its recorder: an ENI's own device with
   * its ENI index, the shared devices with SHARED_DEVICE (frames counted for the shared ENIs they
   * name), the overlay devices with OVERLAY_DEVICE (tunnels opened first).
   */
  bindSources(captures: CaptureSet): void {
    this.enis.forEach((l, i) => {
      if (!l.shared) captures.source(l.device)?.bind(this.chunks, i);
    });
    for (const source of captures.sharedSources()) source.bind(this.chunks, captures.isOverlay(source) ? OVERLAY_DEVICE : SHARED_DEVICE);
  }

  /**
   * Adds each device's capture drops since the last call to the current windows: an ENI's own
   * device's to that ENI; a shared device's could be any shared ENI's, so each of them is
   * marked with the count (SKIPDATA: a loss is never hidden, at the cost of over-marking).
   * `activeOnly` asks only handles that read frames since they were last asked.
   */
  collectLoss(captures: CaptureSet, activeOnly = false): number {
    let total = 0;
    this.enis.forEach((l, i) => {
      const source = l.shared ? null : captures.source(l.device);
      if (source === null) return;
      const dropped = source.takeDrops(activeOnly);
      if (dropped === 0) return;
      total += dropped;
      this.addLoss(i, dropped);
    });
    for (const source of captures.sharedSources()) {
      const dropped = source.takeDrops(activeOnly);
      if (dropped === 0) continue;
      total += dropped;
      this.enis.forEach((l, i) => {
        if (l.shared) this.addLoss(i, dropped);
      });
    }
    return total;
  }

  /**
   * Adds NFLOG drops (`nflog.takeDrops()`) to the current windows, so they get SKIPDATA: a
   * group tied to an ENI marks that ENI; an untied group's drops could belong to any ENI, so
   * every ENI's window is marked with the group's count. Returns the drops taken.
   */
  collectNflogLoss(nflog: { takeDrops(): readonly NflogDrops[] }): number {
    let total = 0;
    for (const d of nflog.takeDrops()) {
      total += d.dropped;
      if (d.eniId === undefined) this.enis.forEach((_, i) => this.addLoss(i, d.dropped));
      else {
        const eni = this.enis.findIndex((l) => l.eni.id === d.eniId);
        if (eni >= 0) this.addLoss(eni, d.dropped); // else its ENI has no device in this generation
      }
    }
    return total;
  }

  /** Lost packets of ENI `eni` in the current window of every interval: SKIPDATA. */
  private addLoss(eni: number, packets: number): void {
    for (const agg of this.pipeline.aggregators) agg.addLoss(eni, packets);
  }

  /** Whether `tick(clockSec)` would close a window. */
  closesBy(clockSec: number): boolean {
    return this.pipeline.aggregators.some((a) => a.windowStartSec >= 0 && clockSec >= a.windowEndSec);
  }

  /** Closes windows that ended by `clockSec` (the grace-delayed wall clock). */
  tick(clockSec: number): void {
    this.pipeline.recorder.tick(clockSec);
  }

  /**
   * Ends the generation at `nowSec`: windows that ended before it are closed whole, the current
   * one as a partial window ending at `nowSec`.
   */
  finish(nowSec: number): void {
    this.pipeline.recorder.tick(nowSec - 1);
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
