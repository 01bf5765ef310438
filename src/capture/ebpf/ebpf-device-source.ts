import { readDeviceCounters } from '../live/link-watch';
import type { StampWatch } from '../live/live-source';
import type { EbpfFlowEngine } from './ebpf-engine';
import { EbpfEngineError } from './ebpf-engine';

/** What the engine's owner keeps per slot for the device sources (filled by its drains). */
export interface EbpfSlotCounts {
  /** Per slot: packets recorded as flows since the engine opened. */
  readonly packetsBySlot: Float64Array;
  /** Per slot: SKIPDATA packets (the program's loss counters) since the engine opened. */
  readonly lostBySlot: Float64Array;
}

/**
 * One ENI device hooked to the eBPF engine, with the lifecycle and counters of a live capture
 * handle (LiveCaptureSource), so the daemon's CaptureSet opens, retries, closes and gap-counts it
 * the same way: `openAsync` attaches the program to the device's TC hooks for the ENI's slot,
 * `closeAsync` detaches it. No frame reaches user space: reads are the engine's drains (its
 * owner's, every second, for every device at once), so `readAvailable` and `start` do nothing,
 * and the slot's SKIPDATA loss goes to the windows at each drain (its owner charges it by slot, so
 * a closing or closed device's last loss still lands), not through `takeDrops`.
 *
 * The slot is fixed at open (`slotOf(device)` then): binding the source to another ENI index
 * fails it, and the owner reopens it under the new index.
 */
export class EbpfDeviceSource {
  failure: Error | null = null;
  private slot = -1;
  private ifindex = -1;
  private hook: 'tcx' | 'clsact' | '' = '';
  private packetsAtOpen = 0;
  private lostAtOpen = 0;
  private attached = false;

  constructor(
    readonly device: string,
    private readonly engine: EbpfFlowEngine,
    private readonly counts: EbpfSlotCounts,
    private readonly slotOf: (device: string) => number,
    private readonly onFailure: (source: EbpfDeviceSource, error: EbpfEngineError) => void,
  ) {}

  /** How the device is hooked, for `capture started` and status. */
  get engineInfo(): { engine: 'ebpf'; hook: 'tcx' | 'clsact' | '' } {
    return { engine: 'ebpf', hook: this.hook };
  }

  readonly ringBytes = 0;
  readonly readPauseMs = 0;
  readonly linkType = 1;

  /** Ethernet devices: the kernel's own segmentation (gso_segs), never derived. */
  get segmentation(): { mtu: number; segments: 'kernel' | 'derived' } {
    return { mtu: 0, segments: 'kernel' };
  }

  /** Packets of the ENI recorded as flows since this source attached. */
  get packets(): number {
    return this.slot < 0 ? 0 : this.counts.packetsBySlot[this.slot] - this.packetsAtOpen;
  }

  async openAsync(): Promise<void> {
    const slot = this.slotOf(this.device);
    if (slot < 0) throw new EbpfEngineError(`attach eBPF program to ${this.device}: the device has no ENI slot`);
    const counters = readDeviceCounters(this.device);
    if (counters === null) throw new EbpfEngineError(`attach eBPF program to ${this.device}: no such device`);
    const result = await this.engine.attach(counters.ifindex, { slot, shared: false });
    this.slot = slot;
    this.ifindex = counters.ifindex;
    this.hook = result.mode;
    this.packetsAtOpen = this.counts.packetsBySlot[slot];
    this.lostAtOpen = this.counts.lostBySlot[slot];
    this.attached = true;
  }

  /** The slot is the ENI index: a source bound under another index fails and is reopened. */
  bind(_recorder: unknown, eni: number): void {
    if (eni === this.slot || this.failure !== null) return;
    const error = new EbpfEngineError(
      `attach eBPF program to ${this.device}: its ENI index changed from ${this.slot} to ${eni}`,
    );
    this.failure = error;
    this.onFailure(this, error);
  }

  start(): void {}

  readAvailable(): void {}

  /** Nothing: the drains charge the slot's loss to the windows themselves. */
  takeDrops(): number {
    return 0;
  }

  /** As a capture handle's: the engine's SKIPDATA loss stands for the ring's drops. */
  stats(): { received: number; droppedKernel: number; droppedInterface: number } {
    const lost = this.slot < 0 ? 0 : this.counts.lostBySlot[this.slot] - this.lostAtOpen;
    return { received: this.packets, droppedKernel: lost, droppedInterface: 0 };
  }

  /** No stamps to watch: a gap's edge counts every packet the device carried as lost (never less). */
  watchStamps(atUs: number): StampWatch {
    return { atSec: Math.floor(atUs / 1e6), atUsec: atUs % 1e6, atOrBefore: 0, after: 0 };
  }

  endStampWatch(): StampWatch | null {
    return null;
  }

  close(): void {
    void this.closeAsync().catch(() => undefined);
  }

  async closeAsync(): Promise<void> {
    if (!this.attached) return;
    this.attached = false;
    try {
      await this.engine.detach(this.ifindex);
    } catch {
      // The device is gone (its hooks with it), or the engine closed (it detaches everything).
    }
  }
}
