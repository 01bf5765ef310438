import { deviceIsUp, readDeviceCounters, type DeviceCounters, type LinkEvent } from '../capture/live/link-watch';
import { EbpfDeviceSource } from '../capture/ebpf/ebpf-device-source';
import { LiveCaptureSource, type LiveCaptureOptions } from '../capture/live/live-source';
import { ringShareBytes } from '../capture/live/ring-share';
import type { CaptureConfig } from '../config/types';
import { usableMtu } from '../packet/decode/super-frame';
import type { Logger } from '../log';
import { DeviceGap, realtimeUs } from './device-gap';
import { markOpened, openFailureMessage, scheduleRetry, type HandleRetryState } from './handle-retry';

/** A device's capture: a libpcap-style ring (LiveCaptureSource) or the eBPF engine's hooks. */
export type DeviceSource = LiveCaptureSource | EbpfDeviceSource;

interface DeviceSlot extends HandleRetryState {
  device: string;
  /** Shared by many ENIs (capture.devices): promiscuous, frames counted by address. */
  shared: boolean;
  /** Carries the VPC overlay (overlay.devices): shared, tunnels opened, a longer snaplen. */
  overlay: boolean;
  /** Since when (Unix ms) some ENI wants the device (see WantedDevice.sinceMs). */
  sinceMs: number;
  source: DeviceSource | null;
  /** ifindex of the device instance `source` captures. */
  ifindex: number;
  /** How `source` was opened (a settings change reopens only the devices it concerns). */
  options: LiveCaptureOptions | null;
  /** An open is under way (on a worker thread). */
  opening: boolean;
  /** Frames read by the slot's earlier (closed) sources. */
  closedPackets: number;
  /** The device exists and is wanted but not captured: what it carries is counted lost. */
  gap: DeviceGap | null;
  /** The gap ended at an open; its loss is settled once the records stamped before are read. */
  settling: { counters: DeviceCounters; timer: NodeJS.Timeout } | null;
}

/** A device the daemon wants captured. */
export interface WantedDevice {
  device: string;
  shared: boolean;
  /** Carries the VPC overlay (implies shared). */
  overlay?: boolean;
  /**
   * Since when (Unix ms) an ENI has wanted it: a device created later carried nothing before the
   * daemon should have captured it, so all it carried until its capture opened is a loss.
   */
  sinceMs?: number;
}

/** One open handle, for metrics. */
export interface CaptureHandleUsage {
  device: string;
  shared: boolean;
  ringBytes: number;
  /** Frames read from the device since the daemon started (all its handles). */
  packets: number;
  /** What captures it while open ('' while not open); the eBPF engine's hook. */
  engine: '' | 'libpcap' | 'ebpf';
  hook: string;
}

export interface CaptureSetOptions {
  capture: CaptureConfig;
  /** Snaplen of overlay devices (outer and inner headers). */
  overlaySnaplenBytes: number;
  /** libpcap read timeout (see LiveCaptureOptions.bufferTimeoutMs). */
  bufferTimeoutMs: number;
  log: Logger;
  /** A source opened: bind it now (called before it reads anything, outside any read). */
  onOpened: (device: string, source: DeviceSource) => void;
  /**
   * The eBPF engine's source for an ENI's own device (`onFailure` as for a read failure), or
   * null for a libpcap handle. Absent: libpcap everywhere.
   */
  ebpfSourceFor?: (device: string, onFailure: (source: DeviceSource, error: Error) => void) => EbpfDeviceSource | null;
  /** The open devices changed by themselves (opened, failed, gone): called outside any read. */
  onOpenSetChanged: () => void;
  /** `packets` that `device` carried while wanted but not captured: count them lost now (SKIPDATA). */
  onGapLoss: (device: string, packets: number) => void;
  nowMs?: () => number;
  /** The device's counters (tests). */
  countersOf?: (device: string) => DeviceCounters | null;
  /** Whether the device is up (tests). */
  isUp?: (device: string) => boolean;
}

/**
 * The live handles of the daemon, one per wanted device (an ENI's own, or one shared by many
 * ENIs), kept in step with the host by link events (`onLinkEvents`, rtnetlink): a device that
 * appears or comes up is opened at once, one that is deleted has its ring read out and is closed,
 * and nothing else is touched. A device that cannot be opened, or fails while read, is logged by
 * name and retried with exponential backoff (at once on its next link event); the others keep
 * running. Owns its sources: `sync`, `setCapture` and `closeAll` (and link events) close them.
 *
 * Gaps: while a wanted device exists but is not captured, its own counters say what it carried
 * (DeviceGap); the owner hears it as `onGapLoss` at the gap's end and at every window close
 * (`sampleGaps`), and each gap that lost packets is logged once.
 *
 * Closing: a handle whose device went away, or that is no longer wanted, is read once more after
 * the read timeout (the kernel retires the ring's last, partly filled block only then) and
 * closed; until then it stays bound to its ENI.
 *
 * Ring memory: each handle opened gets `capture.totalBufferBytes` / (devices wanted then), see
 * ringShareBytes. Handles already open keep their ring when the count changes (reopening one
 * would lose its packets in between); a change of the ring settings reopens the handles whose
 * share it changes.
 */
export class CaptureSet {
  private readonly slots = new Map<string, DeviceSlot>();
  private readonly nowMs: () => number;
  private readonly countersOf: (device: string) => DeviceCounters | null;
  private readonly isUp: (device: string) => boolean;
  /** Frames read by devices no longer wanted (their slots are gone). */
  private retiredPackets = 0;
  /** Opens under way, and who waits for them to finish (see `settled`). */
  private opening = 0;
  private readonly waiters: Array<() => void> = [];
  /** Sources read once more after the read timeout, then closed. */
  private readonly draining = new Map<DeviceSource, Promise<void>>();
  private announcing = false;
  /** Devices the last `sync` wanted: the divisor of the ring budget. */
  private wantedCount = 0;
  /**
   * Devices as link events first showed them: name -> ifindex, when (Unix ms) and their counters
   * then (0 for a new device; a device moved in from another namespace brings its own).
   */
  private readonly births = new Map<string, { ifindex: number; atMs: number; packets: number }>();
  /** The last counters a link event gave per ifindex (a veth's RTM_DELLINK says 0). */
  private readonly lastPackets = new Map<number, number>();
  /** The ring settings the open handles were sized by. */
  private ringBudget: { total: number; cap: number };
  /** Failures since start, per reason (permission errors make the daemon give up at start). */
  permissionFailures = 0;

  constructor(private o: CaptureSetOptions) {
    this.ringBudget = { total: o.capture.totalBufferBytes, cap: o.capture.bufferBytes };
    this.nowMs = o.nowMs ?? Date.now;
    this.countersOf = o.countersOf ?? ((d) => readDeviceCounters(d));
    this.isUp = o.isUp ?? ((d) => deviceIsUp(d));
  }

  /** Makes the wanted devices the captured ones: opens new ones now, closes the unwanted. */
  sync(devices: readonly WantedDevice[]): void {
    const wanted = new Set(devices.map((d) => d.device));
    this.wantedCount = wanted.size;
    for (const [device, slot] of this.slots) {
      if (wanted.has(device)) continue;
      this.release(slot);
      this.slots.delete(device);
    }
    for (const { device, shared, overlay = false, sinceMs } of devices) {
      const known = this.slots.get(device);
      if (known !== undefined && known.shared === shared && known.overlay === overlay) continue;
      if (known !== undefined) this.release(known); // became shared, or no longer: reopen in the other mode
      const slot: DeviceSlot = {
        device,
        shared,
        overlay,
        sinceMs: sinceMs ?? this.nowMs(),
        source: null,
        ifindex: -1,
        options: null,
        opening: false,
        closedPackets: known?.closedPackets ?? 0,
        gap: null,
        settling: null,
        failures: 0,
        retryAtMs: 0,
        lastError: '',
      };
      this.slots.set(device, slot);
      const counters = this.countersOf(device);
      if (counters !== null) slot.gap = this.startGap(slot, counters);
      if (counters === null || this.isUp(device)) this.tryOpen(slot); // a missing device fails, logged, and is retried
    }
  }

  /**
   * New capture settings (reload): reopens only the open handles they concern: all of them for
   * another snaplen, filter or read pause; those whose ring share changes for other ring settings.
   */
  setCapture(capture: CaptureConfig, overlaySnaplenBytes: number): void {
    this.o = { ...this.o, capture, overlaySnaplenBytes };
    const reopened: string[] = [];
    for (const slot of this.slots.values()) {
      const was = slot.options;
      // The eBPF engine's hooks have no ring, snaplen, filter or read pause.
      if (slot.source === null || was === null || slot.source instanceof EbpfDeviceSource) continue;
      const next = this.optionsFor(slot);
      const sameRing =
        was.bufferBytes === next.bufferBytes ||
        (capture.totalBufferBytes === this.ringBudget.total && capture.bufferBytes === this.ringBudget.cap);
      if (
        was.snaplenBytes === next.snaplenBytes &&
        was.filter === next.filter &&
        was.readPauseMs === next.readPauseMs &&
        sameRing
      )
        continue;
      this.reopen(slot);
      reopened.push(slot.device);
    }
    this.ringBudget = { total: capture.totalBufferBytes, cap: capture.bufferBytes };
    if (reopened.length > 0)
      this.o.log.info({ devices: reopened }, 'capture settings changed: reopening the devices concerned');
  }

  /**
   * Link events (LinkWatch): a wanted device that appears or comes up is opened now (whatever its
   * backoff); one deleted has its handle read out and closed. `overflowed`: events were lost, so
   * every wanted device is looked at afresh.
   */
  onLinkEvents(events: readonly LinkEvent[], overflowed: boolean): void {
    let changed = false;
    const now = this.nowMs();
    for (const ev of events) {
      if (ev.kind === 'address') continue;
      if (ev.kind === 'new') {
        const born = this.births.get(ev.name);
        if (born === undefined || born.ifindex !== ev.ifindex)
          this.births.set(ev.name, { ifindex: ev.ifindex, atMs: now, packets: Math.max(0, ev.packets) });
        if (ev.packets > (this.lastPackets.get(ev.ifindex) ?? -1)) this.lastPackets.set(ev.ifindex, ev.packets);
      }
      const slot = this.slots.get(ev.name);
      if (slot === undefined) {
        if (ev.kind === 'del') this.lastPackets.delete(ev.ifindex);
        continue;
      }
      if (ev.kind === 'del') {
        changed =
          this.deviceGone(slot, ev.ifindex, Math.max(ev.packets, this.lastPackets.get(ev.ifindex) ?? 0)) || changed;
        this.lastPackets.delete(ev.ifindex);
        continue;
      }
      if (slot.source !== null && slot.ifindex !== ev.ifindex)
        changed = this.deviceGone(slot, slot.ifindex, -1) || changed; // its DEL was lost
      if (slot.source === null && !slot.opening) {
        if (slot.gap === null)
          slot.gap = this.startGap(slot, { ifindex: ev.ifindex, packets: Math.max(0, ev.packets) });
        else slot.gap.renew(ev.ifindex, this.births.get(ev.name)?.packets ?? 0);
        if (ev.up) {
          slot.retryAtMs = 0;
          this.tryOpen(slot);
        }
      }
    }
    if (overflowed) changed = this.resync() || changed;
    if (changed) this.announce();
  }

  /** Reopens failed devices whose backoff has passed and that can open (present and up). */
  retryDue(): void {
    const now = this.nowMs();
    for (const slot of this.slots.values()) {
      if (slot.source !== null || slot.opening || now < slot.retryAtMs) continue;
      const counters = this.countersOf(slot.device);
      if (counters !== null && !this.isUp(slot.device)) continue; // its link event opens it
      if (counters !== null && slot.gap === null) slot.gap = this.startGap(slot, counters);
      this.tryOpen(slot);
    }
  }

  /** Before a window closes: each gap's loss so far, from the devices' counters. */
  sampleGaps(): void {
    for (const slot of this.slots.values()) {
      if (slot.gap === null || slot.settling !== null) continue;
      const counters = this.countersOf(slot.device);
      if (counters === null) continue;
      const lost = slot.gap.sample(counters);
      if (lost > 0) this.o.onGapLoss(slot.device, lost);
    }
  }

  /** Resolves when no open is under way (every device wanted so far is open or failed). */
  settled(): Promise<void> {
    return this.opening === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The open source of `device`, if any. */
  source(device: string): DeviceSource | null {
    return this.slots.get(device)?.source ?? null;
  }

  /** Open shared devices (capture.devices). */
  sharedSources(): LiveCaptureSource[] {
    const out: LiveCaptureSource[] = [];
    for (const slot of this.slots.values())
      if (slot.shared && slot.source instanceof LiveCaptureSource) out.push(slot.source);
    return out;
  }

  /** Whether `source` is an overlay device's (its frames are decapsulated). */
  isOverlay(source: DeviceSource): boolean {
    for (const slot of this.slots.values()) if (slot.source === source) return slot.overlay;
    return false;
  }

  /** Open handles: ring bytes and frames read, per device. */
  handles(): CaptureHandleUsage[] {
    return [...this.slots.values()].map((s) => ({
      device: s.device,
      shared: s.shared,
      ringBytes: s.source?.ringBytes ?? 0,
      packets: s.closedPackets + (s.source?.packets ?? 0),
      ...engineOf(s.source),
    }));
  }

  /** Devices with an open handle, in the order they were wanted. */
  openDevices(): string[] {
    return [...this.slots.values()].filter((s) => s.source !== null).map((s) => s.device);
  }

  /** Devices wanted but not open, with why. */
  failedDevices(): Array<{ device: string; error: string; failures: number }> {
    return [...this.slots.values()]
      .filter((s) => s.source === null && !s.opening)
      .map((s) => ({ device: s.device, error: s.lastError, failures: s.failures }));
  }

  /** Reads what every handle has buffered (before a window closes), and settles opened gaps. */
  drainAll(): void {
    for (const slot of this.slots.values()) {
      slot.source?.readAvailable();
      if (slot.settling !== null) this.settle(slot);
    }
    for (const source of this.draining.keys()) source.readAvailable();
  }

  /**
   * Reads out and closes every handle (in parallel, on worker threads), each read once more after
   * the read timeout; opens under way are closed as they finish.
   */
  async closeAll(): Promise<void> {
    for (const slot of this.slots.values()) this.release(slot);
    this.slots.clear();
    await Promise.all(this.draining.values());
    await this.settled();
  }

  /** Frames read from every device since the set was made. */
  framesRead(): number {
    let n = this.retiredPackets;
    for (const s of this.slots.values()) n += s.closedPackets + (s.source?.packets ?? 0);
    for (const source of this.draining.keys()) n += source.packets;
    return n;
  }

  private optionsFor(slot: DeviceSlot): LiveCaptureOptions {
    const c = this.o.capture;
    return {
      device: slot.device,
      snaplenBytes: slot.overlay ? this.o.overlaySnaplenBytes : c.snaplenBytes,
      bufferBytes: ringShareBytes(c.totalBufferBytes, this.wantedCount, c.bufferBytes),
      filter: c.filter,
      bufferTimeoutMs: this.o.bufferTimeoutMs,
      shared: slot.shared,
      readPauseMs: c.readPauseMs,
    };
  }

  /** A gap of `slot` from now, or from when its device appeared if that was after it was wanted. */
  private startGap(slot: DeviceSlot, counters: DeviceCounters): DeviceGap {
    const born = this.births.get(slot.device);
    const appearedSinceWanted = born !== undefined && born.ifindex === counters.ifindex && born.atMs >= slot.sinceMs;
    return new DeviceGap(counters, appearedSinceWanted ? born.packets : null, this.nowMs());
  }

  /**
   * The device instance `ifindex` of `slot` was deleted (`lastPackets` its last known counters,
   * -1 unknown): its handle is read out and closed, an open gap ends. Returns whether a handle closed.
   */
  private deviceGone(slot: DeviceSlot, ifindex: number, lastPackets: number): boolean {
    if (slot.gap !== null && slot.gap.deviceIfindex === ifindex) {
      if (lastPackets >= 0) this.reportGap(slot, slot.gap.sample({ ifindex, packets: lastPackets }));
      this.endGap(slot);
    }
    const source = slot.source;
    if (source === null || slot.ifindex !== ifindex) return false;
    slot.source = null;
    slot.options = null;
    this.o.log.info({ device: slot.device }, 'capture device deleted: reading out its ring');
    this.drainThenClose(slot, source);
    return true;
  }

  /** A slot no longer wanted: its handle is read out and closed; a gap's loss so far is counted. */
  private release(slot: DeviceSlot): void {
    if (slot.settling !== null) this.settle(slot);
    if (slot.gap !== null) {
      const counters = this.countersOf(slot.device);
      if (counters !== null) this.reportGap(slot, slot.gap.sample(counters));
      this.endGap(slot);
    }
    const source = slot.source;
    slot.source = null;
    if (source !== null) this.drainThenClose(slot, source);
  }

  /** Closes the open handle now (its device stays wanted): a gap starts until the next open. */
  private reopen(slot: DeviceSlot, retry = false): void {
    const source = slot.source;
    if (source === null) return;
    if (slot.settling !== null) this.settle(slot);
    const counters = this.countersOf(slot.device);
    const watch = counters === null ? null : source.watchStamps(realtimeUs());
    source.readAvailable();
    source.endStampWatch();
    slot.closedPackets += source.packets;
    slot.source = null;
    slot.options = null;
    void source.closeAsync();
    if (counters !== null) slot.gap = DeviceGap.afterClose(counters, watch, this.nowMs());
    if (!retry) this.tryOpen(slot);
  }

  /** Reads `source` once more after the read timeout (the ring's last block), then closes it. */
  private drainThenClose(slot: DeviceSlot, source: DeviceSource): void {
    // The eBPF engine's hooks have no ring to read out: detached at once (a device wanted again
    // right away can then be attached again).
    const waitMs = source instanceof EbpfDeviceSource ? 0 : this.o.bufferTimeoutMs + source.readPauseMs + 50;
    const done = new Promise<void>((resolve) => setTimeout(resolve, waitMs)).then(() => {
      source.readAvailable();
      this.draining.delete(source);
      if (this.slots.get(slot.device) === slot) slot.closedPackets += source.packets;
      else this.retiredPackets += source.packets;
      return source.closeAsync();
    });
    this.draining.set(source, done);
    this.o.log.info({ device: slot.device }, 'capture stopped');
  }

  /**
   * Starts opening the slot's device on a worker thread. When it opens and is still wanted, the
   * owner binds it (onOpened), it starts reading, and a gap ends; a failure is logged and retried
   * with backoff.
   */
  private tryOpen(slot: DeviceSlot): void {
    if (slot.opening || slot.source !== null) return;
    const options = this.optionsFor(slot);
    const onFailure = (s: DeviceSource, error: Error): void => this.onReadFailure(slot, s, error);
    const source: DeviceSource =
      (slot.shared ? null : (this.o.ebpfSourceFor?.(slot.device, onFailure) ?? null)) ??
      new LiveCaptureSource(options, onFailure);
    slot.opening = true;
    this.opening++;
    source
      .openAsync()
      .then(
        () => {
          if (this.slots.get(slot.device) !== slot) return source.closeAsync(); // no longer wanted
          // The stamp first: a packet counted by the device but stamped after it (in flight at
          // the read) is counted lost, never the other way round.
          const atUs = realtimeUs();
          const counters = this.countersOf(slot.device);
          if (counters === null) return source.closeAsync(); // deleted while opening: its link event reopens
          slot.source = source;
          slot.ifindex = counters.ifindex;
          slot.options = options;
          markOpened(slot, slot.device, this.o.log);
          this.o.onOpened(slot.device, source);
          if (slot.gap !== null) {
            source.watchStamps(atUs);
            // Settled once the records stamped before the counters were read have been read.
            const timer = setTimeout(
              () => {
                source.readAvailable();
                this.settle(slot);
              },
              this.o.bufferTimeoutMs + source.readPauseMs + 50,
            );
            slot.settling = { counters, timer };
          }
          source.start();
          this.o.log.info(
            {
              device: slot.device,
              ...(source instanceof EbpfDeviceSource
                ? source.engineInfo
                : {
                    engine: 'libpcap',
                    linkType: source.linkType,
                    ringBytes: options.bufferBytes,
                    readPauseMs: source.readPauseMs,
                    ...source.segmentation,
                  }),
              ...(slot.shared ? { shared: true } : {}),
              ...(slot.overlay ? { overlay: true } : {}),
            },
            'capture started',
          );
          if (!(source instanceof EbpfDeviceSource) && !usableMtu(source.segmentation.mtu))
            this.o.log.warn(
              { device: slot.device, mtu: source.segmentation.mtu },
              'capture device has no usable MTU: a frame larger than capture.mtuBytes counts as one packet unless the kernel says how it is segmented',
            );
          this.announce();
        },
        (err: unknown) => {
          source.close();
          if (this.slots.get(slot.device) !== slot) return;
          const message = openFailureMessage(slot.device, err);
          if (/permission|not permitted/i.test(message)) this.permissionFailures++;
          scheduleRetry(slot, slot.device, message, this.nowMs(), this.o.log);
        },
      )
      .finally(() => {
        slot.opening = false;
        if (--this.opening === 0) for (const resolve of this.waiters.splice(0)) resolve();
      });
  }

  /** The gap that ended at the open: counted now, the records stamped before it excluded. */
  private settle(slot: DeviceSlot): void {
    const s = slot.settling;
    if (s === null) return;
    clearTimeout(s.timer);
    slot.settling = null;
    const seen = slot.source?.endStampWatch()?.atOrBefore ?? 0;
    if (slot.gap !== null) this.reportGap(slot, slot.gap.endAtOpen(s.counters, seen));
    this.endGap(slot);
  }

  private reportGap(slot: DeviceSlot, lost: number): void {
    if (lost > 0) this.o.onGapLoss(slot.device, lost);
  }

  /** Logs a gap that lost packets, once, as it ends. */
  private endGap(slot: DeviceSlot): void {
    const gap = slot.gap;
    slot.gap = null;
    if (gap === null || gap.lost === 0) return;
    this.o.log.warn(
      { device: slot.device, lostPackets: gap.lost, gapMs: this.nowMs() - gap.sinceMs },
      `capture gap on ${slot.device}: ${gap.lost} packets the device carried were not captured (SKIPDATA)`,
    );
  }

  /** After lost link events: every wanted device's instance compared with the handle's. */
  private resync(): boolean {
    let changed = false;
    for (const slot of this.slots.values()) {
      const counters = this.countersOf(slot.device);
      if (slot.source !== null && (counters === null || counters.ifindex !== slot.ifindex))
        changed = this.deviceGone(slot, slot.ifindex, -1) || changed;
      if (slot.source === null && !slot.opening && counters !== null) {
        if (slot.gap === null) slot.gap = this.startGap(slot, counters);
        if (this.isUp(slot.device)) this.tryOpen(slot);
      }
    }
    return changed;
  }

  /** Tells the owner, once per event-loop turn, that devices opened or closed (outside any read). */
  private announce(): void {
    if (this.announcing) return;
    this.announcing = true;
    setImmediate(() => {
      this.announcing = false;
      this.o.onOpenSetChanged();
    });
  }

  /**
   * A read failed (inside the read: nothing structural here). The device gone, or replaced by
   * another of its name: the handle is read out and closed. Still there: closed now, a gap
   * counted, and reopened with backoff.
   */
  private onReadFailure(slot: DeviceSlot, source: DeviceSource, error: Error): void {
    if (slot.source !== source) return;
    setImmediate(() => {
      if (slot.source !== source) return; // its link event came first
      const counters = this.countersOf(slot.device);
      if (counters === null || counters.ifindex !== slot.ifindex) {
        this.deviceGone(slot, slot.ifindex, -1);
        if (counters !== null && this.isUp(slot.device)) {
          slot.gap = this.startGap(slot, counters);
          this.tryOpen(slot);
        }
      } else {
        this.reopen(slot, true);
        scheduleRetry(slot, slot.device, error.message, this.nowMs(), this.o.log);
      }
      this.announce();
    });
  }
}

function engineOf(source: DeviceSource | null): { engine: '' | 'libpcap' | 'ebpf'; hook: string } {
  if (source === null) return { engine: '', hook: '' };
  return source instanceof EbpfDeviceSource ? source.engineInfo : { engine: 'libpcap', hook: '' };
}
