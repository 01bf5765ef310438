import type { CaptureStats } from '../capture-source';

/** pcap_stat fields are u_int and wrap; drop deltas are taken modulo 2^32. */
const U32 = 0x1_0000_0000;

/** Cumulative libpcap statistics of a handle since it was opened (the contract's CaptureStats). */
export type LiveCaptureStats = CaptureStats;

/**
 * Turns libpcap's cumulative, wrapping drop counters into "dropped since the last call", the
 * figure that becomes SKIPDATA. Shared by both live handle kinds.
 */
export class DropDelta {
  private lastKernel = 0;
  private lastInterface = 0;

  /** Starts counting from `s` (the handle was just opened). */
  reset(s: LiveCaptureStats | null): void {
    this.lastKernel = s?.droppedKernel ?? 0;
    this.lastInterface = s?.droppedInterface ?? 0;
  }

  /** Drops (kernel + interface) since the previous call or reset; 0 when `s` is null (closed). */
  take(s: LiveCaptureStats | null): number {
    if (s === null) return 0;
    const kernel = (s.droppedKernel - this.lastKernel + U32) % U32;
    const iface = (s.droppedInterface - this.lastInterface + U32) % U32;
    this.lastKernel = s.droppedKernel;
    this.lastInterface = s.droppedInterface;
    return kernel + iface;
  }
}
