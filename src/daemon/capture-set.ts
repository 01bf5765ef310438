import { LiveCaptureSource, type CaptureDeviceError, type LiveCaptureOptions } from '../capture/live-source';
import { ringShareBytes } from '../capture/ring-share';
import type { CaptureConfig } from '../config/types';
import { usableMtu } from '../decode/super-frame';
import type { Logger } from '../log';
import { markOpened, openFailureMessage, scheduleRetry, type HandleRetryState } from './handle-retry';

interface DeviceSlot extends HandleRetryState {
  device: string;
  /** Shared by many ENIs (capture.devices): promiscuous, frames counted by address. */
  shared: boolean;
  /** Carries the VPC overlay (overlay.devices): shared, tunnels opened, a longer snaplen. */
  overlay: boolean;
  source: LiveCaptureSource | null;
  /** An open is under way (on a worker thread). */
  opening: boolean;
  /** Frames read by the slot's earlier (closed) sources. */
  closedPackets: number;
}

/** A device the daemon wants captured. */
export interface WantedDevice {
  device: string;
  shared: boolean;
  /** Carries the VPC overlay (implies shared). */
  overlay?: boolean;
}

/** One open handle, for metrics. */
export interface CaptureHandleUsage {
  device: string;
  shared: boolean;
  ringBytes: number;
  /** Frames read from the device since the daemon started (all its handles). */
  packets: number;
}

export interface CaptureSetOptions {
  capture: CaptureConfig;
  /** Snaplen of overlay devices (outer and inner headers). */
  overlaySnaplenBytes: number;
  /** libpcap read timeout (see LiveCaptureOptions.bufferTimeoutMs). */
  bufferTimeoutMs: number;
  log: Logger;
  /** Called (outside any packet callback) when the set of open devices changed by itself. */
  onOpenSetChanged: () => void;
  nowMs?: () => number;
}

/**
 * The live handles of the daemon, one per wanted device (an ENI's own, or one shared by many
 * ENIs). A device that cannot be opened, or fails while read, is logged by name and retried with
 * exponential backoff; the others keep running. Owns its sources: `sync` and `closeAll` are the
 * only ways handles are closed.
 *
 * Ring memory: each handle opened gets `capture.totalBufferBytes` / (devices wanted then), see
 * ringShareBytes. Handles already open keep their ring when the count changes (reopening one
 * would lose its packets in between); the next capture change (reload) divides afresh.
 */
export class CaptureSet {
  private readonly slots = new Map<string, DeviceSlot>();
  private readonly nowMs: () => number;
  /** Frames read by devices no longer wanted (their slots are gone). */
  private retiredPackets = 0;
  /** Opens under way, and who waits for them to finish (see `settled`). */
  private opening = 0;
  private readonly waiters: Array<() => void> = [];
  private announcing = false;
  /** Devices the last `sync` wanted: the divisor of the ring budget. */
  private wantedCount = 0;
  /** Failures since start, per reason (permission errors make the daemon give up at start). */
  permissionFailures = 0;

  constructor(private readonly o: CaptureSetOptions) {
    this.nowMs = o.nowMs ?? Date.now;
  }

  /** Makes the wanted devices the captured ones: opens new ones now, closes the unwanted. */
  sync(devices: readonly WantedDevice[]): void {
    const wanted = new Set(devices.map((d) => d.device));
    this.wantedCount = wanted.size;
    for (const [device, slot] of this.slots) {
      if (wanted.has(device)) continue;
      this.stop(slot);
      this.retiredPackets += slot.closedPackets;
      this.slots.delete(device);
    }
    for (const { device, shared, overlay = false } of devices) {
      const known = this.slots.get(device);
      if (known !== undefined && known.shared === shared && known.overlay === overlay) continue;
      if (known !== undefined) this.stop(known); // became shared, or no longer: reopen in the other mode
      const slot: DeviceSlot = { device, shared, overlay, source: null, opening: false, closedPackets: known?.closedPackets ?? 0, failures: 0, retryAtMs: 0, lastError: '' };
      this.slots.set(device, slot);
      this.tryOpen(slot);
    }
  }

  /** Reopens failed devices whose backoff has passed (opens that succeed call onOpenSetChanged). */
  retryDue(): void {
    const now = this.nowMs();
    for (const slot of this.slots.values()) {
      if (slot.source === null && !slot.opening && now >= slot.retryAtMs) this.tryOpen(slot);
    }
  }

  /** Resolves when no open is under way (every device wanted so far is open or failed). */
  settled(): Promise<void> {
    return this.opening === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The open source of `device`, if any. */
  source(device: string): LiveCaptureSource | null {
    return this.slots.get(device)?.source ?? null;
  }

  /** Open shared devices (capture.devices). */
  sharedSources(): LiveCaptureSource[] {
    const out: LiveCaptureSource[] = [];
    for (const slot of this.slots.values()) if (slot.shared && slot.source !== null) out.push(slot.source);
    return out;
  }

  /** Whether `source` is an overlay device's (its frames are decapsulated). */
  isOverlay(source: LiveCaptureSource): boolean {
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
    }));
  }

  /** Devices with an open handle, in the order they were wanted. */
  openDevices(): string[] {
    return [...this.slots.values()].filter((s) => s.source !== null).map((s) => s.device);
  }

  /** Devices wanted but not open, with why. */
  failedDevices(): Array<{ device: string; error: string; failures: number }> {
    return [...this.slots.values()].filter((s) => s.source === null && !s.opening).map((s) => ({ device: s.device, error: s.lastError, failures: s.failures }));
  }

  /** Reads what every handle has buffered (before a window closes or the pipeline changes). */
  drainAll(): void {
    for (const slot of this.slots.values()) slot.source?.readAvailable();
  }

  /** Reads out and closes every handle (in parallel, on worker threads); opens under way are closed as they finish. */
  async closeAll(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      closing.push(this.stop(slot, false));
      this.retiredPackets += slot.closedPackets;
    }
    this.slots.clear();
    await Promise.all(closing);
    await this.settled();
  }

  /** Frames read from every device since the set was made. */
  framesRead(): number {
    let n = this.retiredPackets;
    for (const s of this.slots.values()) n += s.closedPackets + (s.source?.packets ?? 0);
    return n;
  }

  /** Reads what the slot's handle holds and closes it. */
  private stop(slot: DeviceSlot, log = true): Promise<void> {
    const source = slot.source;
    if (source === null) return Promise.resolve();
    source.readAvailable();
    slot.closedPackets += source.packets;
    slot.source = null;
    if (log) this.o.log.info({ device: slot.device }, 'capture stopped');
    return source.closeAsync();
  }

  /**
   * Starts opening the slot's device on a worker thread. When it opens and is still wanted, it
   * starts reading and the owner hears of it (onOpenSetChanged, once for many that open
   * together); a failure is logged and retried with backoff.
   */
  private tryOpen(slot: DeviceSlot): void {
    const c = this.o.capture;
    const options: LiveCaptureOptions = {
      device: slot.device,
      snaplenBytes: slot.overlay ? this.o.overlaySnaplenBytes : c.snaplenBytes,
      bufferBytes: ringShareBytes(c.totalBufferBytes, this.wantedCount, c.bufferBytes),
      filter: c.filter,
      bufferTimeoutMs: this.o.bufferTimeoutMs,
      shared: slot.shared,
      readPauseMs: c.readPauseMs,
    };
    const source = new LiveCaptureSource(options, (s, error) => this.onReadFailure(slot, s, error));
    slot.opening = true;
    this.opening++;
    source
      .openAsync()
      .then(
        () => {
          if (this.slots.get(slot.device) !== slot) return source.closeAsync(); // no longer wanted
          source.start();
          slot.source = source;
          markOpened(slot, slot.device, this.o.log);
          this.o.log.info({ device: slot.device, linkType: source.linkType, ringBytes: options.bufferBytes, readPauseMs: source.readPauseMs, ...source.segmentation, ...(slot.shared ? { shared: true } : {}), ...(slot.overlay ? { overlay: true } : {}) }, 'capture started');
          if (!usableMtu(source.segmentation.mtu)) this.o.log.warn({ device: slot.device, mtu: source.segmentation.mtu }, 'capture device has no usable MTU: a frame larger than capture.mtuBytes counts as one packet unless the kernel says how it is segmented');
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

  /** Tells the owner, once per event-loop turn, that devices opened (outside any read). */
  private announce(): void {
    if (this.announcing) return;
    this.announcing = true;
    setImmediate(() => {
      this.announcing = false;
      this.o.onOpenSetChanged();
    });
  }

  private onReadFailure(slot: DeviceSlot, source: LiveCaptureSource, error: CaptureDeviceError): void {
    if (slot.source !== source) return;
    slot.source = null;
    slot.closedPackets += source.packets;
    scheduleRetry(slot, slot.device, error.message, this.nowMs(), this.o.log);
    // Not from inside the read: the owner rebuilds the pipeline, which must not happen mid-dispatch.
    setImmediate(this.o.onOpenSetChanged);
  }
}
