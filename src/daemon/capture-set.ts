import { LiveCaptureSource, type CaptureDeviceError, type LiveCaptureOptions } from '../capture/live-source';
import type { CaptureConfig } from '../config/types';
import type { Logger } from '../log';
import { markOpened, openFailureMessage, scheduleRetry, type HandleRetryState } from './handle-retry';

interface DeviceSlot extends HandleRetryState {
  device: string;
  source: LiveCaptureSource | null;
}

export interface CaptureSetOptions {
  capture: CaptureConfig;
  /** libpcap read timeout (see LiveCaptureOptions.bufferTimeoutMs). */
  bufferTimeoutMs: number;
  log: Logger;
  /** Called (outside any packet callback) when the set of open devices changed by itself. */
  onOpenSetChanged: () => void;
  nowMs?: () => number;
}

/**
 * The live handles of the daemon, one per wanted device. A device that cannot be opened, or
 * fails while read, is logged by name and retried with exponential backoff; the others keep
 * running. Owns its sources: `sync` and `closeAll` are the only ways handles are closed.
 */
export class CaptureSet {
  private readonly slots = new Map<string, DeviceSlot>();
  private readonly nowMs: () => number;
  /** Failures since start, per reason (permission errors make the daemon give up at start). */
  permissionFailures = 0;

  constructor(private readonly o: CaptureSetOptions) {
    this.nowMs = o.nowMs ?? Date.now;
  }

  /** Makes the wanted devices the captured ones: opens new ones now, closes the unwanted. */
  sync(devices: readonly string[]): void {
    const wanted = new Set(devices);
    for (const [device, slot] of this.slots) {
      if (wanted.has(device)) continue;
      if (slot.source !== null) {
        slot.source.readAvailable();
        slot.source.close();
        this.o.log.info({ device }, 'capture stopped');
      }
      this.slots.delete(device);
    }
    for (const device of devices) {
      if (this.slots.has(device)) continue;
      const slot: DeviceSlot = { device, source: null, failures: 0, retryAtMs: 0, lastError: '' };
      this.slots.set(device, slot);
      this.tryOpen(slot);
    }
  }

  /** Reopens failed devices whose backoff has passed; returns whether any opened. */
  retryDue(): boolean {
    const now = this.nowMs();
    let opened = false;
    for (const slot of this.slots.values()) {
      if (slot.source === null && now >= slot.retryAtMs && this.tryOpen(slot)) opened = true;
    }
    return opened;
  }

  /** The open source of `device`, if any. */
  source(device: string): LiveCaptureSource | null {
    return this.slots.get(device)?.source ?? null;
  }

  /** Devices with an open handle, in the order they were wanted. */
  openDevices(): string[] {
    return [...this.slots.values()].filter((s) => s.source !== null).map((s) => s.device);
  }

  /** Devices wanted but not open, with why. */
  failedDevices(): Array<{ device: string; error: string; failures: number }> {
    return [...this.slots.values()].filter((s) => s.source === null).map((s) => ({ device: s.device, error: s.lastError, failures: s.failures }));
  }

  /** Reads what every handle has buffered (before a window closes or the pipeline changes). */
  drainAll(): void {
    for (const slot of this.slots.values()) slot.source?.readAvailable();
  }

  closeAll(): void {
    for (const slot of this.slots.values()) {
      if (slot.source === null) continue;
      slot.source.readAvailable();
      slot.source.close();
    }
    this.slots.clear();
  }

  private tryOpen(slot: DeviceSlot): boolean {
    const c = this.o.capture;
    const options: LiveCaptureOptions = {
      device: slot.device,
      snaplenBytes: c.snaplenBytes,
      bufferBytes: c.bufferBytes,
      filter: c.filter,
      bufferTimeoutMs: this.o.bufferTimeoutMs,
    };
    const source = new LiveCaptureSource(options, (s, error) => this.onReadFailure(slot, s, error));
    try {
      source.open();
      source.start();
    } catch (err) {
      source.close();
      const message = openFailureMessage(slot.device, err);
      if (/permission|not permitted/i.test(message)) this.permissionFailures++;
      scheduleRetry(slot, slot.device, message, this.nowMs(), this.o.log);
      return false;
    }
    slot.source = source;
    markOpened(slot, slot.device, this.o.log);
    this.o.log.info({ device: slot.device, linkType: source.linkType }, 'capture started');
    return true;
  }

  private onReadFailure(slot: DeviceSlot, source: LiveCaptureSource, error: CaptureDeviceError): void {
    if (slot.source !== source) return;
    slot.source = null;
    scheduleRetry(slot, slot.device, error.message, this.nowMs(), this.o.log);
    // Not from inside the read: the owner rebuilds the pipeline, which must not happen mid-dispatch.
    setImmediate(this.o.onOpenSetChanged);
  }
}
