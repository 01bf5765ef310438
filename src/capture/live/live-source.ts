import type { ChunkConsumer, LiveSource } from '../capture-source';
import { isSupportedLinkType } from '../link-types';
import { CHUNK_BYTES } from '../file/capture-file-reader';
import { ChunkHandle } from './chunk-handle';
import type { LiveCaptureStats } from './drop-delta';
import { CaptureDeviceError } from './live-handle';

export { CaptureDeviceError } from './live-handle';
export type { LiveCaptureStats } from './drop-delta';

/** How one live handle is opened. */
export interface LiveCaptureOptions {
  /** Network device, e.g. `eth1`. */
  device: string;
  snaplenBytes: number;
  /** Kernel ring size; libpcap may round it, the kernel may cap it. */
  bufferBytes: number;
  /** BPF expression; '' captures everything. */
  filter: string;
  /**
   * libpcap read timeout, above 0. With TPACKET_V3 the kernel hands over a block when it fills
   * or when this expires, so it bounds how late a packet reaches the flow table.
   */
  bufferTimeoutMs: number;
  /** A device shared by many ENIs (frames counted by address, device promiscuous). */
  shared?: boolean;
  /** Longest pause after a read before the device is polled again (capture.readPauseMs). */
  readPauseMs?: number;
}

/** Where unbound sources read to, so their ring still drains. */
let scratch: Buffer | null = null;

/**
 * One live libpcap handle on a device: an ENI's own device, or a device shared by many ENIs.
 * Each poll wake-up copies every frame the kernel holds into the recorder's chunk in one native
 * call (ChunkHandle) and hands the chunk to the ChunkConsumer (WebAssembly kernel, TypeScript
 * for what it leaves).
 *
 * Lifecycle: `open()` (throws CaptureDeviceError) → `bind()` → `start()` → any number of
 * `bind()` (pipeline rebuilt) and `takeDrops()` → `close()`. A read error (the device went away)
 * is reported once and closes nothing: the frames the kernel still retires into the ring (its
 * last block, within the read timeout) are read by later `readAvailable` calls until the owner
 * closes the source.
 *
 * Ownership: the source owns its ChunkHandle; the ChunkConsumer is borrowed and may be swapped
 * with `bind` between reads.
 */
export class LiveCaptureSource implements LiveSource {
  readonly device: string;
  /** libpcap DLT of the opened handle; -1 before open. */
  linkType = -1;
  /** Frames read from the handle. */
  packets = 0;
  private packetsAtDrops = 0;
  private readonly handle: ChunkHandle;
  private recorder: ChunkConsumer | null = null;
  /** The ENI this device belongs to; -1 for a shared device. */
  private eni = -1;
  private readonly onReadable: () => void;
  /** Set when a read fails (device gone); the owner decides whether to reopen. */
  failure: CaptureDeviceError | null = null;
  /** While set, records read are counted by time against it (see watchStamps). */
  private stamps: StampWatch | null = null;

  constructor(
    private readonly options: LiveCaptureOptions,
    /** Called once when reading fails after start (the device went away). */
    private readonly onFailure?: (source: LiveCaptureSource, error: CaptureDeviceError) => void,
  ) {
    this.device = options.device;
    this.handle = new ChunkHandle(options.device);
    this.onReadable = () => this.readAvailable();
  }

  /** Ring bytes asked of libpcap. */
  get ringBytes(): number {
    return this.handle.ringBytes;
  }

  /** The pause after each read (capture.readPauseMs cut to the ring), for the start log. */
  get readPauseMs(): number {
    return this.handle.pauseMs;
  }

  /** The device's MTU at open (0: unknown) and how super-frames are segmented, for the start log. */
  get segmentation(): { mtu: number; segments: 'kernel' | 'derived' } {
    return { mtu: this.handle.mtu, segments: this.handle.kernelSegmentation ? 'kernel' : 'derived' };
  }

  /** Opens the device. Throws CaptureDeviceError (missing device, permission, bad filter). */
  open(): void {
    const o = this.options;
    this.checkLinkType(this.handle.open({ ...o, promiscuous: o.shared === true }));
  }

  /** Like `open`, the kernel's part on a worker thread (see ChunkHandle.openAsync). */
  async openAsync(): Promise<void> {
    const o = this.options;
    this.checkLinkType(await this.handle.openAsync({ ...o, promiscuous: o.shared === true }));
  }

  private checkLinkType(linkType: number): void {
    this.linkType = linkType;
    if (!isSupportedLinkType(linkType)) {
      this.close();
      throw new CaptureDeviceError(
        this.device,
        `open capture device ${this.device}: unsupported link type ${linkType}`,
      );
    }
  }

  /** Directs frames to `recorder` as ENI `eni`'s (-1: a shared device). Safe between reads. */
  bind(recorder: ChunkConsumer, eni: number): void {
    this.recorder = recorder;
    this.eni = eni;
  }

  /** Starts reading when the descriptor is readable. */
  start(): void {
    this.handle.start(this.onReadable);
  }

  /** Reads every frame the kernel holds now; the daemon also calls it before a window closes. */
  readAvailable(): void {
    const handle = this.handle;
    for (;;) {
      const rec = this.recorder;
      const chunk = rec !== null ? rec.chunk : (scratch ??= Buffer.allocUnsafe(CHUNK_BYTES));
      const n = handle.dispatch(chunk, 0, chunk.length);
      if (n < 0) {
        if (this.failure === null) this.fail(`read error (device gone or down): ${handle.lastError}`);
        return;
      }
      if (n === 0) return;
      if (this.stamps !== null) countStamps(chunk, n, this.stamps);
      this.packets += rec !== null ? rec.record(this.eni, this.linkType, n, handle.mtu) : countRecords(chunk, n);
      // Room for another record left: libpcap had no more.
      if (n <= chunk.length - handle.recordMaxBytes) return;
    }
  }

  /**
   * Cumulative statistics as of the last `takeDrops` (not sampled here: libpcap's pcap_stats
   * reads /proc/net/dev, a line per device, so sampling every handle every second costs
   * O(devices^2)).
   */
  stats(): LiveCaptureStats {
    return this.handle.sampled;
  }

  /**
   * Packets dropped (kernel + interface) since the previous call (or open). With `ifRead`, a
   * handle that has read nothing since the previous call is not asked and 0 is returned: an idle
   * device; the caller still asks every handle at times (before a window closes).
   */
  takeDrops(ifRead = false): number {
    if (ifRead && this.packets === this.packetsAtDrops) return 0;
    this.packetsAtDrops = this.packets;
    return this.handle.takeDrops();
  }

  get isOpen(): boolean {
    return this.handle.isOpen;
  }

  /** Stops reading and frees the handle. */
  close(): void {
    this.handle.close();
  }

  /** Stops reading now; the handle is freed on a worker thread (see ChunkHandle.closeAsync). */
  closeAsync(): Promise<void> {
    return this.handle.closeAsync();
  }

  /**
   * From now on, counts the records read stamped at or before `atUs` (Unix microseconds) and
   * those after: how the device's counters, read at `atUs`, split between what this capture saw
   * and what it did not (a capture gap's edges). Costs a pass over the records' stamps while set.
   */
  watchStamps(atUs: number): StampWatch {
    this.stamps = { atSec: Math.floor(atUs / 1e6), atUsec: atUs % 1e6, atOrBefore: 0, after: 0 };
    return this.stamps;
  }

  /** Stops counting stamps; returns what was counted (null when nothing was watched). */
  endStampWatch(): StampWatch | null {
    const s = this.stamps;
    this.stamps = null;
    return s;
  }

  private fail(reason: string): void {
    const error = new CaptureDeviceError(this.device, `read capture device ${this.device}: ${reason}`);
    this.failure = error;
    this.onFailure?.(this, error);
  }
}

/** Records read, by stamp, against a time (see LiveCaptureSource.watchStamps). */
export interface StampWatch {
  readonly atSec: number;
  readonly atUsec: number;
  atOrBefore: number;
  after: number;
}

/** Counts the pcap records of chunk [0, end) stamped at or before, and after, `w`'s time. */
function countStamps(chunk: Buffer, end: number, w: StampWatch): void {
  // 0: seconds, 4: microseconds, 8: captured length (the layout ChunkHandle.dispatch writes)
  for (let pos = 0; end - pos >= 16; pos += 16 + chunk.readUInt32LE(pos + 8)) {
    const sec = chunk.readUInt32LE(pos);
    if (sec < w.atSec || (sec === w.atSec && chunk.readUInt32LE(pos + 4) <= w.atUsec)) w.atOrBefore++;
    else w.after++;
  }
}

function countRecords(chunk: Buffer, end: number): number {
  let n = 0;
  for (let pos = 0; end - pos >= 16; pos += 16 + chunk.readUInt32LE(pos + 8)) n++;
  return n;
}
