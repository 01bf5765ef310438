import { performance } from 'node:perf_hooks';
import type { DeviceCounters } from '../capture/live/link-watch';
import type { StampWatch } from '../capture/live/live-source';

/**
 * A capture gap of one wanted device: it exists but is not captured (not yet open, reopening,
 * failing). What it carries meanwhile is lost to the flow records and is counted from the
 * device's own counters (`/sys/class/net/<dev>/statistics` rx_packets + tx_packets):
 *
 *   gap start  base = counters then, or for a device that appeared after its ENI was wanted its
 *              counters when it appeared (0 for a new device: everything it carried since its
 *              creation was the daemon's to capture), plus the records the closing capture still
 *              read stamped after that instant
 *   window     at each window close the counters are read again: the growth is that window's loss
 *   gap end    a capture opens: the counters at that instant, less the records the new capture
 *              reads stamped at or before it; or the device is deleted: its last known counters
 *
 * so the packets counted lost are exactly those no capture read, up to the few microseconds
 * between a counter read and its timestamp. Counters are per device instance (ifindex): a
 * device re-created in between restarts from 0.
 */
export class DeviceGap {
  /** Packets counted lost so far (reported), for the log line at the end. */
  lost = 0;
  /** Counter value up to which loss has been counted, of device instance `ifindex`. */
  private base: number;
  private ifindex: number;

  constructor(
    counters: DeviceCounters,
    /** Count from this counter value (the device's when it appeared) rather than `counters.packets`. */
    baseFrom: number | null,
    readonly sinceMs: number,
  ) {
    this.ifindex = counters.ifindex;
    this.base = baseFrom ?? counters.packets;
  }

  /**
   * A gap that starts as a capture closes on a device that stays: the records that capture read
   * stamped after the counters were read (`closing.after`) were not lost.
   */
  static afterClose(counters: DeviceCounters, closing: StampWatch | null, nowMs: number): DeviceGap {
    const gap = new DeviceGap(counters, null, nowMs);
    gap.base += closing?.after ?? 0;
    return gap;
  }

  /** The counters now: returns the packets lost since the last look (0 for another device instance: see `renew`). */
  sample(now: DeviceCounters): number {
    if (now.ifindex !== this.ifindex) return 0;
    const lost = Math.max(0, now.packets - this.base);
    this.base = Math.max(this.base, now.packets);
    this.lost += lost;
    return lost;
  }

  /** The device was re-created meanwhile (another ifindex): count its packets from `base` (0: its creation). */
  renew(ifindex: number, base = 0): void {
    if (ifindex === this.ifindex) return;
    this.ifindex = ifindex;
    this.base = base;
  }

  /** Device instance the gap counts. */
  get deviceIfindex(): number {
    return this.ifindex;
  }

  /**
   * The gap ends as a capture opens: `atOpen` the counters read right after it opened, `seen`
   * the records it read stamped at or before that read. Returns the packets lost since the last
   * look.
   */
  endAtOpen(atOpen: DeviceCounters, seen: number): number {
    this.renew(atOpen.ifindex);
    const lost = Math.max(0, atOpen.packets - seen - this.base);
    this.lost += lost;
    return lost;
  }
}

/** Re-calibrate the microsecond wall clock this often (a slewing clock drifts at most 0.05%). */
const CALIBRATE_EVERY_MS = 60_000;
let calibratedAtMs = -Infinity;
let offsetUs = 0;

/**
 * The wall clock in microseconds, as the kernel stamps packets (CLOCK_REALTIME): Date.now() has
 * milliseconds only, so the monotonic clock is pinned to the instant Date.now() ticks (a spin of
 * at most 1 ms, once a minute). A gap's edge compares packet stamps with it.
 */
export function realtimeUs(): number {
  const now = performance.now();
  if (now - calibratedAtMs > CALIBRATE_EVERY_MS) {
    const start = Date.now();
    let tick = Date.now();
    while (tick === start) tick = Date.now();
    const at = performance.now();
    offsetUs = tick * 1000 - at * 1000;
    calibratedAtMs = at;
    return Math.round(performance.now() * 1000 + offsetUs);
  }
  return Math.round(now * 1000 + offsetUs);
}
